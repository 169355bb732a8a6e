package io.github.agentstream.client;

import io.opentelemetry.api.GlobalOpenTelemetry;
import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;
import io.opentelemetry.context.propagation.TextMapGetter;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * OpenTelemetry for the helper (needs {@code io.opentelemetry:opentelemetry-api}, an optional
 * dependency of this artifact): each call carries the W3C trace context of the current span, and
 * each client tool runs in an {@code execute_tool {tool}} span, child of the server's.
 *
 * <pre>{@code
 * AgentClient client = AgentClient.connect(target,
 *     ClientOptions.builder().tracer(OpenTelemetryTracer.global()).build());
 * // Read runs inside your span: try (Scope s = span.makeCurrent()) { run.result(); }
 * }</pre>
 */
public final class OpenTelemetryTracer implements Tracer {
  private static final String INSTRUMENTATION_NAME = "agentstream.client";
  // W3C form written directly, so no global propagator needs to be configured.
  private static final W3CTraceContextPropagator W3C = W3CTraceContextPropagator.getInstance();

  private final io.opentelemetry.api.trace.Tracer tracer;

  private OpenTelemetryTracer(OpenTelemetry openTelemetry) {
    this.tracer = openTelemetry.getTracer(INSTRUMENTATION_NAME);
  }

  /** Traces with the global OpenTelemetry (as the Java agent or the SDK's setup registers it). */
  public static OpenTelemetryTracer global() {
    return new OpenTelemetryTracer(GlobalOpenTelemetry.get());
  }

  /** Traces with this OpenTelemetry instance. */
  public static OpenTelemetryTracer of(OpenTelemetry openTelemetry) {
    return new OpenTelemetryTracer(openTelemetry);
  }

  @Override
  public Map<String, String> outgoing() {
    Map<String, String> headers = new HashMap<>();
    W3C.inject(Context.current(), headers, Map::put);
    return headers;
  }

  @Override
  public String inTool(
      String tool, String callId, Map<String, String> traceContext, Callable<String> call)
      throws Exception {
    Context parent = W3C.extract(Context.current(), traceContext, MapGetter.INSTANCE);
    Span span =
        tracer
            .spanBuilder("execute_tool " + tool)
            .setParent(parent)
            .setSpanKind(SpanKind.INTERNAL)
            .setAttribute("gen_ai.operation.name", "execute_tool")
            .setAttribute("gen_ai.tool.name", tool)
            .setAttribute("gen_ai.tool.call.id", callId)
            .setAttribute("gen_ai.tool.type", "function")
            .setAttribute("agentstream.tool.side", "client")
            .startSpan();
    try (Scope ignored = span.makeCurrent()) {
      return call.call();
    } catch (Exception | Error e) {
      span.setAttribute(AttributeKey.stringKey("error.type"), "tool_error");
      span.setStatus(StatusCode.ERROR, "tool_error");
      throw e;
    } finally {
      span.end();
    }
  }

  private enum MapGetter implements TextMapGetter<Map<String, String>> {
    INSTANCE;

    @Override
    public Iterable<String> keys(Map<String, String> carrier) {
      return carrier.keySet();
    }

    @Override
    public String get(Map<String, String> carrier, String key) {
      return carrier == null ? null : carrier.get(key);
    }
  }
}
