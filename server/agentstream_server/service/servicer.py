"""AgentService over grpc.aio: a thin adapter between protobuf and the agent loop."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
from agentstream.v1 import agent_pb2 as pb
from agentstream.v1 import agent_pb2_grpc as pb_grpc

from ..agents import Agents, PromptRequest
from ..bus import BusUnavailable, RunBus, RunExists, RunLog, RunRecord, RunStatus
from ..config import ServerConfig
from ..core.driver import AgentRun, Emit
from ..core.errors import (
    AgentError,
    ErrorCode,
    RunCancelled,
    RunIdInUse,
    RunStoreUnavailable,
)
from ..core.events import FinalResponse, RunEvent, RunFailed, TurnFinished
from ..core.ids import new_run_id
from ..limits import RunSlot, RunSlots, RunTooLong, check_request
from ..telemetry import NO_TELEMETRY, Observation, RunTelemetry
from .auth import RunKey, current_principal, run_key
from .convert import ERROR_CODES_PB, history_pb, mcp_server_pb, prompt_request, tool_pb
from .delivery import DELTA_KINDS, Coalescer, Ticks, window_s
from .events import event_pb
from .hooks import HookSession, HookSettings
from .hooks_rpc import HooksContext, hooks_stream
from .remote_hooks import RemoteHookClients
from .run_rpcs import apply_control, cancel_run, get_run, watch_run
from .runs import RunRegistry
from .status import STATUS_OF

logger = logging.getLogger(__name__)

PromptContext = grpc.aio.ServicerContext[pb.StreamPromptRequest, pb.StreamPromptResponse]
ListContext = grpc.aio.ServicerContext[pb.ListAgentsRequest, pb.ListAgentsResponse]
WatchContext = grpc.aio.ServicerContext[pb.WatchRunRequest, pb.StreamPromptResponse]
Write = Callable[[pb.StreamPromptResponse], Awaitable[None]]


class AgentServicer(pb_grpc.AgentServiceServicer):
    def __init__(self, agents: Agents, bus: RunBus, telemetry: RunTelemetry = NO_TELEMETRY) -> None:
        self._agents = agents
        self._settings: ServerConfig = agents.config.server
        self._limits = agents.config.limits
        self._telemetry = telemetry
        self.runs = RunRegistry()
        self.slots = RunSlots(self._limits)
        self.bus = bus
        self._detached: set[asyncio.Task[FinalResponse | RunFailed]] = set()
        self._ticks = Ticks()  # the coalescing windows of every run

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
        slot: RunSlot | None = None
        try:
            check_request(request, self._limits)
            window = window_s(request, self._settings.delivery_max_delay_ms)
            principal = current_principal()
            slot = self.slots.acquire(principal.name)
            prompt = await _converted(request)
            prompt.run_id = prompt.run_id or new_run_id()
            session = HookSession(
                prompt.run_id,
                self._hook_settings(request.hooks),
                frozenset(t.name for t in prompt.client_tools),
            )
            run = AgentRun(self._agents.build_run(prompt, session))
            session.interrupt = run.interrupt
            session.report_progress = run.report_progress
            key = run_key(principal, prompt.run_id)
            log = await self._open_run(key, run, session, request.detach)
        except AgentError as error:
            if slot is not None:
                slot.release()
            failed = RunFailed(error, [])
            await context.write(event_pb(failed, request.run_id or new_run_id(), 1, 0))
            _set_status(context, failed)
            return
        except BaseException:  # cancelled before the run began: its slot is free again
            if slot is not None:
                slot.release()
            raise
        observation = self._telemetry.observe(
            run.spec, self._agents.provider_type(run.spec.agent), context
        )
        observation.bind_hooks(session)
        if not request.detach:
            outcome = await self._execute(
                key, run, session, log, slot, context.write, observation, window
            )
        else:
            caller = _DetachableCaller(context)
            task = asyncio.create_task(
                self._execute(key, run, session, log, slot, caller.write, observation, window)
            )
            self._detached.add(task)
            task.add_done_callback(self._detached.discard)
            try:
                outcome = await asyncio.shield(task)
            except asyncio.CancelledError:
                caller.present = False  # the run goes on; WatchRun follows it
                raise
        if isinstance(outcome, RunFailed):
            _set_status(context, outcome)

    async def _open_run(
        self, key: RunKey, run: AgentRun, session: HookSession, detach: bool
    ) -> RunLog:
        """Registers the run on the bus (the authority on run ids) and in this process."""
        record = RunRecord(key.run_id, run.spec.agent, owner=key.owner, detached=detach)
        try:
            remote = RemoteHookClients(self.bus, session, self._limits.max_hook_replies_per_second)
            log = await self.bus.open_run(
                record, lambda message: apply_control(session, remote, message)
            )
        except RunExists:
            raise RunIdInUse(
                record.run_id, "is running or ended within the retention period"
            ) from None
        except BusUnavailable as error:
            raise RunStoreUnavailable(str(error)) from None
        log.checkpoint(history_pb(run.state.history))
        self.runs.register(key, session)
        return log

    async def _execute(
        self,
        key: RunKey,
        run: AgentRun,
        session: HookSession,
        log: RunLog,
        slot: RunSlot,
        write: Write,
        observation: Observation,
        window_s: float,
    ) -> FinalResponse | RunFailed:
        """Runs the loop to its end, keeping the log, the hooks session, the registry, the
        run's slot and its telemetry in step with it."""
        emit = _Emitter(run, log, write, self._limits.max_response_bytes, window_s, self._ticks)
        max_s = self._limits.max_run_seconds
        too_long = asyncio.get_running_loop().call_later(max_s, session.stop, RunTooLong(max_s))
        started = time.monotonic()
        with observation:
            try:
                outcome = await self._run(run, emit)
            except asyncio.CancelledError:
                # The caller of a run it did not detach went away: watchers still get an end.
                gone = RunFailed(
                    RunCancelled("the StreamPrompt caller went away"), run.state.history
                )
                log.append(emit.message(gone))
                log.close(RunStatus.CANCELLED, pb.ERROR_CODE_CANCELLED)
                session.end(pb.RUN_OUTCOME_ABANDONED, message="the StreamPrompt caller went away")
                observation.abandoned(run.turn)
                _log_run(run, key, "abandoned", started)
                raise
            finally:
                too_long.cancel()
                slot.release()
                self.runs.unregister(key, session)
            _end_session(session, outcome)
            observation.finished(outcome, run.turn)
            if isinstance(outcome, RunFailed):
                code = outcome.error.code
                status = RunStatus.CANCELLED if code is ErrorCode.CANCELLED else RunStatus.FAILED
                log.close(status, ERROR_CODES_PB[code])
                _log_run(run, key, code.value, started)
            else:
                log.close(RunStatus.COMPLETED)
                _log_run(run, key, "completed", started)
        return outcome

    async def _run(self, run: AgentRun, emit: Emit) -> FinalResponse | RunFailed:
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
            max_event_bytes=self._limits.max_response_bytes,
            max_aggregated_chars=self._limits.max_hook_aggregated_chars,
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
                    mcp_servers=[
                        mcp_server_pb(s) for s in self._agents.tools.mcp_status_for(agent)
                    ],
                )
                for agent in self._agents.list()
            ]
        )

    async def WatchRun(
        self, request: pb.WatchRunRequest, context: WatchContext
    ) -> AsyncIterator[pb.StreamPromptResponse]:
        await watch_run(self.bus, request, context)
        return
        yield

    async def CancelRun(
        self,
        request: pb.CancelRunRequest,
        context: grpc.aio.ServicerContext[pb.CancelRunRequest, pb.CancelRunResponse],
    ) -> pb.CancelRunResponse:
        return await cancel_run(self.bus, request, context)

    async def GetRun(
        self,
        request: pb.GetRunRequest,
        context: grpc.aio.ServicerContext[pb.GetRunRequest, pb.GetRunResponse],
    ) -> pb.GetRunResponse:
        return await get_run(self.bus, request, context)

    async def Hooks(
        self,
        request_iterator: AsyncIterator[pb.HooksRequest],
        context: HooksContext,
    ) -> AsyncIterator[pb.HooksResponse]:
        # Written with context.write, like StreamPrompt, and an async generator for the
        # same reason.
        await hooks_stream(
            self.runs, self.bus, self._settings, self._limits, request_iterator, context
        )
        return
        yield


