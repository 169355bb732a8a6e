// OpenTelemetry in the helper, used only when the application has installed
// `@opentelemetry/api` (an optional peer dependency): the run's calls carry the
// current trace context, and each client tool runs in an "execute_tool {tool}"
// span that is the child of the server's execute_tool span.

import type * as OtelApi from "@opentelemetry/api";

let loaded: Promise<typeof OtelApi | undefined> | undefined;

function otel(): Promise<typeof OtelApi | undefined> {
  loaded ??= import("@opentelemetry/api").catch(() => undefined);
  return loaded;
}

/** `traceparent`/`tracestate` of the active span, for a call's headers. */
export async function traceHeaders(): Promise<Record<string, string>> {
  const api = await otel();
  const carrier: Record<string, string> = {};
  api?.propagation.inject(api.context.active(), carrier);
  return carrier;
}

/** Runs a client tool in its span, under the server span of its hooks event. */
export async function inToolSpan<T extends { isError: boolean }>(
  tool: string,
  callId: string,
  traceContext: Record<string, string>,
  run: () => Promise<T>,
): Promise<T> {
  const api = await otel();
  if (!api) return run();
  const parent = api.propagation.extract(api.context.active(), traceContext);
  const span = api.trace.getTracer("agentstream.client").startSpan(
    `execute_tool ${tool}`,
    {
      kind: api.SpanKind.INTERNAL,
      attributes: {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": tool,
        "gen_ai.tool.call.id": callId,
        "gen_ai.tool.type": "function",
        "agentstream.tool.side": "client",
      },
    },
    parent,
  );
  try {
    const result = await api.context.with(api.trace.setSpan(parent, span), run);
    if (result.isError) {
      span.setAttribute("error.type", "tool_error");
      span.setStatus({ code: api.SpanStatusCode.ERROR, message: "tool_error" });
    }
    return result;
  } finally {
    span.end();
  }
}
