// A small helper over the generated AgentService client: run a prompt, iterate
// over its events with `for await`, and serve client tools with async functions.
//
//   const client = new AgentClient("localhost:50051");
//   const weather = tool({
//     description: "Weather of a city",
//     parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
//     run: async ({ city }) => `${city}: cold`, // city: string, from the schema
//   });
//   const run = client.run({ prompt: "Weather in Oslo?" }, { tools: { weather } });
//   for await (const event of run) console.log(event.event.case);
//   const final = await run.final();
import { create, type JsonObject, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import {
  AgentService,
  HookCancelSchema,
  HookEventKind,
  HookProceedSchema,
  HookReplySchema,
  HookSkipSchema,
  HooksOptionsSchema,
  HooksRequestSchema,
  RunErrorSchema,
  StreamPromptRequestSchema,
  ToolDefinitionSchema,
  ErrorCode,
  type AgentInfo,
  type Message,
  type FinalResponse,
  type HookEvent,
  type HookReply,
  type HooksRequest,
  type RunError as RunErrorEvent,
  type StreamPromptRequest,
  type StreamPromptResponse,
} from "./gen/agentstream/v1/agent_pb.js";
import type { ClientTool, ToolContext } from "./tool.js";

// The tool types live in tool.ts; these names stay importable from here too.
export type { ClientTool, ToolContext, ToolOutput } from "./tool.js";
import { inToolSpan, traceHeaders } from "./tracing.js";

export type PromptRequestInit = MessageInitShape<typeof StreamPromptRequestSchema>;

/** What a hook handler answers to a blocking event; undefined means proceed. */
export type HookAction =
  | { proceed: true }
  | { cancel: string }
  | { skip: string }
  | undefined;

export interface HookHandler {
  /** Kinds to receive; empty means all. */
  events?: HookEventKind[];
  /** Kinds the loop waits on until onEvent answers. */
  blocking?: HookEventKind[];
  /** Omit it to open the hooks stream only so that cancel() reaches the server. */
  onEvent?(event: HookEvent): Promise<HookAction> | HookAction;
}

export interface RunOptions {
  /** Client tools by name; their calls are answered through the Hooks stream, concurrently. */
  tools?: Record<string, ClientTool>;
  hooks?: HookHandler;
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** How long cancel() waits for CancelRun. */
const CANCEL_RUN_TIMEOUT_MS = 10_000;

/**
 * How a run failed. It is a ConnectError, so `code` is the gRPC status code (`Code` is
 * re-exported), and it carries the run's RunError event when the server sent one.
 */
export class RunError extends ConnectError {
  constructor(
    code: Code,
    readonly status: string,
    message: string,
    readonly event?: RunErrorEvent,
  ) {
    // name stays "ConnectError": ConnectError's instanceof check looks at it.
    super(message, code);
  }

  // ConnectError's static instanceof check is inherited; RunError's is the prototype chain.
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === "object" && value !== null && Object.prototype.isPrototypeOf.call(RunError.prototype, value);
  }

  /** The RunError code the server sent; ERROR_CODE_UNSPECIFIED without one. */
  get errorCode(): ErrorCode {
    return this.event?.code ?? ErrorCode.UNSPECIFIED;
  }

  /** True when the same request may succeed later. */
  get retryable(): boolean {
    return this.event?.retryable ?? false;
  }

  /** The conversation so far; send it back with an empty prompt to continue. */
  get history(): Message[] {
    return this.event?.history ?? [];
  }
}

/** Canonical gRPC status names by code. */
export const STATUS_NAMES = [
  "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
  "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
  "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
];

/** How long a finished run waits for its hooks stream's last events (clients/README.md). */
export const HOOKS_DRAIN_MS = 500;

/** The largest message sent or accepted: a run's last event carries its whole history,
 * which the server allows up to its max_response_bytes (16 MiB by default). */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** TLS settings (PEM contents): `ca` to trust (default: Node's roots); `cert` and `key`
 * to present a client certificate to a server that requires mTLS. */
export interface TlsOptions {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  /** The name checked in the server's certificate, when not the target's host. */
  serverName?: string;
}

export interface ClientOptions {
  /** Connect over TLS (also implied by an https:// target). */
  tls?: TlsOptions;
  /** Sent as `authorization: Bearer <token>` on every call. A token the server refuses
   * fails calls with Code.Unauthenticated (a ConnectError, or RunError for runs). */
  token?: string;
}

export class AgentClient {
  /** The generated Connect client, for calls the helper does not wrap. */
  readonly service: Client<typeof AgentService>;
  private readonly sessions: Http2SessionManager;

  /** target is "host:port" (plaintext unless options.tls) or a base URL such as "https://host:443". */
  constructor(target: string, options: ClientOptions = {}) {
    const { tls, token } = options;
    const baseUrl = /^https?:\/\//.test(target) ? target : `${tls ? "https" : "http"}://${target}`;
    const secure = tls && { ca: tls.ca, cert: tls.cert, key: tls.key, servername: tls.serverName };
    this.sessions = new Http2SessionManager(baseUrl, undefined, secure);
    const transport = createGrpcTransport({
      baseUrl,
      sessionManager: this.sessions,
      interceptors: token ? [bearerToken(token)] : [],
      readMaxBytes: MAX_MESSAGE_BYTES,
      writeMaxBytes: MAX_MESSAGE_BYTES,
    });
    this.service = createClient(AgentService, transport);
  }

  async listAgents(): Promise<AgentInfo[]> {
    return (await this.service.listAgents({})).agents;
  }

  /**
   * A run's events with seq > afterSeq from the server's log, then live until its last event,
   * each exactly once: resume a run with the seq of the last event you saw. Throws RunError
   * when the run failed, as iterating a Run does. Consecutive deltas already logged arrive
   * joined (WatchRun's `coalesce`): such an event covers the seqs firstSeq..seq, so resume
   * after its seq.
   */
  async *watch(runId: string, afterSeq = 0n, signal?: AbortSignal): AsyncGenerator<StreamPromptResponse> {
    let runError: RunErrorEvent | undefined;
    try {
      for await (const event of this.service.watchRun({ runId, afterSeq, coalesce: true }, { signal })) {
        if (event.event.case === "error") runError = event.event.value;
        yield event;
      }
    } catch (err) {
      const e = ConnectError.from(err);
      throw new RunError(e.code, STATUS_NAMES[e.code] ?? "UNKNOWN", runError?.message ?? e.rawMessage, runError);
    }
  }

  /** Starts a run when iterated (or when final() is called). */
  run(request: PromptRequestInit, options: RunOptions = {}): Run {
    return new Run(this.service, create(StreamPromptRequestSchema, request), options);
  }

  close(): void {
    this.sessions.abort();
  }
}

function bearerToken(token: string): Interceptor {
  return (next) => (request) => {
    request.header.set("authorization", `Bearer ${token}`);
    return next(request);
  };
}

export class Run implements AsyncIterable<StreamPromptResponse> {
  /** The run's id: the request's, or one the helper chose for it. */
  readonly runId: string;
  /** The final response once the run succeeded. */
  result?: FinalResponse;
  /** How the helper's hooks stream failed, when it did (e.g. the server refused the attach). */
  hooksError?: ConnectError;
  private readonly abort = new AbortController();
  private readonly onCallerAbort = () => this.abort.abort();
  private started = false;
  private cancelledBeforeStart?: string;
  private failure?: RunError;
  private events?: AsyncGenerator<StreamPromptResponse>;
  private sendHooks?: (reply: MessageInitShape<typeof HookReplySchema>) => void;
  /** Set once the run is over: cancel() then does nothing, so it cannot cut off its last events. */
  private ended = false;
  private finished?: Promise<FinalResponse>;

  constructor(
    private readonly service: Client<typeof AgentService>,
    private readonly request: StreamPromptRequest,
    private readonly options: RunOptions,
  ) {
    if (!request.runId) request.runId = `ts-${crypto.randomUUID()}`;
    this.runId = request.runId;
    options.signal?.addEventListener("abort", this.onCallerAbort, { once: true });
  }

  /**
   * Cancels the run on the server (CancelRun, or the hooks stream while the run is not
   * registered yet): it ends with ERROR_CODE_CANCELLED, its history, and status CANCELLED.
   * Before the run started no call is made and it ends cancelled at once; after it ended
   * nothing happens. Aborting `signal` instead disconnects.
   */
  async cancel(reason = ""): Promise<void> {
    if (!this.started) {
      this.cancelledBeforeStart = reason;
      return;
    }
    if (this.ended) return;
    try {
      await this.service.cancelRun({ runId: this.runId, reason }, { timeoutMs: CANCEL_RUN_TIMEOUT_MS });
      return;
    } catch (err) {
      if (ConnectError.from(err).code !== Code.NotFound) throw err;
    }
    const cancel = { eventId: "", action: { case: "cancel" as const, value: create(HookCancelSchema, { reason }) } };
    if (this.sendHooks) {
      this.sendHooks(cancel);
      return;
    }
    // A hooks stream attached only to carry the cancel: attaching waits for the run.
    const outbox = new Queue<HooksRequest>();
    outbox.push(create(HooksRequestSchema, { request: { case: "attach", value: { runId: this.runId, events: [HookEventKind.COMPLETION_CALL] } } }));
    outbox.push(create(HooksRequestSchema, { request: { case: "reply", value: create(HookReplySchema, cancel) } }));
    void (async () => {
      for await (const message of this.service.hooks(outbox, { signal: this.abort.signal })) {
        if (message.response.case === "runEnded") break;
      }
    })().catch(() => undefined).finally(() => outbox.close());
  }

  /**
   * Drops the call, as aborting `signal` does: a run started with `detach` goes on
   * (AgentClient.watch resumes it); the server cancels any other run.
   */
  disconnect(): void {
    this.abort.abort();
  }

  /**
   * Reads the remaining events (serving client tools meanwhile) and resolves with the final
   * response; rejects with RunError when the run failed. Asked again, it answers the same.
   */
  final(): Promise<FinalResponse> {
    if (!this.finished) {
      this.finished = (async () => {
        const events = (this.events ??= this.stream());
        try {
          while (!(await events.next()).done) { /* drain */ }
        } catch (err) {
          if (!(err instanceof RunError)) throw err;
        }
        if (this.failure) throw this.failure;
        if (!this.result) throw new RunError(Code.Unknown, "UNKNOWN", "stream ended without a final response");
        return this.result;
      })();
    }
    return this.finished;
  }

  /**
   * The run's events. Leaving the loop early does not stop the run: iterating again, or
   * final(), goes on where it stopped. A failed run's iteration throws RunError after its
   * `error` event.
   */
  [Symbol.asyncIterator](): AsyncIterator<StreamPromptResponse> {
    const events = (this.events ??= this.stream());
    return {
      next: () => events.next(),
      return: async () => ({ done: true, value: undefined }),
    };
  }

  private async *stream(): AsyncGenerator<StreamPromptResponse> {
    this.started = true;
    if (this.cancelledBeforeStart !== undefined) {
      const message = this.cancelledBeforeStart || "cancelled before the run started";
      const event = create(RunErrorSchema, { code: ErrorCode.CANCELLED, message });
      this.finish();
      throw (this.failure = new RunError(Code.Canceled, "CANCELLED", message, event));
    }
    let request = this.request;
    const tools = this.options.tools ?? {};
    let hooks: Promise<void> | undefined;
    if (Object.keys(tools).length > 0 || this.options.hooks) {
      request = this.prepareHooks(tools);
      hooks = this.serveHooks(tools).catch((err) => {
        const e = ConnectError.from(err);
        if (e.code !== Code.Canceled) this.hooksError = e;
      });
    }
    let runError: RunErrorEvent | undefined;
    try {
      const stream = this.service.streamPrompt(request, {
        signal: this.abort.signal,
        timeoutMs: this.options.timeoutMs,
        headers: await traceHeaders(),
      });
      for await (const event of stream) {
        if (event.event.case === "finalResponse") this.result = event.event.value;
        if (event.event.case === "error") runError = event.event.value;
        if (event.event.case === "finalResponse" || event.event.case === "error") this.ended = true;
        yield event;
      }
    } catch (err) {
      const e = ConnectError.from(err);
      this.failure = new RunError(e.code, STATUS_NAMES[e.code] ?? "UNKNOWN", runError?.message ?? e.rawMessage, runError);
      throw this.failure;
    } finally {
      // The hooks stream's last events reach onEvent before iteration ends (bounded wait).
      if (hooks && !this.abort.signal.aborted) {
        await Promise.race([hooks, new Promise((resolve) => setTimeout(resolve, HOOKS_DRAIN_MS).unref())]);
      }
      this.finish();
      await hooks;
    }
  }

  private finish(): void {
    this.ended = true;
    this.options.signal?.removeEventListener("abort", this.onCallerAbort);
    this.abort.abort();
  }

  private prepareHooks(tools: Record<string, ClientTool>): StreamPromptRequest {
    const request = create(StreamPromptRequestSchema, this.request);
    for (const [name, tool] of Object.entries(tools)) {
      request.tools.push(
        create(ToolDefinitionSchema, {
          name,
          description: tool.description ?? "",
          parameters: tool.parameters,
        }),
      );
    }
    request.hooks = create(HooksOptionsSchema, {
      attachTimeoutMs: request.hooks?.attachTimeoutMs ?? 0,
      replyTimeoutMs: request.hooks?.replyTimeoutMs ?? 0,
      waitForClient: true,
    });
    return request;
  }

  /** Attaches to the run before it starts and answers its hook events until it ends. */
  private async serveHooks(tools: Record<string, ClientTool>): Promise<void> {
    const outbox = new Queue<HooksRequest>();
    const send = (reply: MessageInitShape<typeof HookReplySchema>) =>
      outbox.push(create(HooksRequestSchema, { request: { case: "reply", value: create(HookReplySchema, reply) } }));
    outbox.push(
      create(HooksRequestSchema, {
        request: {
          case: "attach",
          value: {
            runId: this.runId,
            events: subscribedKinds(this.options.hooks),
            blocking: this.options.hooks?.blocking ?? [],
          },
        },
      }),
    );
    const signal = this.abort.signal;
    this.sendHooks = send;
    try {
      for await (const message of this.service.hooks(outbox, { signal, headers: await traceHeaders() })) {
        if (message.response.case === "runEnded") {
          this.ended = true;
          break;
        }
        if (message.response.case !== "event") continue;
        const event = message.response.value;
        if (event.event.case === "toolCall" && event.event.value.execute) {
          const call = event.event.value;
          const progress = (message: string, fraction?: number) =>
            send({ eventId: event.eventId, action: { case: "toolProgress", value: { message, fraction } } });
          const context = { signal, callId: call.callId, progress };
          void inToolSpan(call.name, call.callId, event.traceContext, () =>
            runTool(tools[call.name], call.name, call.arguments, context),
          ).then((output) => send({ eventId: event.eventId, action: { case: "toolOutput", value: output } }));
          continue;
        }
        const onEvent = this.options.hooks?.onEvent;
        const action = onEvent ? await onEvent(event) : undefined;
        if (event.replyExpected) send({ eventId: event.eventId, action: replyAction(action) });
      }
    } finally {
      this.sendHooks = undefined;
      outbox.close();
    }
  }
}

/**
 * The kinds a hooks stream asks for: the kinds listed (blocking ones included), every kind for an
 * onEvent that listed none, and otherwise only tool calls, so that a stream opened for client tools
 * or cancel() is not sent every text delta too.
 */
function subscribedKinds(hooks: HookHandler | undefined): HookEventKind[] {
  const events = hooks?.events ?? [];
  const blocking = hooks?.blocking ?? [];
  if (events.length === 0 && hooks?.onEvent) return []; // empty means all
  const base = events.length > 0 ? events : [HookEventKind.TOOL_CALL];
  return [...new Set([...base, ...blocking])];
}

async function runTool(
  tool: ClientTool | undefined,
  name: string,
  args: string,
  context: ToolContext,
): Promise<{ content: string; isError: boolean }> {
  if (!tool) return { content: `no client tool named ${JSON.stringify(name)}`, isError: true };
  try {
    const output = await tool.run(args ? JSON.parse(args) : {}, context);
    return typeof output === "string" ? { content: output, isError: false } : { content: output.content, isError: !!output.isError };
  } catch (err) {
    return { content: err instanceof Error ? err.message : String(err), isError: true };
  }
}

function replyAction(action: HookAction): HookReply["action"] {
  if (action && "cancel" in action) return { case: "cancel", value: create(HookCancelSchema, { reason: action.cancel }) };
  if (action && "skip" in action) return { case: "skip", value: create(HookSkipSchema, { reason: action.skip }) };
  return { case: "proceed", value: create(HookProceedSchema) };
}

/** An async iterable fed by push(); close() ends it. */
class Queue<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private waiting?: () => void;
  private closed = false;

  push(item: T): void {
    if (this.closed) return;
    this.items.push(item);
    this.waiting?.();
  }

  close(): void {
    this.closed = true;
    this.waiting?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      const item = this.items.shift();
      if (item !== undefined) {
        yield item;
        continue;
      }
      if (this.closed) return;
      await new Promise<void>((resolve) => (this.waiting = resolve));
      this.waiting = undefined;
    }
  }
}

export { Code, ConnectError, ErrorCode, HookEventKind };
