// The TypeScript side of the telemetry tests: under a span of its own it runs a
// prompt whose model calls a client tool served here, then prints every span it
// recorded as one JSON line each, and "final: <text>".
//
//   node dist/conformance/telemetry_client.js --target HOST:PORT --agent NAME --script JSON

import { parseArgs } from "node:util";
import { context, propagation, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { AgentClient } from "../src/client.js";

const { values } = parseArgs({
  options: { target: { type: "string" }, agent: { type: "string" }, script: { type: "string" } },
});
const exporter = new InMemorySpanExporter();
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
propagation.setGlobalPropagator(new W3CTraceContextPropagator());

const client = new AgentClient(values.target ?? "localhost:50051");
const final = await trace.getTracer("backend").startActiveSpan("handle order question", async (root) => {
  try {
    const run = client.run(
      { agent: values.agent, prompt: "Where is order A-7?", extraParams: { script: JSON.parse(values.script ?? "[]") } },
      { tools: { lookup_order: { description: "Where an order is", run: () => "order A-7 is in the Lyon depot" } } },
    );
    return await run.final();
  } finally {
    root.end();
  }
});
for (const span of exporter.getFinishedSpans()) {
  const context = span.spanContext();
  console.log(
    JSON.stringify({
      name: span.name,
      trace_id: context.traceId,
      span_id: context.spanId,
      parent_id: span.parentSpanContext?.spanId ?? null,
      attributes: span.attributes,
    }),
  );
}
console.log(`final: ${final.text}`);
client.close();
