"""Hooks over real gRPC: attach in either order, block, cancel, client tools, bad input."""

from __future__ import annotations

import asyncio
import contextlib
import json

import grpc
import pytest
from agentstream.v1 import agent_pb2 as pb

from .helpers import collect, script, wait_until
from .hooks_client import PROCEED, HookStream, cancel, output
from .tools import GateTool

CONFIG = {
    "agents": [
        {
            "name": "a",
            "provider": "offline",
            "model": "m",
            "max_turns": 4,
            "tools": ["calculator", "gate"],
        },
    ],
    "server": {"hooks_attach_timeout_ms": 2000, "hooks_buffer_events": 8},
}
LOOKUP = pb.ToolDefinition(name="lookup", description="look up an order")
PRICE = pb.ToolDefinition(name="price", description="price an order")


def call(name, arguments=None, id=None):
    spec = {"name": name, "arguments": arguments or {}}
    if id:
        spec["id"] = id
    return {"tool_call": spec}


@pytest.fixture
async def hooked(start_server):
    gate = GateTool("gate")
    server = await start_server(CONFIG, tools={"gate": gate.tool})
    server.gate = gate
    return server


async def attached_run(stub, run_id, *turns, events=(), blocking=(), **fields):
    """Attaches a hooks client to `run_id` first, then starts that run."""
    hooks = HookStream(stub)
    attach = asyncio.create_task(hooks.attach(run_id, events, blocking))
    result_task = run(stub, run_id, *turns, **fields)
    await attach
    return hooks, result_task


def run(stub, run_id, *turns, **fields):
    request = pb.StreamPromptRequest(
        prompt="go", run_id=run_id, extra_params=script(*turns), **fields
    )
    return asyncio.create_task(collect(stub, request))


# 1. Either order: attach before the run starts, or after run_started.
async def test_attach_before_the_run_starts(hooked):
    hooks = HookStream(hooked.stub)
    attach = asyncio.create_task(hooks.attach("early"))
    result_task = run(
        hooked.stub, "early", [{"text": "hello there"}], hooks=pb.HooksOptions(wait_for_client=True)
    )
    assert (await attach).attached.run_id == "early"
    rest = await hooks.rest()
    result = await result_task
    assert result.code == grpc.StatusCode.OK
    deltas = [r.event.text_delta for r in rest if r.event.WhichOneof("event") == "text_delta"]
    assert deltas[-1].aggregated == "hello there"
    assert rest[-1].run_ended.outcome == pb.RUN_OUTCOME_COMPLETED


async def test_attach_after_run_started(hooked):
    hooks = HookStream(hooked.stub)
    call_ = hooked.stub.StreamPrompt(
        pb.StreamPromptRequest(
            prompt="go",
            extra_params=script([{"text": "a b c"}]),
            hooks=pb.HooksOptions(wait_for_client=True),
        )
    )
    started = await call_.read()
    run_id = started.run_id
    assert (await hooks.attach(run_id)).attached.run_id == run_id
    event = await hooks.event("completion_call")
    assert event.completion_call.prompt == "go"
    events = [started]
    while (e := await call_.read()) is not grpc.aio.EOF:
        events.append(e)
    assert events[-1].final_response.text == "a b c"


async def test_waiting_for_a_client_that_never_comes_fails_clearly(hooked):
    result = await run(
        hooked.stub,
        "lonely",
        [{"text": "x"}],
        hooks=pb.HooksOptions(wait_for_client=True, attach_timeout_ms=50),
    )
    assert result.code == grpc.StatusCode.FAILED_PRECONDITION
    assert result.last.error.code == pb.ERROR_CODE_HOOKS_FAILED
    assert "no hooks client attached" in result.details
    assert result.of("turn_finished") == []  # no model call was made


async def test_a_run_with_client_tools_always_waits(hooked):
    result = await run(
        hooked.stub,
        "needs-client",
        [call("lookup")],
        tools=[LOOKUP],
        hooks=pb.HooksOptions(attach_timeout_ms=50),
    )
    assert result.last.error.code == pb.ERROR_CODE_HOOKS_FAILED
    assert "client tools" in result.details


