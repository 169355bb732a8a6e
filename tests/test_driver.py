"""The driver with the offline model and no gRPC: interrupts land wherever the run is."""

from __future__ import annotations

import asyncio

from agentstream_server.core.driver import AgentRun, RunSpec
from agentstream_server.core.errors import RunCancelled
from agentstream_server.core.events import RunFailed, TextDelta
from agentstream_server.core.messages import Message
from agentstream_server.core.model import ModelRequest
from agentstream_server.providers.offline import OfflineProvider

from .helpers import wait_until


def spec(provider: OfflineProvider, *turns: list[dict]) -> RunSpec:
    return RunSpec(
        run_id="r",
        agent="a",
        provider=provider,
        request=ModelRequest(model="m", messages=[], extra={"script": list(turns)}),
        history=[Message.user("go")],
        max_turns=3,
    )


async def test_an_interrupt_while_emitting_stops_the_next_wait():
    provider = OfflineProvider()
    run = AgentRun(spec(provider, [{"text": "one"}, {"hang": True}]))
    events = []

    async def emit(event):
        events.append(event)
        if isinstance(event, TextDelta):
            run.interrupt(RunCancelled("stop"))  # not waiting now: must not be lost

    outcome = await asyncio.wait_for(run.run(emit), 5)
    assert isinstance(outcome, RunFailed) and isinstance(outcome.error, RunCancelled)
    assert events[-1] is outcome
    assert provider.open_streams == 0


async def test_an_interrupt_while_waiting_on_the_model_cancels_the_wait():
    provider = OfflineProvider()
    run = AgentRun(spec(provider, [{"text": "one"}, {"hang": True}]))
    emitted = asyncio.Event()

    async def emit(event):
        if isinstance(event, TextDelta):
            emitted.set()

    task = asyncio.create_task(run.run(emit))
    await emitted.wait()
    await wait_until(lambda: run._waiting)  # the run awaits the model's next event
    run.interrupt(RunCancelled("stop"))
    outcome = await asyncio.wait_for(task, 5)
    assert isinstance(outcome, RunFailed) and outcome.error.message == "run cancelled: stop"
    assert provider.open_streams == 0


async def test_a_cancel_from_outside_is_not_taken_for_an_interrupt():
    provider = OfflineProvider()
    run = AgentRun(spec(provider, [{"text": "one"}, {"hang": True}]))

    writing = asyncio.Event()

    async def emit(event):
        if isinstance(event, TextDelta):
            run.interrupt(RunCancelled("stop"))  # flagged only: the run is emitting
            writing.set()
            await asyncio.Event().wait()  # a write the caller's cancellation cuts short

    task = asyncio.create_task(run.run(emit))
    await writing.wait()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError("the caller's cancellation was swallowed")
