"""An async helper over the generated stubs: start a run, stream its events, serve its
client tools with plain async functions, react to hook events, cancel it.

    async with AgentClient("localhost:50051") as client:
        run = client.run("Where is order 7?", tools=[lookup_order])
        async for event in run:
            ...
        final = await run.result()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc

from ._codes import ErrorCode
from ._tracing import mark_error, outgoing_metadata, tool_span
from .tools import ClientTool, Progress, ToolFunction, tool
from .v1 import agent_pb2 as pb
from .v1 import agent_pb2_grpc as pb_grpc

# gRPC's default receive limit is 4 MiB; a run's last event carries its whole history,
# which the server allows up to its max_response_bytes (16 MiB by default).
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
CHANNEL_OPTIONS = (
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
)


@dataclass(frozen=True)
class Proceed:
    pass


@dataclass(frozen=True)
class Cancel:
    reason: str = ""


@dataclass(frozen=True)
class Skip:
    """Answer a tool call without running it; the model reads `reason` as the result."""

    reason: str = ""


@dataclass(frozen=True)
class ToolOutput:
    content: str
    is_error: bool = False


HookAction = Proceed | Cancel | Skip | ToolOutput
_ACTIONS = (Proceed, Cancel, Skip, ToolOutput)
_PROCEED = Proceed()
# Called for each hook event; return None to proceed. May be sync or async.
EventCallback = Callable[[pb.HookEvent], HookAction | Awaitable[HookAction | None] | None]


# How long a finished run waits for its hooks stream's last events (clients/README.md).
HOOKS_DRAIN_S = 0.5


class RunFailed(Exception):
    """The run ended without a final response: `code` is the gRPC status, `error` the
    run's RunError event (None when the call broke before the server sent one)."""

    def __init__(self, code: grpc.StatusCode, details: str, error: pb.RunError | None) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details
        self.error = error

    @property
    def error_code(self) -> ErrorCode:
        """The RunError code the server sent; ErrorCode.UNSPECIFIED without one."""
        return ErrorCode(self.error.code if self.error is not None else 0)

    @property
    def error_code_name(self) -> str:
        """The error code's proto name, e.g. "ERROR_CODE_MAX_TURNS_EXCEEDED"."""
        return self.error_code.proto_name

    @property
    def retryable(self) -> bool:
        return self.error is not None and self.error.retryable

    @property
    def history(self) -> list[pb.Message]:
        return list(self.error.history) if self.error is not None else []


@dataclass(frozen=True)
class Tls:
    """TLS settings (PEM bytes): `ca` to trust (None: the system's roots), and `cert` with
    `key` to present a client certificate (mTLS)."""

    ca: bytes | None = None
    cert: bytes | None = None
    key: bytes | None = None

    @classmethod
    def from_files(
        cls, ca: str | None = None, cert: str | None = None, key: str | None = None
    ) -> Tls:
        def read(path: str | None) -> bytes | None:
            if path is None:
                return None
            with open(path, "rb") as file:
                return file.read()

        return cls(read(ca), read(cert), read(key))

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(self.ca, self.key, self.cert)


