"""Runs an agent: does the I/O for each step `RunState` decides, and emits every event.

The driver knows nothing of gRPC or of any provider's wire format. Cancelling
the task that awaits `AgentRun.run` closes the provider stream and cancels
running tools before the cancellation propagates: nothing outlives the run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from .errors import AgentError, ProviderError
from .events import (
    FinalResponse,
    ReasoningEnd,
    RunEvent,
    RunFailed,
    RunStarted,
    TurnFinished,
)
from .hooks import NO_HOOKS, RunHooks
from .messages import Message, ToolCall, ToolResult
from .model import ModelProvider, ModelRequest
from .run_state import CallModel, Finished, RunState, RunTools
from .tools import Tool, error_result, run_server_tool
from .turn import TurnBuilder

Emit = Callable[[RunEvent], Awaitable[None]]


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
    client_tools: frozenset[str] = frozenset()
    tool_concurrency: int = 4
    hooks: RunHooks = NO_HOOKS


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

    @property
    def turn(self) -> int:
        return self.state.turn

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
                if isinstance(event, TurnFinished):
                    finished = event
                    continue  # emitted once the turn's message is recorded
                builder.add(event)
                if isinstance(event, ReasoningEnd):
                    continue  # only closes a part; the caller sees the reasoning deltas
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
        """Runs one turn's calls concurrently, emitting results as they complete;
        the history gets them in call order."""
        turn = self.state.turn

        async def run_indexed(index: int, call: ToolCall) -> tuple[int, ToolResult]:
            return index, await self._run_tool(turn, call)

        tasks = [asyncio.create_task(run_indexed(i, c)) for i, c in enumerate(calls)]
        results: list[ToolResult | None] = [None] * len(calls)
        try:
            for next_done in asyncio.as_completed(tasks):
                self._start_waiting()
                try:
                    index, result = await next_done
                finally:
                    self._waiting = False
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

    async def _run_tool(self, turn: int, call: ToolCall) -> ToolResult:
        spec = self.spec
        is_client_tool = call.name in spec.client_tools
        result = await spec.hooks.tool_call(turn, call, is_client_tool)
        if result is None:
            result = await self._run_on_server(call, is_client_tool)
        await spec.hooks.tool_result(turn, call, result)
        return result

    async def _run_on_server(self, call: ToolCall, is_client_tool: bool) -> ToolResult:
        if is_client_tool:
            return error_result(
                call, f"client tool {call.name!r} got no answer from a hooks client"
            )
        tool = self.spec.server_tools.get(call.name)
        if tool is None:
            known = sorted(self.spec.server_tools) + sorted(self.spec.client_tools)
            return error_result(call, f"unknown tool {call.name!r}; available: {', '.join(known)}")
        async with self._tool_slots:
            return await run_server_tool(tool, call)


def _fill_missing(
    calls: list[ToolCall], results: list[ToolResult | None], reason: str
) -> list[ToolResult]:
    return [
        r if r is not None else error_result(c, f"not run: {reason}")
        for c, r in zip(calls, results, strict=True)
    ]


async def _cancel_and_wait(tasks: list[asyncio.Task[tuple[int, ToolResult]]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
