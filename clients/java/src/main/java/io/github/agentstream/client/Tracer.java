package io.github.agentstream.client;

import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Supplier;

/**
 * How the helper joins the caller's distributed trace without depending on a tracing library:
 * the W3C trace context ({@code traceparent}, {@code tracestate}) travels as call metadata, and
 * the server's {@code execute_tool} span reaches client tools in their hooks event. {@link
 * OpenTelemetryTracer} implements it with OpenTelemetry.
 */
public interface Tracer {
  /**
   * The W3C trace context of the caller's current span ({@code traceparent}, and {@code
   * tracestate} when there is one), sent as metadata with each call so that the server's run
   * becomes its child. It is asked on the thread that starts the call. Empty: no trace.
   */
  Map<String, String> outgoing();

  /**
   * Runs one client tool call, whose hooks event carried the W3C context of the server's {@code
   * execute_tool} span (empty when the server does not trace): a tracer may run it in a span of
   * its own, child of that one. The default runs it as it is.
   */
  default String inTool(
      String tool, String callId, Map<String, String> traceContext, Callable<String> call)
      throws Exception {
    return call.call();
  }

  /**
   * A tracer that sends the {@code traceparent} its supplier returns at each call (from whatever
   * tracing library the application uses; null: no trace).
   */
  static Tracer traceparent(Supplier<String> traceparent) {
    return () -> {
      String value = traceparent.get();
      return value == null ? Map.of() : Map.of("traceparent", value);
    };
  }
}