class AgentClient:
    """`tls`: a `Tls` (or True for the system's roots) to connect over TLS; `token`: sent
    as `authorization: Bearer <token>` on every call. A token the server refuses makes
    calls fail with StatusCode.UNAUTHENTICATED (RunFailed.code for runs)."""

    def __init__(
        self,
        target: str,
        *,
        tls: Tls | bool | None = None,
        token: str | None = None,
        channel: grpc.aio.Channel | None = None,
    ) -> None:
        self._channel = channel or _channel(target, tls, token)
        self._owns_channel = channel is None
        self.stub: pb_grpc.AgentServiceAsyncStub = pb_grpc.AgentServiceStub(self._channel)

    async def __aenter__(self) -> AgentClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_channel:
            await self._channel.close(None)

    async def list_agents(self) -> list[pb.AgentInfo]:
        return list((await self.stub.ListAgents(pb.ListAgentsRequest())).agents)

    async def watch(
        self, run_id: str, after_seq: int = 0
    ) -> AsyncIterator[pb.StreamPromptResponse]:
        """The run's events after `after_seq` (replayed, then live), each exactly once;
        raises RunFailed when the run failed, as iterating a run does. Consecutive deltas
        already logged arrive joined (WatchRun's `coalesce`): such a message covers the
        seqs `first_seq`..`seq`, so resume after its `seq`."""
        call: Any = self.stub.WatchRun(
            pb.WatchRunRequest(run_id=run_id, after_seq=after_seq, coalesce=True),
            metadata=outgoing_metadata(),
        )
        error: pb.RunError | None = None
        try:
            async for event in call:
                if event.WhichOneof("event") == "error":
                    error = event.error
                yield event
        except grpc.aio.AioRpcError as e:
            raise RunFailed(e.code(), e.details() or "", error) from None

    async def get_run(self, run_id: str) -> pb.RunInfo:
        call: Any = self.stub.GetRun(pb.GetRunRequest(run_id=run_id), metadata=outgoing_metadata())
        response: pb.GetRunResponse = await call
        return response.run

    def run(
        self,
        prompt: str = "",
        *,
        agent: str = "",
        history: Iterable[pb.Message] = (),
        tools: Iterable[ClientTool] | Mapping[str, ToolFunction] = (),
        on_event: EventCallback | None = None,
        events: Iterable[pb.HookEventKind.ValueType] = (),
        blocking: Iterable[pb.HookEventKind.ValueType] = (),
        hooks: bool | None = None,
        hooks_options: pb.HooksOptions | None = None,
        run_id: str = "",
        max_turns: int | None = None,
        extra_params: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        **overrides: Any,
    ) -> Run:
        """Starts a run. A Hooks stream is opened when it has client tools, an `on_event`
        callback or blocking kinds, or `hooks=True` (so `cancel()` reaches the server).
        `hooks_options` is the request's HooksOptions, e.g. to make the run wait for a hooks
        client in another process (`wait_for_client`). `overrides` sets the request's other
        fields (`model`, `preamble`, `temperature`, `max_tokens`, `tool_choice`, `detach`,
        `delivery`); any other name raises TypeError at once. `tools` are ClientTools, or
        functions by name (`{"weather": weather}`), made tools as `@tool` makes them."""
        _check_overrides(overrides)
        client_tools = _client_tools(tools)
        request = pb.StreamPromptRequest(
            agent=agent,
            prompt=prompt,
            history=list(history),
            run_id=run_id or uuid.uuid4().hex,
            tools=[t.definition() for t in client_tools.values()],
            **overrides,
        )
        if max_turns is not None:
            request.max_turns = max_turns
        if extra_params:
            request.extra_params.update(dict(extra_params))
        if hooks_options is not None:
            request.hooks.CopyFrom(hooks_options)
        use_hooks = hooks if hooks is not None else bool(client_tools or on_event or blocking)
        if use_hooks:
            request.hooks.wait_for_client = True
        return Run(
            self.stub,
            request,
            client_tools,
            on_event,
            list(events),
            list(blocking),
            use_hooks,
            timeout,
        )


def subscribed_kinds(
    events: list[pb.HookEventKind.ValueType],
    blocking: list[pb.HookEventKind.ValueType],
    has_callback: bool,
) -> list[pb.HookEventKind.ValueType]:
    """The kinds a Hooks stream asks for: what the caller listed (blocking kinds included),
    every kind for a callback that listed none, and otherwise only tool calls, so that a
    stream opened for client tools or cancel() is not sent every text delta too."""
    if events:
        return list(dict.fromkeys([*events, *blocking]))
    if has_callback:
        return []  # empty means all
    return list(dict.fromkeys([pb.HOOK_EVENT_KIND_TOOL_CALL, *blocking]))