# 2. Blocking events wait for the reply; observe-only ones never slow the run.
async def test_blocking_event_waits_for_the_reply(hooked):
    hooks, result_task = await attached_run(
        hooked.stub,
        "blocked",
        [{"text": "done"}],
        blocking=(pb.HOOK_EVENT_KIND_COMPLETION_FINISHED,),
        hooks=pb.HooksOptions(wait_for_client=True),
    )
    finished = await hooks.event("completion_finished")
    assert finished.reply_expected and finished.completion_finished.text == "done"
    assert not result_task.done()
    await hooks.reply(finished.event_id, **PROCEED)
    assert (await result_task).code == grpc.StatusCode.OK


async def test_blocking_event_without_reply_times_out(hooked):
    _hooks, result_task = await attached_run(  # the stream stays open, unanswered
        hooked.stub,
        "slow-guard",
        [{"text": "x"}],
        blocking=(pb.HOOK_EVENT_KIND_COMPLETION_CALL,),
        hooks=pb.HooksOptions(wait_for_client=True, reply_timeout_ms=50),
    )
    result = await result_task
    assert result.last.error.code == pb.ERROR_CODE_HOOKS_FAILED
    assert "completion_call event 1: no reply from the hooks client within 50 ms" in result.details


async def test_a_slow_observer_gets_merged_deltas_and_does_not_slow_the_run(hooked):
    words = 3000
    hooks, result_task = await attached_run(
        hooked.stub,
        "observed",
        [{"text": "w " * words}],
        events=(pb.HOOK_EVENT_KIND_TEXT_DELTA,),
        hooks=pb.HooksOptions(wait_for_client=True),
    )
    result = await result_task  # the whole run finishes while the observer reads nothing
    assert result.code == grpc.StatusCode.OK
    rest = await hooks.rest()
    deltas = [r.event for r in rest if r.WhichOneof("response") == "event"]
    assert len(deltas) < words  # bounded: merged, not queued one by one
    assert sum(1 + e.merged for e in deltas) == words
    assert "".join(e.text_delta.delta for e in deltas) == "w " * words
    assert deltas[-1].text_delta.aggregated == "w " * words


async def test_an_observer_may_leave_out_the_aggregated_text(hooked):
    hooks = HookStream(hooked.stub)
    await hooks.call.write(
        pb.HooksRequest(
            attach=pb.HookAttach(
                run_id="lean", events=[pb.HOOK_EVENT_KIND_TEXT_DELTA], omit_aggregated_text=True
            )
        )
    )
    result_task = run(
        hooked.stub,
        "lean",
        [{"text": "one two three"}],
        hooks=pb.HooksOptions(wait_for_client=True),
    )
    rest = await hooks.rest()
    assert (await result_task).code == grpc.StatusCode.OK
    deltas = [r.event.text_delta for r in rest if r.WhichOneof("response") == "event"]
    assert "".join(d.delta for d in deltas) == "one two three"
    assert all(d.aggregated == "" for d in deltas)


async def test_aggregated_text_stops_past_its_limit(start_server):
    agent = {"name": "a", "provider": "offline", "model": "m"}
    server = await start_server({"agents": [agent], "limits": {"max_hook_aggregated_chars": 10}})
    text = (pb.HOOK_EVENT_KIND_TEXT_DELTA,)
    hooks, result_task = await attached_run(
        server.stub,
        "long-text",
        [{"text": "one two three four"}],
        events=text,
        blocking=text,  # one event per delta, whatever the timing
        hooks=pb.HooksOptions(wait_for_client=True),
    )
    deltas = []
    for _ in range(4):
        event = await hooks.event("text_delta")
        deltas.append((event.text_delta.delta, event.text_delta.aggregated))
        await hooks.reply(event.event_id, **PROCEED)
    assert deltas == [("one ", "one "), ("two ", "one two "), ("three ", ""), ("four", "")]
    assert (await result_task).code == grpc.StatusCode.OK