def _end_session(session: HookSession, outcome: FinalResponse | RunFailed) -> None:
    if isinstance(outcome, FinalResponse):
        session.end(pb.RUN_OUTCOME_COMPLETED)
        return
    error = outcome.error
    kind = pb.RUN_OUTCOME_CANCELLED if error.code is ErrorCode.CANCELLED else pb.RUN_OUTCOME_FAILED
    session.end(kind, ERROR_CODES_PB[error.code], error.message)


# Converting a request costs about 7 µs per history message; above this many, it runs
# in a worker thread so other streams and the health check are not held up.
_CONVERT_IN_THREAD_MESSAGES = 512


async def _converted(request: pb.StreamPromptRequest) -> PromptRequest:
    if len(request.history) < _CONVERT_IN_THREAD_MESSAGES:
        return prompt_request(request)
    return await asyncio.to_thread(prompt_request, request)


class _Emitter:
    """Numbers each event, adds it to the run's log and writes it to the caller; with a
    coalescing window, through a `Coalescer` that joins consecutive deltas."""

    __slots__ = ("_coalescer", "_log", "_max_bytes", "_run", "_run_id", "_write", "seq")

    def __init__(
        self,
        run: AgentRun,
        log: RunLog,
        write: Write,
        max_bytes: int,
        window_s: float = 0.0,
        ticks: Ticks | None = None,
    ) -> None:
        self._run = run
        self._run_id = run.spec.run_id
        self._log = log
        self._write = write
        self._max_bytes = max_bytes
        self.seq = 0
        self._coalescer = (
            Coalescer(self._run_id, window_s, self._deliver, ticks or Ticks()) if window_s else None
        )

    def message(self, event: RunEvent) -> pb.StreamPromptResponse:
        """The run's last event when it ends without writing it; held deltas go to the log."""
        if self._coalescer is not None:
            held = self._coalescer.take_held()
            if held is not None:
                self.seq += 1
                held.seq = self.seq
                self._log.append(held)
        self.seq += 1
        return event_pb(event, self._run_id, self.seq, self._run.turn)

    async def __call__(self, event: RunEvent) -> None:
        # Once per token: the write is awaited here rather than in _write_out, one
        # coroutine less per event.
        coalescer = self._coalescer
        kind = type(event)
        if coalescer is not None:
            if kind in DELTA_KINDS:
                await coalescer.delta(event, self._run.turn)  # type: ignore[arg-type]
            else:
                await coalescer.send(self._rare(event, 0))
            return
        seq = self.seq = self.seq + 1
        if kind is FinalResponse or kind is RunFailed:
            message = self._rare(event, seq)
        else:
            message = event_pb(event, self._run_id, seq, self._run.turn)
        self._log.append(message)
        if kind is TurnFinished:  # a point the run can be continued from
            self._log.checkpoint(history_pb(self._run.state.history))
        try:
            await self._write(message)
        except Exception as error:
            raise CallerGone from error

    def _rare(self, event: RunEvent, seq: int) -> pb.StreamPromptResponse:
        message = event_pb(event, self._run_id, seq, self._run.turn)
        if type(event) in (FinalResponse, RunFailed) and message.ByteSize() > self._max_bytes:
            message = _without_history(message)
        return message

    async def _deliver(self, message: pb.StreamPromptResponse) -> None:
        """Numbers, logs and writes one message formed by the coalescer."""
        self.seq += 1
        message.seq = self.seq
        self._log.append(message)
        if message.HasField("turn_finished"):
            self._log.checkpoint(history_pb(self._run.state.history))
        await self._write_out(message)

    async def _write_out(self, message: pb.StreamPromptResponse) -> None:
        try:
            await self._write(message)
        except Exception as error:
            raise CallerGone from error


