"""Runs an agent: does the I/O for each step `RunState` decides, and emits every event.

The driver knows nothing of gRPC or of any provider's wire format. Cancelling
the task that awaits `AgentRun.run` closes the provider stream and cancels
running tools before the cancellation propagates: nothing outlives the run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from .arguments import ArgumentSchema
from .errors import AgentError, ProviderError
from .events import (
    FinalResponse,
    ReasoningEnd,
    RunEvent,
    RunFailed,
    RunStarted,
    TextDelta,
    ToolProgress,
    TurnFinished,
)
from .hooks import NO_HOOKS, RunHooks
from .messages import Message, ToolCall, ToolResult
from .model import ModelProvider, ModelRequest
from .progress import ProgressGate
from .run_state import CallModel, Finished, RunState, RunTools
from .tools import Tool, ToolContext, check_arguments, error_result, run_server_tool
from .turn import TurnBuilder

Emit = Callable[[RunEvent], Awaitable[None]]
# What a turn's tool tasks hand the driver: a result (with its call's index), a
# progress report, or the error that ends the run.
_ToolOutcome = tuple[int, ToolResult] | ToolProgress | BaseException


@dataclass(slots=True)
class RunSpec:
    """Everything a run needs, resolved from the agent's config and the request."""

    run_id: str
    agent: str
    provider: ModelProvider
    request: ModelRequest  # settings and tool specs; `messages` is filled each turn
    history: list[Message]  # the conversation so far, prompt last
    max_turns: int
    server_tools: dict[str, Tool] = field(default_factory=dict)
    # Client tools by name, with the checker of their arguments.
    client_tools: dict[str, ArgumentSchema] = field(default_factory=dict)
    tool_concurrency: int = 4
    tool_timeout_s: float = 60.0  # for server tools that set no timeout_s of their own
    progress_interval_s: float = 0.1  # at most one progress event per call this often
    hooks: RunHooks = NO_HOOKS
    # A larger tool result reaches the model as an error naming the limit.
    max_tool_output_bytes: int = 1 << 20