# 3. Cancel from a hook ends the run at once.
async def test_cancel_on_completion_call_makes_no_model_call(hooked):
    hooks, result_task = await attached_run(
        hooked.stub,
        "stop-early",
        [{"text": "never"}],
        blocking=(pb.HOOK_EVENT_KIND_COMPLETION_CALL,),
        hooks=pb.HooksOptions(wait_for_client=True),
    )
    event = await hooks.event("completion_call")
    await hooks.reply(event.event_id, **cancel("policy says no"))
    result = await result_task
    assert result.code == grpc.StatusCode.CANCELLED
    assert result.last.error.code == pb.ERROR_CODE_CANCELLED
    assert "policy says no" in result.last.error.message
    assert result.kinds() == ["run_started", "error"]
    ended = (await hooks.rest())[-1].run_ended
    assert ended.outcome == pb.RUN_OUTCOME_CANCELLED


async def test_cancel_on_a_tool_call_starts_no_tool_and_covers_every_call(hooked):
    hooks, result_task = await attached_run(
        hooked.stub,
        "veto",
        [call("gate", id="g1"), call("gate", id="g2")],
        [{"text": "never"}],
        blocking=(pb.HOOK_EVENT_KIND_TOOL_CALL,),
        hooks=pb.HooksOptions(wait_for_client=True),
    )
    first = await hooks.event("tool_call")
    await hooks.reply(first.event_id, **cancel("not today"))
    result = await result_task
    assert result.code == grpc.StatusCode.CANCELLED
    assert hooked.gate.started == 0
    assert result.of("tool_result") == []  # the run's end covers both calls
    history = result.last.error.history
    assert [p.tool_result.id for p in history[-1].parts] == ["g1", "g2"]
    assert all(p.tool_result.is_error for p in history[-1].parts)


async def test_cancel_without_event_id_stops_a_streaming_run(hooked):
    hooks, result_task = await attached_run(
        hooked.stub,
        "stop-now",
        [{"text": "a b c"}, {"delay_ms": 1}] * 2000,
        events=(pb.HOOK_EVENT_KIND_TEXT_DELTA,),
        hooks=pb.HooksOptions(wait_for_client=True),
    )
    await hooks.event("text_delta")
    await hooks.reply("", **cancel("enough"))
    result = await result_task
    assert result.code == grpc.StatusCode.CANCELLED
    assert len(result.of("text_delta")) < 6000


async def test_cancel_run_while_the_run_waits_for_its_hooks_client_ends_it_cancelled(hooked):
    call_ = hooked.stub.StreamPrompt(
        pb.StreamPromptRequest(
            prompt="go",
            run_id="waiting",
            extra_params=script([{"text": "never said"}]),
            hooks=pb.HooksOptions(wait_for_client=True, attach_timeout_ms=60_000),
        )
    )
    assert (await call_.read()).HasField("run_started")
    response = await hooked.stub.CancelRun(pb.CancelRunRequest(run_id="waiting", reason="no"))
    assert response.state == pb.RUN_STATE_RUNNING
    # Guarded: without the fix the run waits out the minute-long attach timeout.
    rest = await asyncio.wait_for(_rest_of(call_), 20)
    assert await call_.code() == grpc.StatusCode.CANCELLED
    assert rest[-1].error.code == pb.ERROR_CODE_CANCELLED and "no" in rest[-1].error.message
    assert [e.WhichOneof("event") for e in rest] == ["error"]  # no model call was made


async def _rest_of(call_):
    events = []
    with contextlib.suppress(grpc.aio.AioRpcError):  # the status is read from the call
        while (event := await call_.read()) is not grpc.aio.EOF:
            events.append(event)
    return events


