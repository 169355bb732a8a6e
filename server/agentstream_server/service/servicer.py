"""AgentService over grpc.aio: a thin adapter between protobuf and the agent loop."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator

import grpc
from agentstream.v1 import agent_pb2 as pb
from agentstream.v1 import agent_pb2_grpc as pb_grpc

from ..agents import Agents
from ..config import ServerConfig
from ..core.driver import AgentRun, Emit
from ..core.errors import AgentError, ErrorCode, InvalidRequest, quote
from ..core.events import FinalResponse, RunEvent, RunFailed
from .convert import ERROR_CODES_PB, check_run_id, prompt_request, tool_pb
from .events import event_pb
from .hook_outbox import Outbox
from .hooks import ALL_KINDS, AlreadyAttached, HookSession, HookSettings
from .runs import RunRegistry
from .status import STATUS_OF

logger = logging.getLogger(__name__)

PromptContext = grpc.aio.ServicerContext[pb.StreamPromptRequest, pb.StreamPromptResponse]
ListContext = grpc.aio.ServicerContext[pb.ListAgentsRequest, pb.ListAgentsResponse]
HooksContext = grpc.aio.ServicerContext[pb.HooksRequest, pb.HooksResponse]


class AgentServicer(pb_grpc.AgentServiceServicer):
    def __init__(self, agents: Agents) -> None:
        self._agents = agents
        self._settings: ServerConfig = agents.config.server
        self.runs = RunRegistry()

    async def StreamPrompt(
        self, request: pb.StreamPromptRequest, context: PromptContext
    ) -> AsyncIterator[pb.StreamPromptResponse]:
        # Events are written with context.write, straight from the loop (one generator hop
        # less per token); being an async generator keeps interceptors that iterate
        # streaming handlers, like OpenTelemetry's, working.
        await self._stream_prompt(request, context)
        return
        yield

    async def _stream_prompt(self, request: pb.StreamPromptRequest, context: PromptContext) -> None:
        try:
            prompt = prompt_request(request)
            prompt.run_id = prompt.run_id or uuid.uuid4().hex
            session = HookSession(
                prompt.run_id,
                self._hook_settings(request.hooks),
                frozenset(t.name for t in prompt.client_tools),
            )
            spec = self._agents.build_run(prompt, session)
            self.runs.register(session)
        except AgentError as error:
            failed = RunFailed(error, [])
            await context.write(event_pb(failed, request.run_id or uuid.uuid4().hex, 1, 0))
            _set_status(context, failed)
            return
        run = AgentRun(spec)
        session.interrupt = run.interrupt
        session.report_progress = run.report_progress
        started = time.monotonic()
        try:
            outcome = await self._run(run, context)
        except asyncio.CancelledError:
            session.end(pb.RUN_OUTCOME_ABANDONED, message="the StreamPrompt caller went away")
            _log_run(run, "abandoned by the caller", started)
            raise
        finally:
            self.runs.unregister(session)
        _end_session(session, outcome)
        if isinstance(outcome, RunFailed):
            _set_status(context, outcome)
            _log_run(run, f"failed: {outcome.error.code.value}", started)
        else:
            _log_run(run, "completed", started)

    async def _run(self, run: AgentRun, context: PromptContext) -> FinalResponse | RunFailed:
        emit = _emitter(context, run)
        try:
            return await run.run(emit)
        except AgentError as error:  # raised while emitting the failure itself
            return RunFailed(error, run.state.history)
        except Exception as error:  # a bug: report it to the caller, log it here
            logger.exception("run %s failed unexpectedly", run.spec.run_id)
            failed = RunFailed(AgentError(f"internal error: {error}"), run.state.history)
            await emit(failed)
            return failed

    def _hook_settings(self, options: pb.HooksOptions) -> HookSettings:
        server = self._settings
        return HookSettings(
            wait_for_client=options.wait_for_client,
            attach_timeout_s=(options.attach_timeout_ms or server.hooks_attach_timeout_ms) / 1000,
            reply_timeout_s=(options.reply_timeout_ms or server.hooks_reply_timeout_ms) / 1000,
            buffer_events=server.hooks_buffer_events,
            observer_flush_s=server.hooks_observer_flush_ms / 1000,
        )

    async def ListAgents(
        self, request: pb.ListAgentsRequest, context: ListContext
    ) -> pb.ListAgentsResponse:
        default = self._agents.config.default_agent_name
        return pb.ListAgentsResponse(
            agents=[
                pb.AgentInfo(
                    name=agent.name,
                    provider=agent.provider,
                    model=agent.model,
                    max_turns=agent.max_turns,
                    tools=[tool_pb(t) for t in self._agents.server_tools(agent).values()],
                    is_default=agent.name == default,
                )
                for agent in self._agents.list()
            ]
        )

    async def Hooks(
        self,
        request_iterator: AsyncIterator[pb.HooksRequest],
        context: HooksContext,
    ) -> AsyncIterator[pb.HooksResponse]:
        requests = aiter(request_iterator)
        first = await anext(requests, None)
        if first is None or first.WhichOneof("request") != "attach":
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "attach: the first message must be an attach"
            )
        attach = first.attach
        events, blocking = await _attach_kinds(attach, context)
        timeout_s = self._settings.hooks_attach_timeout_ms / 1000
        session = await self.runs.find(attach.run_id, timeout_s)
        if session is None:
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"attach.run_id: no run {quote(attach.run_id)} started within "
                f"{timeout_s * 1000:.0f} ms",
            )
        try:
            outbox = session.attach(events, blocking, not attach.omit_aggregated_text)
        except AlreadyAttached:
            await context.abort(
                grpc.StatusCode.ALREADY_EXISTS,
                f"attach.run_id: run {quote(attach.run_id)} already has a hooks client",
            )
        reader = asyncio.create_task(_read_replies(requests, session, outbox))
        try:
            yield pb.HooksResponse(attached=pb.HookAttached(run_id=session.run_id))
            while (response := await outbox.get()) is not None:
                yield response
        finally:
            reader.cancel()
            session.detach(outbox)


async def _attach_kinds(
    attach: pb.HookAttach, context: HooksContext
) -> tuple[frozenset[int], frozenset[int]]:
    try:
        check_run_id(attach.run_id, "attach.run_id")
    except InvalidRequest as error:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, error.message)
    for field in ("events", "blocking"):
        for i, kind in enumerate(getattr(attach, field)):
            if kind not in ALL_KINDS:
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"attach.{field}[{i}]: not a hook event kind ({kind})",
                )
    return frozenset(attach.events), frozenset(attach.blocking)


async def _read_replies(
    requests: AsyncIterator[pb.HooksRequest], session: HookSession, outbox: Outbox
) -> None:
    """Applies the client's replies; a bad one gets a HookError and changes nothing."""
    async for request in requests:
        if request.WhichOneof("request") == "reply":
            problem = session.reply(request.reply)
            event_id = request.reply.event_id
        else:
            problem = f"attach: this stream is already attached to run {quote(session.run_id)}"
            event_id = ""
        if problem is not None:
            outbox.put(pb.HooksResponse(error=pb.HookError(event_id=event_id, message=problem)))