class AgentRun:
    def __init__(self, spec: RunSpec) -> None:
        self.spec = spec
        self.state = RunState(spec.history, spec.max_turns)
        self._tool_slots = asyncio.Semaphore(spec.tool_concurrency)
        self._task: asyncio.Task[object] | None = None
        # True only while awaiting the model or tools, never while emitting: cancelling
        # then cannot cut an event in half on the wire.
        self._waiting = False
        self._interrupt: AgentError | None = None
        self._cancelled_task = False  # interrupt() cancelled our task
        self._progress: dict[str, ProgressGate] = {}  # by call id, while the call runs

    @property
    def turn(self) -> int:
        return self.state.turn

    def report_progress(self, call_id: str, message: str, fraction: float | None) -> None:
        """A running call's progress from outside the loop (a client tool's reply);
        dropped when no such call is running."""
        gate = self._progress.get(call_id)
        if gate is not None:
            gate.report(message, fraction)

    def interrupt(self, error: AgentError) -> None:
        """Ends the run with `error`: at once while it waits on the model or its tools,
        otherwise at its next step."""
        if self._interrupt is None:
            self._interrupt = error
        if self._waiting and self._task is not None and not self._cancelled_task:
            self._cancelled_task = True
            self._task.cancel()

    async def run(self, emit: Emit) -> FinalResponse | RunFailed:
        """Emits `RunStarted`, the run's events, then `FinalResponse` or `RunFailed`."""
        self._task = asyncio.current_task()
        spec = self.spec
        await emit(RunStarted(spec.agent, spec.request.model, spec.max_turns, spec.provider.name))
        try:
            await spec.hooks.start()
            return await self._steps(emit)
        except AgentError as error:
            failed = RunFailed(error, list(self.state.history))
        except asyncio.CancelledError:
            if self._interrupt is None or not self._only_interrupted():
                raise  # the caller went away or its deadline passed: nobody to tell
            failed = RunFailed(self._interrupt, list(self.state.history))
        await emit(failed)
        return failed

    def _start_waiting(self) -> None:
        # An interrupt that came while we were emitting takes effect here, before a wait
        # that might never end on its own.
        if self._interrupt is not None:
            raise self._interrupt
        self._waiting = True

    def _only_interrupted(self) -> bool:
        """Withdraws our own cancellation; False if it was not ours, or not only ours."""
        if not self._cancelled_task or self._task is None:
            return False
        return self._task.uncancel() == 0

    async def _steps(self, emit: Emit) -> FinalResponse:
        while True:
            if self._interrupt is not None:
                raise self._interrupt
            step = self.state.next_step()
            if isinstance(step, CallModel):
                await self._call_model(step, emit)
            elif isinstance(step, RunTools):
                await self._run_tools(step.calls, emit)
            elif isinstance(step, Finished):
                await emit(step.response)
                return step.response
            else:
                raise step.error

    async def _call_model(self, step: CallModel, emit: Emit) -> None:
        hooks = self.spec.hooks
        await hooks.completion_call(step.turn, step.messages)
        request = replace(self.spec.request, messages=list(step.messages))
        builder = TurnBuilder()
        finished: TurnFinished | None = None
        stream = self.spec.provider.stream(request)
        try:
            # One pass per token: assemble the turn's message, tell the hooks, emit.
            while True:
                self._start_waiting()
                try:
                    event = await anext(stream)
                except StopAsyncIteration:
                    break
                finally:
                    self._waiting = False
                if isinstance(event, TextDelta):  # nearly every event: the shortest way
                    builder.text(event.text)
                elif isinstance(event, TurnFinished):
                    finished = event
                    continue  # emitted once the turn's message is recorded
                elif isinstance(event, ReasoningEnd):
                    builder.add(event)
                    continue  # only closes a part; the caller sees the reasoning deltas
                else:
                    builder.add(event)
                if hooks.wants_deltas and not isinstance(event, ToolCall):
                    await hooks.delta(step.turn, event)
                await emit(event)
        finally:
            await stream.aclose()
        if finished is None:
            raise ProviderError(
                self.spec.provider.name,
                "the response stream ended before the model finished its turn",
                retryable=True,
            )
        message = builder.message()
        self.state.record_turn(message, finished)
        await emit(finished)
        await hooks.completion_finished(step.turn, finished, message.text)

    async def _run_tools(self, calls: list[ToolCall], emit: Emit) -> None:
        """Runs one turn's calls concurrently, emitting their progress and their results
        as they come; the history gets the results in call order."""
        turn = self.state.turn
        outcomes: asyncio.Queue[_ToolOutcome] = asyncio.Queue()

        async def run_indexed(index: int, call: ToolCall) -> None:
            try:
                outcomes.put_nowait((index, await self._run_tool(turn, call, outcomes)))
            except Exception as error:  # ends the run; the driver raises it
                outcomes.put_nowait(error)

        tasks = [asyncio.create_task(run_indexed(i, c)) for i, c in enumerate(calls)]
        results: list[ToolResult | None] = [None] * len(calls)
        try:
            for _ in calls:
                index, result = await self._next_result(turn, outcomes, emit)
                results[index] = result
                await emit(result)
        except (AgentError, asyncio.CancelledError) as error:
            # Keep the history sendable: every call gets a result.
            reason = error.message if isinstance(error, AgentError) else "run cancelled"
            if self._interrupt is not None:
                reason = self._interrupt.message
            self.state.record_tool_results(_fill_missing(calls, results, reason))
            raise
        finally:
            await _cancel_and_wait(tasks)
        self.state.record_tool_results(_fill_missing(calls, results, "not run"))

    async def _next_result(
        self, turn: int, outcomes: asyncio.Queue[_ToolOutcome], emit: Emit
    ) -> tuple[int, ToolResult]:
        """Emits progress until the next call's result comes."""
        while True:
            self._start_waiting()
            try:
                outcome = await outcomes.get()
            finally:
                self._waiting = False
            if isinstance(outcome, BaseException):
                raise outcome
            if not isinstance(outcome, ToolProgress):
                return outcome
            await self.spec.hooks.tool_progress(turn, outcome)
            await emit(outcome)

    async def _run_tool(
        self, turn: int, call: ToolCall, outcomes: asyncio.Queue[_ToolOutcome]
    ) -> ToolResult:
        spec = self.spec
        is_client_tool = call.name in spec.client_tools
        checked = self._check_arguments(call)
        if isinstance(checked, ToolResult):  # the tool must not see arguments it refuses
            await spec.hooks.tool_result(turn, call, checked)
            return checked

        def deliver(message: str, fraction: float | None) -> None:
            outcomes.put_nowait(ToolProgress(call.id, call.name, message, fraction))

        gate = ProgressGate(asyncio.get_running_loop(), spec.progress_interval_s, deliver)
        self._progress[call.id] = gate
        try:
            result = await spec.hooks.tool_call(turn, call, is_client_tool)
            if result is None:
                context = ToolContext(call.id, call.name, gate.report)
                result = await self._run_on_server(call, checked, context, is_client_tool)
        finally:
            gate.close()  # no progress after the result
            if self._progress.get(call.id) is gate:
                del self._progress[call.id]
        result = _within(result, call, spec.max_tool_output_bytes)
        await spec.hooks.tool_result(turn, call, result)
        return result

    def _check_arguments(self, call: ToolCall) -> dict[str, Any] | ToolResult | None:
        """The call's checked arguments, its error result, or None for an unknown tool."""
        schema = self.spec.client_tools.get(call.name)
        if schema is None:
            tool = self.spec.server_tools.get(call.name)
            if tool is None:
                return None
            schema = tool.arguments
        return check_arguments(schema, call)

    async def _run_on_server(
        self,
        call: ToolCall,
        arguments: dict[str, Any] | None,
        context: ToolContext,
        is_client_tool: bool,
    ) -> ToolResult:
        if is_client_tool:
            return error_result(
                call, f"client tool {call.name!r} got no answer from a hooks client"
            )
        tool = self.spec.server_tools.get(call.name)
        if tool is None or arguments is None:
            known = sorted(self.spec.server_tools) + sorted(self.spec.client_tools)
            return error_result(call, f"unknown tool {call.name!r}; available: {', '.join(known)}")
        timeout_s = tool.timeout_s or self.spec.tool_timeout_s
        async with self._tool_slots:
            return await run_server_tool(tool, call, arguments, context, timeout_s)


def _within(result: ToolResult, call: ToolCall, max_bytes: int) -> ToolResult:
    # A character is at most 4 bytes in UTF-8: most results need no encoding to tell.
    if len(result.content) * 4 <= max_bytes:
        return result
    size = len(result.content.encode())
    if size <= max_bytes:
        return result
    return error_result(
        call,
        f"tool {call.name!r}: output of {size} bytes is over the limit of {max_bytes} "
        "(limits.max_tool_output_bytes)",
    )


def _fill_missing(
    calls: list[ToolCall], results: list[ToolResult | None], reason: str
) -> list[ToolResult]:
    return [
        r if r is not None else error_result(c, f"not run: {reason}")
        for c, r in zip(calls, results, strict=True)
    ]


async def _cancel_and_wait(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