async def test_cancel_stops_a_silent_model_at_once(hooked, caplog):
    hooks, result_task = await attached_run(
        hooked.stub,
        "thinking",
        [{"text": "hmm"}, {"hang": True}],
        hooks=pb.HooksOptions(wait_for_client=True),
    )
    await hooks.event("text_delta")
    await hooks.reply("", **cancel("too slow"))
    result = await result_task
    assert result.code == grpc.StatusCode.CANCELLED
    assert result.last.error.message == "run cancelled: too slow"
    assert hooked.offline.open_streams == 0
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


async def test_cancel_stops_running_tools_at_once(hooked):
    hooks, result_task = await attached_run(
        hooked.stub,
        "busy",
        [call("gate", id="g")],
        [{"text": "never"}],
        hooks=pb.HooksOptions(wait_for_client=True),
    )
    await hooks.event("tool_call")
    await wait_until(lambda: hooked.gate.running == 1)
    await hooks.reply("", **cancel("stop"))
    result = await result_task
    assert result.code == grpc.StatusCode.CANCELLED
    assert hooked.gate.cancelled == 1
    tool_results = result.last.error.history[-1].parts
    assert tool_results[0].tool_result.id == "g" and tool_results[0].tool_result.is_error


async def test_skip_answers_a_server_tool_without_running_it(hooked):
    hooks, result_task = await attached_run(
        hooked.stub,
        "skip",
        [call("gate", id="g")],
        [{"text": "ok"}],
        blocking=(pb.HOOK_EVENT_KIND_TOOL_CALL,),
        hooks=pb.HooksOptions(wait_for_client=True),
    )
    event = await hooks.event("tool_call")
    assert not event.tool_call.execute
    await hooks.reply(event.event_id, skip=pb.HookSkip(reason="gate is closed today"))
    result = await result_task
    assert result.code == grpc.StatusCode.OK
    assert hooked.gate.started == 0
    assert result.of("tool_result")[0].content == "gate is closed today"


# 4. Client tools: sent together, answered in any order, matched by call id.
async def test_client_tools_answered_out_of_order(hooked):
    hooks, result_task = await attached_run(
        hooked.stub,
        "client-tools",
        [call("lookup", {"order": 7}, id="L"), call("price", {"order": 7}, id="P")],
        [{"text": "answered"}],
        tools=[LOOKUP, PRICE],
    )
    first = await hooks.event("tool_call")
    second = await hooks.event("tool_call")
    assert first.tool_call.execute and first.reply_expected
    assert json.loads(first.tool_call.arguments) == {"order": 7}
    await hooks.reply(second.event_id, **output("$12"))
    # Bad replies while the run still waits on the first call (replies are applied in order).
    await hooks.reply(second.event_id, **output("again"))  # duplicate
    await hooks.reply("999", **output("ghost"))  # unknown
    await hooks.reply(first.event_id, **output("shipped"))
    result = await result_task
    assert result.code == grpc.StatusCode.OK
    assert [r.id for r in result.of("tool_result")] == ["P", "L"]
    history = result.last.final_response.history
    assert [(p.tool_result.id, p.tool_result.content) for p in history[2].parts] == [
        ("L", "shipped"),
        ("P", "$12"),
    ]
    errors = [r.error for r in await hooks.rest() if r.WhichOneof("response") == "error"]
    assert any("already answered" in e.message and e.event_id == second.event_id for e in errors)
    assert any("no event '999'" in e.message for e in errors)


async def test_client_tool_reply_timeout_feeds_an_error_to_the_model(hooked):
    hooks, result_task = await attached_run(
        hooked.stub,
        "late",
        [call("lookup", id="L")],
        [{"text": "gave up"}],
        tools=[LOOKUP],
        hooks=pb.HooksOptions(reply_timeout_ms=50),
    )
    await hooks.event("tool_call")
    result = await result_task
    assert result.code == grpc.StatusCode.OK
    tool_result = result.of("tool_result")[0]
    assert tool_result.is_error and "within 50 ms" in tool_result.content


