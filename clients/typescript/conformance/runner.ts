// Runs tests/conformance/scenarios.json against a server with the TypeScript
// helper and prints one PASS/FAIL line per scenario, then "N passed, N failed".
//
//   node dist/conformance/runner.js --target 127.0.0.1:50051 --scenarios ../../tests/conformance/scenarios.json
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import {
  AgentClient,
  RunError,
  STATUS_NAMES,
  type ClientTool,
  type HookAction,
  type Run,
  type RunOptions,
} from "../src/client.js";
import { tool, type ToolContext, type ToolOutput } from "../src/tool.js";
import {
  FinalResponseSchema,
  HookEventKind,
  RunErrorSchema,
  StreamPromptRequestSchema,
  StreamPromptResponseSchema,
  type HookEvent,
  type StreamPromptResponse,
} from "../src/gen/agentstream/v1/agent_pb.js";

type Json = any;

interface Outcome {
  events: Json[];
  kinds: string[];
  status: string;
  answerOrder: string[];
  hookEvents: string[];
  result?: Json;
}

const { values } = parseArgs({
  options: {
    target: { type: "string", default: "localhost:50051" },
    scenarios: { type: "string", default: "../../tests/conformance/scenarios.json" },
    only: { type: "string", default: "" },
  },
});

/** The proto field name of a oneof case (the scenarios use proto names, e.g. text_delta). */
function protoName(localName: string | undefined): string {
  return (localName ?? "").replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function hookKinds(names: string[] | undefined): HookEventKind[] {
  return (names ?? []).map((name) => {
    const value = (HookEventKind as unknown as Record<string, number>)[name.replace(/^HOOK_EVENT_KIND_/, "")];
    if (value === undefined) throw new Error(`unknown hook event kind ${name}`);
    return value as HookEventKind;
  });
}

/** A scenario's typed tool (`"typed": "forecast"`) in tool()'s form: run's arguments are typed from the schema. */
function typedTool(name: string, play: (args: Json, context: ToolContext) => Promise<ToolOutput>): ClientTool {
  if (name !== "forecast") throw new Error(`no typed tool ${JSON.stringify(name)} in this runner`);
  return tool({
    description: "Weather forecast of a city",
    parameters: {
      type: "object",
      properties: { city: { type: "string", description: "City name" }, days: { type: "integer", description: "Days ahead" } },
      required: ["city"],
      additionalProperties: false,
    },
    run: ({ city, days }, context) => {
      const typed: { city: string; days?: number } = { city, days }; // the types tool() inferred
      return play(typed, context);
    },
  });
}

async function runStep(client: AgentClient, step: Json, previous: Json): Promise<Json> {
  if (step.watch) return watchPrevious(client, step, previous);
  const request = fromJson(StreamPromptRequestSchema, step.request as JsonValue);
  if (step.continue_from_previous) {
    const holder = previous?.finalResponse ?? previous?.error;
    if (!holder) throw new Error("the previous step ended without a final response or error to continue from");
    request.history = fromJson(FinalResponseSchema, { history: holder.history ?? [] }).history;
  }
  const out: Outcome = { events: [], kinds: [], status: "OK", answerOrder: [], hookEvents: [] };
  const options: RunOptions = { timeoutMs: 30_000 };
  if (step.client_tools) {
    options.tools = {};
    for (const tool of step.client_tools) {
      const def = tool.definition;
      const play = async (args: Json, context: ToolContext): Promise<ToolOutput> => {
        for (const answer of tool.answers) {
          if (answer.when && match(answer.when, args, "") !== null) continue;
          await sleep(answer.delay_ms ?? 0);
          for (const report of answer.progress ?? []) context.progress(report.message, report.fraction);
          out.answerOrder.push(answer.label);
          if (answer.raise) throw new Error(answer.raise);
          // Not an Error: the unchecked way a JavaScript function can fail.
          if (answer.panic) throw answer.panic;
          return { content: answer.content ?? "", isError: !!answer.is_error };
        }
        throw new Error(`no scripted answer for ${JSON.stringify(args)}`);
      };
      if (tool.typed) {
        const typed = typedTool(tool.typed, play);
        const why = match(def, { name: tool.typed, ...typed }, "definition");
        if (why !== null) throw new Error(`the typed tool's definition: ${why}`);
        options.tools[def.name] = typed;
        continue;
      }
      const clientTool: ClientTool = { description: def.description, parameters: def.parameters, run: play };
      options.tools[def.name] = clientTool;
    }
  }
  if (step.hooks) {
    const actions: Json[] = step.hooks.on ?? [];
    options.hooks = {
      events: hookKinds(step.hooks.events),
      blocking: hookKinds(step.hooks.blocking),
      onEvent(event: HookEvent): HookAction {
        const kind = protoName(event.event.case);
        out.hookEvents.push(kind);
        const action = actions.find((a) => a.event === kind);
        if (action?.action === "cancel") return { cancel: action.reason ?? "" };
        if (action?.action === "skip") return { skip: action.reason ?? "" };
        return undefined;
      },
    };
  }
  const disconnect = new AbortController();
  options.signal = disconnect.signal;
  const run = client.run(request, options);
  if (step.cancel_before_start !== undefined) await run.cancel(step.cancel_before_start);
  let cancelled = false;
  try {
    for await (const event of run) {
      recordEvent(out, event);
      const kind = out.kinds[out.kinds.length - 1];
      if (step.disconnect_after === kind) {
        disconnect.abort();
        break;
      }
      if (step.cancel_after && kind === step.cancel_after.event && !cancelled) {
        cancelled = true;
        await run.cancel(step.cancel_after.reason ?? "");
      }
      if (step.break_after === kind) break;
    }
  } catch (err) {
    if (!(err instanceof RunError)) throw err;
    out.status = err.status;
  }
  const first = await result(run, out);
  const again = await result(run, { ...out });
  if (first !== again) throw new Error(`result() answered ${first}, then ${again}`);
  if (step.resume) out.status = await resume(client, run.runId, out);
  await check(client, step.expect ?? {}, out);
  return out.events[out.events.length - 1];
}

/** Watches the previous step's (ended) run after `watch.after_seq`: a replay. */
async function watchPrevious(client: AgentClient, step: Json, previous: Json): Promise<Json> {
  if (!previous?.runId) throw new Error("a watch step needs a previous step's run");
  const afterSeq = BigInt(step.watch.after_seq ?? 0);
  const out: Outcome = { events: [], kinds: [], status: "OK", answerOrder: [], hookEvents: [] };
  out.status = await watchInto(client, previous.runId, afterSeq, out);
  await check(client, step.expect ?? {}, out, afterSeq);
  return out.events[out.events.length - 1] ?? previous;
}

/** Watches the run from the last event recorded; records the rest and returns the status. */
async function resume(client: AgentClient, runId: string, out: Outcome): Promise<string> {
  const last = out.events[out.events.length - 1] as { seq?: string } | undefined;
  return watchInto(client, runId, BigInt(last?.seq ?? 0), out);
}

/** Records the run's events after `afterSeq` (the helper's watch); returns the status. */
async function watchInto(client: AgentClient, runId: string, afterSeq: bigint, out: Outcome): Promise<string> {
  try {
    for await (const event of client.watch(runId, afterSeq)) recordEvent(out, event);
  } catch (err) {
    if (!(err instanceof RunError)) throw err;
    return err.status;
  }
  return "OK";
}

/** Asks the run's result, records it, and returns its status name. */
async function result(run: Run, out: Outcome): Promise<string> {
  try {
    out.result = { finalResponse: toJson(FinalResponseSchema, await run.final()) };
    out.status = "OK";
  } catch (err) {
    if (!(err instanceof RunError)) throw err;
    out.status = STATUS_NAMES[err.code] ?? "UNKNOWN";
    out.result = { error: err.event ? toJson(RunErrorSchema, err.event) : {} };
  }
  return out.status;
}

function recordEvent(out: Outcome, event: StreamPromptResponse): void {
  out.kinds.push(protoName(event.event.case));
  out.events.push(toJson(StreamPromptResponseSchema, event));
}

async function check(client: AgentClient, ex: Json, out: Outcome, afterSeq = 0n): Promise<void> {
  if (ex.status && ex.status !== out.status) {
    throw new Error(`status ${out.status}, want ${ex.status} (events ${out.kinds.join(",")})`);
  }
  let nextSeq = afterSeq + 1n;
  out.events.forEach((ev, i) => {
    // An event covers firstSeq..seq (deltas the watch joined), else just seq.
    const seq = BigInt(ev.seq ?? 0);
    const first = BigInt(ev.firstSeq ?? 0) || seq;
    if (first !== nextSeq || seq < first) {
      throw new Error(`event ${i + 1} covers seqs ${first}..${seq}, want ${nextSeq} first`);
    }
    nextSeq = seq + 1n;
    if (ev.runId !== out.events[0].runId) throw new Error(`event ${i + 1} has run_id ${ev.runId}`);
  });
  if (ex.events) matchKinds(ex.events, out.kinds);
  let next = 0;
  for (const want of ex.contains ?? []) {
    let found = false;
    while (next < out.events.length) {
      if (match(want, out.events[next++], "") === null) {
        found = true;
        break;
      }
    }
    if (!found) throw new Error(`no event matching ${JSON.stringify(want)} (in order)`);
  }
  if (ex.result !== undefined) {
    const err = match(ex.result, out.result, "result");
    if (err !== null) throw new Error(err);
  }
  if (ex.last !== undefined) {
    if (out.events.length === 0) throw new Error("no events");
    const err = match(ex.last, out.events[out.events.length - 1], "last");
    if (err) throw new Error(err);
  }
  for (const kind of ex.absent ?? []) {
    if (out.kinds.includes(kind)) throw new Error(`unexpected ${kind} event`);
  }
  if (ex.answer_order && JSON.stringify(ex.answer_order) !== JSON.stringify(out.answerOrder)) {
    throw new Error(`client tools answered in order ${out.answerOrder}, want ${ex.answer_order}`);
  }
  if (ex.hook_events && JSON.stringify(ex.hook_events) !== JSON.stringify(out.hookEvents)) {
    throw new Error(`hook events ${out.hookEvents}, want ${ex.hook_events}`);
  }
  if (ex.server_healthy) {
    try {
      await client.service.listAgents({}, { timeoutMs: 5000 });
    } catch (err) {
      throw new Error(`server unhealthy after the step: ${err}`);
    }
  }
}

/** Event kinds against a pattern: each item a kind, optionally suffixed + (one or more), * or ?. */
function matchKinds(pattern: string[], kinds: string[]): void {
  const re = new RegExp(
    "^" +
      pattern
        .map((item) => {
          const m = /^(.*?)([+*?]?)$/.exec(item)!;
          return `(?:${m[1].replace(/[.*+?^${}()|[\]\\]/g, "\\$&")},)${m[2]}`;
        })
        .join("") +
      "$",
  );
  const joined = kinds.map((k) => `${k},`).join("");
  if (!re.test(joined)) throw new Error(`events ${kinds.join(",")} do not match ${pattern.join(",")}`);
}

/** Subset match; returns null when `actual` has everything `expected` has, else why not. */
function match(expected: Json, actual: Json, path: string): string | null {
  if (expected !== null && typeof expected === "object" && !Array.isArray(expected)) {
    const keys = Object.keys(expected);
    if (keys.length === 1 && keys[0] === "$contains") {
      return typeof actual === "string" && actual.includes(expected.$contains)
        ? null
        : `${path}: ${JSON.stringify(actual)} does not contain ${JSON.stringify(expected.$contains)}`;
    }
    const a = actual ?? {};
    if (typeof a !== "object" || Array.isArray(a)) return `${path}: want an object, got ${JSON.stringify(actual)}`;
    for (const k of keys) {
      const err = match(expected[k], a[k], `${path}.${k}`);
      if (err) return err;
    }
    return null;
  }
  if (Array.isArray(expected)) {
    const a = actual ?? [];
    if (!Array.isArray(a) || a.length !== expected.length) {
      return `${path}: want ${expected.length} items, got ${JSON.stringify(actual)}`;
    }
    for (let i = 0; i < expected.length; i++) {
      const err = match(expected[i], a[i], `${path}[${i}]`);
      if (err) return err;
    }
    return null;
  }
  if (actual === undefined || actual === null) {
    return [null, false, 0, "", "0"].includes(expected) ? null : `${path}: want ${JSON.stringify(expected)}, got nothing`;
  }
  if (typeof expected === "boolean" || typeof actual === "boolean") {
    return expected === actual ? null : `${path}: want ${expected}, got ${actual}`;
  }
  return String(expected) === String(actual) ? null : `${path}: want ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`;
}

async function main(): Promise<number> {
  const file = JSON.parse(readFileSync(values.scenarios!, "utf8"));
  const client = new AgentClient(values.target!);
  let passed = 0;
  let failed = 0;
  for (const scenario of file.scenarios) {
    if (values.only && scenario.name !== values.only) continue;
    const start = Date.now();
    try {
      let previous: Json = undefined;
      for (const [i, step] of scenario.steps.entries()) {
        try {
          previous = await runStep(client, step, previous);
        } catch (err) {
          throw new Error(`step ${i + 1}: ${err instanceof Error ? err.message : err}`);
        }
      }
      passed++;
      console.log(`PASS ${scenario.name} (${Date.now() - start}ms)`);
    } catch (err) {
      failed++;
      console.log(`FAIL ${scenario.name}: ${err instanceof Error ? err.message : err}`);
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  client.close();
  return failed > 0 ? 1 : 0;
}

process.exitCode = await main();