class CallerGone(asyncio.CancelledError):
    """The StreamPrompt caller went away while an event was being written to it: a write
    fails when the call is already over (the caller cancelled, say after a long
    flow-control stall, or its connection broke). That is the caller leaving, not a bug
    in the run."""


def _without_history(message: pb.StreamPromptResponse) -> pb.StreamPromptResponse:
    """The last event of a run, too large to send: the same, minus the history, and saying
    so, rather than a message the caller's receive limit would discard with everything."""
    logger.info(
        "run %s: a history of %d bytes left out of the last event (limits.max_response_bytes)",
        message.run_id,
        message.ByteSize(),
    )
    result = getattr(message, str(message.WhichOneof("event")))
    del result.history[:]
    result.history_omitted = True
    return message


class _DetachableCaller:
    """The caller of a detached run: writes stop, and the run goes on, once it left."""

    def __init__(self, context: PromptContext) -> None:
        self._context = context
        self.present = True

    async def write(self, message: pb.StreamPromptResponse) -> None:
        if not self.present:
            return
        try:
            await self._context.write(message)
        except Exception:  # whatever a write to a finished call raises: the caller left
            self.present = False


def _log_run(run: AgentRun, key: RunKey, outcome: str, started: float) -> None:
    """One line per run; `extra` feeds the JSON log format. Never content."""
    usage = run.state.usage
    spec = run.spec
    seconds = round(time.monotonic() - started, 3)
    logger.info(
        "run %s agent=%s %s turns=%d tokens=%d/%d in %.3fs principal=%s",
        spec.run_id,
        spec.agent,
        outcome,
        run.turn,
        usage.input_tokens,
        usage.output_tokens,
        seconds,
        key.owner or "-",
        extra={
            "run_id": spec.run_id,
            "agent": spec.agent,
            "outcome": outcome,
            "turns": run.turn,
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "duration_s": seconds,
            "principal": key.owner,
        },
    )


def _set_status(context: PromptContext, failed: RunFailed) -> None:
    context.set_code(STATUS_OF[failed.error.code])
    context.set_details(failed.error.message)