# 5. Disconnects.
async def test_hooks_client_leaving_while_a_client_tool_is_pending_fails_the_run(hooked):
    hooks, result_task = await attached_run(
        hooked.stub, "gone", [call("lookup", id="L")], [{"text": "x"}], tools=[LOOKUP]
    )
    await hooks.event("tool_call")
    hooks.call.cancel()
    result = await result_task
    assert result.code == grpc.StatusCode.FAILED_PRECONDITION
    assert result.last.error.code == pb.ERROR_CODE_HOOKS_FAILED
    assert "disconnected" in result.details


async def test_observer_leaving_does_not_stop_the_run(hooked):
    hooks, result_task = await attached_run(
        hooked.stub,
        "watched",
        [call("gate")],
        [{"text": "fine"}],
        hooks=pb.HooksOptions(wait_for_client=True),
    )
    await hooks.event("tool_call")
    hooks.call.cancel()
    hooked.gate.gate.set()
    result = await result_task
    assert result.code == grpc.StatusCode.OK
    assert result.last.final_response.text == "fine"


async def test_caller_leaving_ends_the_hooks_stream(hooked):
    hooks = HookStream(hooked.stub)
    attach = asyncio.create_task(hooks.attach("abandoned"))
    call_ = hooked.stub.StreamPrompt(
        pb.StreamPromptRequest(
            prompt="go",
            run_id="abandoned",
            extra_params=script([{"text": "x"}, {"hang": True}]),
            hooks=pb.HooksOptions(wait_for_client=True),
        )
    )
    await attach
    await hooks.event("text_delta")
    call_.cancel()
    rest = await hooks.rest()
    assert rest[-1].run_ended.outcome == pb.RUN_OUTCOME_ABANDONED
    assert await hooks.call.code() == grpc.StatusCode.OK
    await wait_until(lambda: len(hooked.server.servicer.runs) == 0)


# 6. One controlling client per run; unknown runs time out.
async def test_second_attach_is_already_exists(hooked):
    first = HookStream(hooked.stub)
    attach = asyncio.create_task(first.attach("taken"))
    result_task = run(
        hooked.stub,
        "taken",
        [{"text": "x"}, {"delay_ms": 50}],
        hooks=pb.HooksOptions(wait_for_client=True),
    )
    await attach
    second = HookStream(hooked.stub)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await second.attach("taken")
    assert raised.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert (await result_task).code == grpc.StatusCode.OK


async def test_attach_to_an_unknown_run_is_not_found_after_the_timeout(start_server):
    server = await start_server(
        {**CONFIG, "server": {"hooks_attach_timeout_ms": 50}}, tools={"gate": GateTool("gate").tool}
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await HookStream(server.stub).attach("nobody")
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert "nobody" in raised.value.details()


async def test_run_id_in_use_is_already_exists(hooked):
    first = run(hooked.stub, "twin", [{"text": "x"}, {"hang": True}])
    await wait_until(lambda: len(hooked.server.servicer.runs) == 1)
    second = await collect(hooked.stub, pb.StreamPromptRequest(prompt="go", run_id="twin"))
    assert second.code == grpc.StatusCode.ALREADY_EXISTS
    assert second.last.error.code == pb.ERROR_CODE_RUN_ID_IN_USE
    first.cancel()


# 7. Bad messages.
async def test_reply_before_attach_is_invalid_argument(hooked):
    hooks = HookStream(hooked.stub)
    await hooks.reply("1", **PROCEED)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await hooks.read()
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "attach" in raised.value.details()


async def test_action_that_does_not_fit_gets_an_error_and_the_run_goes_on(hooked):
    hooks, result_task = await attached_run(
        hooked.stub, "misfit", [call("lookup", id="L")], [{"text": "ok"}], tools=[LOOKUP]
    )
    event = await hooks.event("tool_call")
    await hooks.reply(event.event_id, **PROCEED)  # a client tool must be answered
    error = (await hooks.read()).error
    assert "proceed does not fit a tool_call event" in error.message
    await hooks.reply(event.event_id, **output("fine"))
    result = await result_task
    assert result.code == grpc.StatusCode.OK
    assert result.of("tool_result")[0].content == "fine"
