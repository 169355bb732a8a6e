// Asks the default agent of a running server (`make run`) a question, serves a
// client tool ("weather") with an async function, and prints the run's events.
//
//   cd clients/typescript && npm run example -- --target localhost:50051
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { AgentClient, RunError, tool, type TlsOptions } from "../src/index.js";

const { values } = parseArgs({
  options: {
    target: { type: "string", default: "localhost:50051" },
    prompt: { type: "string", default: "What is the weather in Oslo, and what is 6 * 7?" },
    ca: { type: "string" }, // PEM file of the CA to trust: connect over TLS
    cert: { type: "string" }, // client certificate and key, for mTLS
    key: { type: "string" },
    token: { type: "string", default: process.env.AGENTSTREAM_TOKEN },
  },
});

// The weather tool: `city` is typed string, inferred from the schema.
const weather = tool({
  description: "Current weather of a city",
  parameters: {
    type: "object",
    properties: { city: { type: "string", description: "City name", examples: ["Oslo"] } },
    required: ["city"],
  },
  run: async ({ city }) => `${city}: 3°C and cloudy`,
});

const read = (path?: string) => (path ? readFileSync(path) : undefined);
const tls: TlsOptions | undefined =
  values.ca || values.cert ? { ca: read(values.ca), cert: read(values.cert), key: read(values.key) } : undefined;
const client = new AgentClient(values.target!, { tls, token: values.token });
try {
  const run = client.run(
    { prompt: values.prompt },
    {
      tools: { weather },
      timeoutMs: 30_000,
    },
  );
  for await (const event of run) {
    const e = event.event;
    if (e.case === "textDelta") process.stdout.write(e.value.text);
    if (e.case === "toolCall") console.log(`[turn ${event.turn}] calling ${e.value.name} ${e.value.arguments}`);
    if (e.case === "toolResult") console.log(`[turn ${event.turn}] ${e.value.name} returned ${JSON.stringify(e.value.content)}`);
  }
  const final = await run.final();
  console.log(`\n[done in ${final.turns} turn(s), ${final.usage?.totalTokens ?? 0n} tokens]`);
} catch (e) {
  if (!(e instanceof RunError)) throw e;
  console.error(`run failed: ${e.status}: ${e.message}`); // e.g. UNAUTHENTICATED: invalid token
  process.exitCode = 1;
} finally {
  client.close();
}
