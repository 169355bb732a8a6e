package io.github.agentstream.examples;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import com.google.protobuf.util.JsonFormat;
import io.github.agentstream.client.AgentClient;
import io.github.agentstream.client.ClientOptions;
import io.github.agentstream.client.OpenTelemetryTracer;
import io.github.agentstream.client.RunOptions;
import io.github.agentstream.v1.FinalResponse;
import io.github.agentstream.v1.StreamPromptRequest;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.context.Scope;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The Java side of the telemetry tests (tests/test_telemetry_e2e.py): under a span of its own it
 * runs a prompt whose model calls a client tool served here, with the helper's OpenTelemetry
 * tracer, then prints every span it recorded as one JSON line each, and "final: <text>".
 *
 * <p>{@code TelemetryClient --target HOST:PORT --agent NAME --script JSON}
 */
public final class TelemetryClient {
  private TelemetryClient() {}

  /** Keeps the finished spans, to print them at the end. */
  private static final class Recorder implements SpanExporter {
    final List<SpanData> spans = new CopyOnWriteArrayList<>();

    @Override
    public CompletableResultCode export(Collection<SpanData> batch) {
      spans.addAll(batch);
      return CompletableResultCode.ofSuccess();
    }

    @Override
    public CompletableResultCode flush() {
      return CompletableResultCode.ofSuccess();
    }

    @Override
    public CompletableResultCode shutdown() {
      return CompletableResultCode.ofSuccess();
    }
  }

  public static void main(String[] args) throws Exception {
    String target = args[1];
    String agent = args[3];
    String script = args[5];
    Recorder recorder = new Recorder();
    OpenTelemetrySdk otel =
        OpenTelemetrySdk.builder()
            .setTracerProvider(
                SdkTracerProvider.builder()
                    .addSpanProcessor(SimpleSpanProcessor.create(recorder))
                    .build())
            .build();

    Struct.Builder extra = Struct.newBuilder();
    JsonFormat.parser().merge("{\"script\": " + script + "}", extra);
    StreamPromptRequest request =
        StreamPromptRequest.newBuilder()
            .setAgent(agent)
            .setPrompt("Where is order A-7?")
            .setExtraParams(extra)
            .build();
    RunOptions options =
        RunOptions.builder()
            .tool("lookup_order", "Where an order is", "{\"type\": \"object\"}",
                arguments -> "order A-7 is in the Lyon depot")
            .build();
    ClientOptions connection =
        ClientOptions.builder().tracer(OpenTelemetryTracer.of(otel)).build();
    FinalResponse done;
    Span root = otel.getTracer("backend").spanBuilder("handle order question").startSpan();
    try (AgentClient client = AgentClient.connect(target, connection);
        Scope ignored = root.makeCurrent()) {
      done = client.run(request, options).result();
    } finally {
      root.end();
    }
    for (SpanData span : recorder.spans) {
      Struct.Builder attributes = Struct.newBuilder();
      span.getAttributes()
          .forEach((key, value) -> attributes.putFields(key.getKey(), json(value)));
      Struct.Builder line =
          Struct.newBuilder()
              .putFields("name", string(span.getName()))
              .putFields("trace_id", string(span.getTraceId()))
              .putFields("span_id", string(span.getSpanId()))
              .putFields(
                  "parent_id",
                  span.getParentSpanContext().isValid()
                      ? string(span.getParentSpanId())
                      : Value.newBuilder().setNullValueValue(0).build())
              .putFields("attributes", Value.newBuilder().setStructValue(attributes).build());
      System.out.println(JsonFormat.printer().omittingInsignificantWhitespace().print(line));
    }
    System.out.println("final: " + done.getText());
  }

  private static Value string(String s) {
    return Value.newBuilder().setStringValue(s).build();
  }

  private static Value json(Object value) {
    if (value instanceof Boolean b) {
      return Value.newBuilder().setBoolValue(b).build();
    }
    if (value instanceof Number n) {
      return Value.newBuilder().setNumberValue(n.doubleValue()).build();
    }
    return string(String.valueOf(value));
  }
}