def _end_session(session: HookSession, outcome: FinalResponse | RunFailed) -> None:
    if isinstance(outcome, FinalResponse):
        session.end(pb.RUN_OUTCOME_COMPLETED)
        return
    error = outcome.error
    kind = pb.RUN_OUTCOME_CANCELLED if error.code is ErrorCode.CANCELLED else pb.RUN_OUTCOME_FAILED
    session.end(kind, ERROR_CODES_PB[error.code], error.message)


def _emitter(context: PromptContext, run: AgentRun) -> Emit:
    run_id = run.spec.run_id
    seq = 0

    async def emit(event: RunEvent) -> None:
        nonlocal seq
        seq += 1
        await context.write(event_pb(event, run_id, seq, run.turn))

    return emit


def _log_run(run: AgentRun, outcome: str, started: float) -> None:
    usage = run.state.usage
    logger.info(
        "run %s agent=%s %s turns=%d tokens=%d/%d in %.3fs",
        run.spec.run_id,
        run.spec.agent,
        outcome,
        run.turn,
        usage.input_tokens,
        usage.output_tokens,
        time.monotonic() - started,
    )


def _set_status(context: PromptContext, failed: RunFailed) -> None:
    context.set_code(STATUS_OF[failed.error.code])
    context.set_details(failed.error.message)