class Run:
    """One run: iterate it for its StreamPromptResponse events, or await `result()`."""

    def __init__(
        self,
        stub: pb_grpc.AgentServiceAsyncStub,
        request: pb.StreamPromptRequest,
        tools: dict[str, ClientTool],
        on_event: EventCallback | None,
        events: list[pb.HookEventKind.ValueType],
        blocking: list[pb.HookEventKind.ValueType],
        use_hooks: bool,
        timeout: float | None,
    ) -> None:
        self.run_id = request.run_id
        self._stub = stub
        self._request = request
        self._tools = tools
        self._on_event = on_event
        self._events = events
        self._blocking = blocking
        self._use_hooks = use_hooks
        self._timeout = timeout
        self._hooks_call: Any = None
        # gRPC allows one write at a time on a stream; tool tasks reply concurrently.
        self._write_lock = asyncio.Lock()
        self._cancelled_locally = False
        self._ended = False  # the hooks stream said run_ended
        self._hooks_task: asyncio.Task[None] | None = None
        self._tool_tasks: set[asyncio.Task[None]] = set()
        self._call: Any = None
        self._final: pb.FinalResponse | None = None
        self._error: pb.RunError | None = None
        self._failure: RunFailed | None = None
        self._event_iter: AsyncIterator[pb.StreamPromptResponse] | None = None
        self._started = False
        self._cancelled_before_start: str | None = None
        self._finished = False
        self._cancel_hooks: Any = None  # a hooks stream opened only to carry a cancel
        self.hooks_error: BaseException | None = None

    def __aiter__(self) -> AsyncIterator[pb.StreamPromptResponse]:
        """The run's events; the same iterator each time, so leaving the loop early and
        iterating again (or asking the result) goes on where it stopped. A failed run's
        iteration raises RunFailed after its `error` event."""
        if self._event_iter is None:
            self._event_iter = self._stream()
        return self._event_iter

    async def __aenter__(self) -> Run:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Disconnects a run that is still going (the server abandons it); else nothing."""
        if not self._finished and self._call is not None:
            self.disconnect()
            with contextlib.suppress(RunFailed):
                await self.result()

    async def result(self) -> pb.FinalResponse:
        """Reads the remaining events (serving client tools meanwhile) and returns the final
        response; raises RunFailed when the run failed. Asked again, it answers the same."""
        if not self._finished:
            with contextlib.suppress(RunFailed):
                async for _ in self:
                    pass
        if self._failure is not None:
            raise self._failure
        assert self._final is not None
        return self._final

    async def cancel(self, reason: str = "") -> None:
        """Cancels the run on the server with CancelRun, from whichever replica answers: it
        ends with ERROR_CODE_CANCELLED, status CANCELLED and its history. While the server
        does not know the run yet, the cancel goes through a hooks stream, whose attach waits
        for the run. Before the run started no call is made and it ends cancelled at once;
        after it ended nothing happens."""
        if not self._started:
            self._cancelled_before_start = reason
            return
        if self._ended or self._finished or self._final is not None or self._error is not None:
            return  # the run is over; its last events may still be on their way
        try:
            cancel: Any = self._stub.CancelRun(  # the stubs' types predate grpc.aio
                pb.CancelRunRequest(run_id=self.run_id, reason=reason),
                metadata=outgoing_metadata(),
            )
            await cancel
            return
        except grpc.aio.AioRpcError as e:
            if e.code() != grpc.StatusCode.NOT_FOUND:
                raise
        if self._hooks_call is not None and not self._hooks_call.done():
            await self._reply("", cancel=pb.HookCancel(reason=reason))
        elif self._cancel_hooks is None:
            self._cancel_hooks = self._stub.Hooks(metadata=outgoing_metadata())  # type: ignore[call-arg]
            attach = pb.HookAttach(run_id=self.run_id, events=[pb.HOOK_EVENT_KIND_COMPLETION_CALL])
            await self._cancel_hooks.write(pb.HooksRequest(attach=attach))
            cancel_reply = pb.HookReply(cancel=pb.HookCancel(reason=reason))
            await self._cancel_hooks.write(pb.HooksRequest(reply=cancel_reply))

    def disconnect(self) -> None:
        """Drops the call. A run started with `detach=True` goes on (`AgentClient.watch`
        resumes it); any other run is cancelled by the server."""
        if self._call is not None and not self._call.done():
            self._cancelled_locally = True
            self._call.cancel()

    async def _stream(self) -> AsyncIterator[pb.StreamPromptResponse]:
        self._started = True
        if self._cancelled_before_start is not None:
            reason = self._cancelled_before_start or "cancelled before the run started"
            error = pb.RunError(code=pb.ERROR_CODE_CANCELLED, message=reason)
            self._finished = True
            self._failure = RunFailed(grpc.StatusCode.CANCELLED, reason, error)
            raise self._failure
        if self._use_hooks:
            await self._open_hooks()
        self._call = self._stub.StreamPrompt(
            self._request, timeout=self._timeout, metadata=outgoing_metadata()
        )
        try:
            async for event in self._call:
                kind = event.WhichOneof("event")
                if kind == "final_response":
                    self._final = event.final_response
                elif kind == "error":
                    self._error = event.error
                yield event
            code, details = await self._call.code(), await self._call.details()
        except grpc.aio.AioRpcError as e:
            code, details = e.code(), e.details() or ""
        except asyncio.CancelledError:
            if not self._cancelled_locally:
                raise
            code, details = grpc.StatusCode.CANCELLED, "cancelled by the client"
        finally:
            await self._close_hooks()
            self._finished = True
        if code != grpc.StatusCode.OK or self._final is None:
            self._failure = RunFailed(code, details or "", self._error)
            raise self._failure

    # --- hooks ---------------------------------------------------------------------------

    async def _open_hooks(self) -> None:
        self._hooks_call = self._stub.Hooks(metadata=outgoing_metadata())  # type: ignore[call-arg]
        events = subscribed_kinds(self._events, self._blocking, self._on_event is not None)
        attach = pb.HookAttach(run_id=self.run_id, events=events, blocking=self._blocking)
        await self._hooks_call.write(pb.HooksRequest(attach=attach))
        self._hooks_task = asyncio.create_task(self._serve_hooks())

    async def _serve_hooks(self) -> None:
        try:
            async for response in self._hooks_call:
                kind = response.WhichOneof("response")
                if kind == "event":
                    await self._on_hook_event(response.event)
                elif kind == "run_ended":
                    self._ended = True
        except grpc.aio.AioRpcError as e:
            if e.code() != grpc.StatusCode.CANCELLED:
                self.hooks_error = e

    async def _on_hook_event(self, event: pb.HookEvent) -> None:
        if event.WhichOneof("event") == "tool_call" and event.tool_call.execute:
            task = asyncio.create_task(self._execute(event))
            self._tool_tasks.add(task)  # answered concurrently, in whatever order they finish
            task.add_done_callback(self._tool_tasks.discard)
            return
        action: HookAction | None = None
        if self._on_event is not None:
            answer = self._on_event(event)
            # Checked against the actions first: inspect.isawaitable is the slower test,
            # and this runs once per event.
            if answer is None or isinstance(answer, _ACTIONS):
                action = answer
            else:
                action = await answer
        if event.reply_expected:
            await self._send_action(event.event_id, action or _PROCEED)

    async def _execute(self, event: pb.HookEvent) -> None:
        call = event.tool_call
        tool_ = self._tools.get(call.name)
        if tool_ is None:
            await self._send_action(
                event.event_id, ToolOutput(f"no client tool {call.name!r}", True)
            )
            return
        with tool_span(call.name, call.call_id, event.trace_context) as span:
            try:
                arguments = json.loads(call.arguments) if call.arguments.strip() else {}
                value = await tool_.invoke(arguments, self._progress(event.event_id))
                output = ToolOutput(value if isinstance(value, str) else json.dumps(value))
            except Exception as e:  # the model reads a failing tool as an error result
                mark_error(span, type(e).__qualname__)
                output = ToolOutput(str(e) or type(e).__name__, True)
            await self._send_action(event.event_id, output)

    def _progress(self, event_id: str) -> Progress:
        async def progress(message: str, fraction: float | None = None) -> None:
            """Tells the caller how far the tool has got; the server rate-limits reports."""
            report = pb.HookProgress(message=message)
            if fraction is not None:
                report.fraction = fraction
            await self._reply(event_id, tool_progress=report)

        return progress

    async def _send_action(self, event_id: str, action: HookAction) -> None:
        # The reply is filled in place: one message built per event, none copied.
        request = pb.HooksRequest()
        reply = request.reply
        reply.event_id = event_id
        if isinstance(action, Proceed):
            reply.proceed.SetInParent()
        elif isinstance(action, Cancel):
            reply.cancel.SetInParent()
            reply.cancel.reason = action.reason
        elif isinstance(action, Skip):
            reply.skip.SetInParent()
            reply.skip.reason = action.reason
        else:
            reply.tool_output.SetInParent()
            reply.tool_output.content = action.content
            reply.tool_output.is_error = action.is_error
        await self._write_reply(request)

    async def _reply(self, event_id: str, **action: Any) -> None:
        await self._write_reply(pb.HooksRequest(reply=pb.HookReply(event_id=event_id, **action)))

    async def _write_reply(self, request: pb.HooksRequest) -> None:
        # gRPC allows one write at a time on a stream; tool tasks reply concurrently. A write
        # fails only once the run has ended, and its outcome arrives on StreamPrompt.
        async with self._write_lock:
            try:  # noqa: SIM105 (contextlib.suppress costs an object per reply)
                await self._hooks_call.write(request)
            except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
                pass

    async def _close_hooks(self) -> None:
        if self._cancel_hooks is not None:
            self._cancel_hooks.cancel()
        if self._hooks_task is None:
            return
        try:
            # The server ends the hooks stream right after the run; wait briefly for it.
            await asyncio.wait_for(asyncio.shield(self._hooks_task), HOOKS_DRAIN_S)
        except TimeoutError:
            self._hooks_call.cancel()
        for task in list(self._tool_tasks):
            task.cancel()


def _channel(target: str, tls: Tls | bool | None, token: str | None) -> grpc.aio.Channel:
    interceptors: Any = _bearer_token(token) if token else None
    if not tls:
        return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS, interceptors=interceptors)
    settings = tls if isinstance(tls, Tls) else Tls()
    return grpc.aio.secure_channel(
        target, settings.credentials(), options=CHANNEL_OPTIONS, interceptors=interceptors
    )


def _bearer_token(token: str) -> list[Any]:
    """Interceptors adding `authorization: Bearer <token>` to every call, over TLS or
    plaintext alike (gRPC's call credentials refuse plaintext, which local development
    needs). One per call shape: a channel files each interceptor under one shape only."""

    def with_token(details: Any) -> Any:
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        metadata.add("authorization", f"Bearer {token}")
        return details._replace(metadata=metadata)

    class UnaryUnary(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[type-arg]
        async def intercept_unary_unary(self, proceed: Any, details: Any, request: Any) -> Any:
            return await proceed(with_token(details), request)

    class UnaryStream(grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[type-arg]
        async def intercept_unary_stream(self, proceed: Any, details: Any, request: Any) -> Any:
            return await proceed(with_token(details), request)

    class StreamUnary(grpc.aio.StreamUnaryClientInterceptor):  # type: ignore[type-arg]
        async def intercept_stream_unary(self, proceed: Any, details: Any, requests: Any) -> Any:
            return await proceed(with_token(details), requests)

    class StreamStream(grpc.aio.StreamStreamClientInterceptor):  # type: ignore[type-arg]
        async def intercept_stream_stream(self, proceed: Any, details: Any, requests: Any) -> Any:
            return await proceed(with_token(details), requests)

    return [UnaryUnary(), UnaryStream(), StreamUnary(), StreamStream()]


# The request fields run() takes as keyword arguments of their own.
_OWN_FIELDS = {
    "agent",
    "prompt",
    "history",
    "max_turns",
    "run_id",
    "tools",
    "extra_params",
    "hooks",
}
OVERRIDES = tuple(
    f.name for f in pb.StreamPromptRequest.DESCRIPTOR.fields if f.name not in _OWN_FIELDS
)


def _check_overrides(overrides: Mapping[str, Any]) -> None:
    for name in overrides:
        if name not in OVERRIDES:
            valid = ", ".join(OVERRIDES)
            raise TypeError(
                f"run() got an unexpected keyword argument {name!r}; request fields it can "
                f"set besides its own parameters: {valid}"
            )


def _client_tools(
    tools: Iterable[ClientTool] | Mapping[str, ToolFunction],
) -> dict[str, ClientTool]:
    if isinstance(tools, Mapping):
        return {name: tool(name)(function) for name, function in tools.items()}
    return {t.name: t for t in tools}
