"""The loop rules, each over real gRPC on loopback with the offline model scripted."""

from __future__ import annotations

import asyncio
import json

import grpc
import pytest
from agentstream.v1 import agent_pb2 as pb

from .helpers import collect, script, wait_until
from .tools import FAILING, GateTool


def config(**agent):
    return {
        "agents": [
            {"name": "a", "provider": "offline", "model": "m", "max_turns": 5, **agent},
        ]
    }


def call(name, arguments=None, id=None):
    spec = {"name": name, "arguments": arguments or {}}
    if id:
        spec["id"] = id
    return {"tool_call": spec}


# 1. max_turns = n allows exactly n model calls, then continues from the history.
async def test_max_turns_allows_exactly_n_calls_then_continues(start_server):
    server = await start_server(config(tools=["calculator"]))
    calc = call("calculator", {"expression": "1+1"})
    turns = script([calc], [calc], [{"text": "done"}])
    first = await collect(
        server.stub, pb.StreamPromptRequest(prompt="go", max_turns=2, extra_params=turns)
    )
    assert first.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert len(first.of("turn_finished")) == 2
    # The last call's tools ran before the run failed.
    assert first.kinds()[-2:] == ["tool_result", "error"]
    error = first.last.error
    assert error.code == pb.ERROR_CODE_MAX_TURNS_EXCEEDED
    assert "max_turns" in first.details
    assert error.history[-1].parts[0].tool_result.content == "2"

    second = await collect(
        server.stub, pb.StreamPromptRequest(history=error.history, extra_params=turns)
    )
    assert second.code == grpc.StatusCode.OK
    final = second.last.final_response
    assert final.text == "done"
    assert len(final.history) == len(error.history) + 1


# 2. Each assistant turn is one message (reasoning, text, calls in order);
#    all tool results of a turn are one user message, in call order.
async def test_history_holds_every_part_in_order(start_server):
    slow, fast = GateTool("slow", "slow result"), GateTool("fast", "fast result")
    server = await start_server(
        config(tools=["slow", "fast"]), tools={"slow": slow.tool, "fast": fast.tool}
    )
    turns = script(
        [
            {"reasoning": "think first", "signature": "sig-1"},
            {"text": "Calling two tools."},
            call("slow", id="s"),
            call("fast", id="f"),
        ],
        [{"text": "All done."}],
    )
    task = asyncio.create_task(
        collect(server.stub, pb.StreamPromptRequest(prompt="go", extra_params=turns))
    )
    await wait_until(lambda: slow.started and fast.started)
    fast.gate.set()  # the second call completes first
    await wait_until(lambda: fast.running == 0)
    slow.gate.set()
    result = await task

    assert [r.id for r in result.of("tool_result")] == ["f", "s"]  # as they complete
    history = result.last.final_response.history
    assert [m.role for m in history] == [
        pb.ROLE_USER,
        pb.ROLE_ASSISTANT,
        pb.ROLE_USER,
        pb.ROLE_ASSISTANT,
    ]
    turn1 = history[1].parts
    assert [p.WhichOneof("part") for p in turn1] == ["reasoning", "text", "tool_call", "tool_call"]
    assert turn1[0].reasoning.text == "think first" and turn1[0].reasoning.signature == "sig-1"
    assert turn1[1].text == "Calling two tools."
    assert [p.tool_result.id for p in history[2].parts] == ["s", "f"]  # call order
    assert [p.tool_result.content for p in history[2].parts] == ["slow result", "fast result"]


# 3. Every tool_call gets exactly one tool_result; calls run concurrently, bounded.
async def test_tool_calls_run_concurrently_within_the_agent_bound(start_server):
    gate = GateTool("gate")
    server = await start_server(
        config(tools=["gate"], tool_concurrency=2), tools={"gate": gate.tool}
    )
    turns = script([call("gate") for _ in range(5)], [{"text": "ok"}])
    task = asyncio.create_task(
        collect(server.stub, pb.StreamPromptRequest(prompt="go", extra_params=turns))
    )
    await wait_until(lambda: gate.running == 2)
    gate.gate.set()
    result = await task
    assert result.code == grpc.StatusCode.OK
    assert gate.max_running == 2 and gate.started == 5
    calls = [c.id for c in result.of("tool_call")]
    results = [r.id for r in result.of("tool_result")]
    assert len(calls) == 5 and sorted(results) == sorted(calls)
    for call_id in calls:  # each result comes after its call
        kinds = [
            (
                e.WhichOneof("event"),
                getattr(e, e.WhichOneof("event")).id
                if e.WhichOneof("event") in ("tool_call", "tool_result")
                else "",
            )
            for e in result.events
        ]
        assert kinds.index(("tool_call", call_id)) < kinds.index(("tool_result", call_id))


# 4. A failing tool or an unknown tool gives an is_error result the model sees.
async def test_failing_and_unknown_tools_feed_errors_back(start_server):
    server = await start_server(config(tools=["failing"]), tools={"failing": FAILING})
    turns = script([call("failing", id="f"), call("nope", id="n")], [{"text": "recovered"}])
    result = await collect(server.stub, pb.StreamPromptRequest(prompt="go", extra_params=turns))
    assert result.code == grpc.StatusCode.OK
    by_id = {r.id: r for r in result.of("tool_result")}
    assert by_id["f"].is_error and "disk on fire" in by_id["f"].content
    assert by_id["n"].is_error and "unknown tool 'nope'" in by_id["n"].content
    history = result.last.final_response.history
    assert all(p.tool_result.is_error for p in history[2].parts)
    assert result.last.final_response.text == "recovered"


# 5. turn_finished for every turn, tool-only turns included; final usage is the sum.
async def test_every_turn_reports_usage_and_the_final_usage_is_the_sum(start_server):
    server = await start_server(config(tools=["calculator"]))
    turns = script(
        [
            call("calculator", {"expression": "2*3"}),
            {"usage": {"input_tokens": 10, "output_tokens": 3}},
        ],
        [
            {"text": "six"},
            {"usage": {"input_tokens": 20, "output_tokens": 1, "cache_read_input_tokens": 5}},
        ],
    )
    result = await collect(server.stub, pb.StreamPromptRequest(prompt="go", extra_params=turns))
    finished = result.of("turn_finished")
    assert [f.finish_reason for f in finished] == [
        pb.FINISH_REASON_TOOL_CALLS,
        pb.FINISH_REASON_STOP,
    ]
    assert [e.turn for e in result.events if e.WhichOneof("event") == "turn_finished"] == [1, 2]
    usage = result.last.final_response.usage
    assert (usage.input_tokens, usage.output_tokens, usage.cache_read_input_tokens) == (30, 4, 5)
    assert result.last.final_response.turns == 2


async def test_tool_call_before_text_still_gets_another_turn(start_server):
    server = await start_server(config(tools=["calculator"]))
    turns = script(
        [
            call("calculator", {"expression": "1"}),
            {"text": "I called it."},
            {"finish_reason": "stop"},
        ],
        [{"text": "final"}],
    )
    result = await collect(server.stub, pb.StreamPromptRequest(prompt="go", extra_params=turns))
    assert result.last.final_response.text == "final"
    assert result.last.final_response.turns == 2


# 7. Argument fragments are forwarded as they arrive, before the complete call.
async def test_tool_call_deltas_stream_before_the_complete_call(start_server):
    server = await start_server(config(tools=["calculator"]))
    arguments = {"expression": "(1 + 2) * (3 + 4) - 5"}
    turns = script([call("calculator", arguments, id="c")], [{"text": "ok"}])
    result = await collect(server.stub, pb.StreamPromptRequest(prompt="go", extra_params=turns))
    kinds = result.kinds()
    deltas = result.of("tool_call_delta")
    assert len(deltas) > 1
    assert deltas[0].name == "calculator" and all(d.name == "" for d in deltas[1:])
    assert json.loads("".join(d.arguments_delta for d in deltas)) == arguments
    assert kinds.index("tool_call") > max(i for i, k in enumerate(kinds) if k == "tool_call_delta")


# 6. Cancellation or a passed deadline stops everything: model call, tools, tasks.
async def test_cancel_mid_stream_closes_the_model_call(start_server, caplog):
    server = await start_server(config())
    turns = script([{"text": "partial"}, {"hang": True}])
    call_ = server.stub.StreamPrompt(pb.StreamPromptRequest(prompt="go", extra_params=turns))
    tasks_before = len(asyncio.all_tasks())
    async for event in call_:
        if event.WhichOneof("event") == "text_delta":
            break
    assert server.offline.open_streams == 1
    call_.cancel()
    await wait_until(lambda: server.offline.open_streams == 0)
    await wait_until(lambda: len(asyncio.all_tasks()) <= tasks_before)
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


async def test_cancel_while_tools_run_cancels_them(start_server, caplog):
    gate = GateTool("gate")
    server = await start_server(config(tools=["gate"]), tools={"gate": gate.tool})
    turns = script([call("gate"), call("gate")], [{"text": "never"}])
    call_ = server.stub.StreamPrompt(pb.StreamPromptRequest(prompt="go", extra_params=turns))
    async for event in call_:
        if event.WhichOneof("event") == "turn_finished":
            break
    await wait_until(lambda: gate.running == 2)
    call_.cancel()
    await wait_until(lambda: gate.cancelled == 2 and gate.running == 0)
    assert gate.started == 2
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


async def test_deadline_stops_the_run(start_server, caplog):
    gate = GateTool("gate")
    server = await start_server(config(tools=["gate"]), tools={"gate": gate.tool})
    turns = script([call("gate")], [{"text": "never"}])
    result = await collect(
        server.stub, pb.StreamPromptRequest(prompt="go", extra_params=turns), timeout=0.5
    )
    assert result.code == grpc.StatusCode.DEADLINE_EXCEEDED
    await wait_until(lambda: gate.cancelled == 1 and gate.running == 0)
    assert server.offline.open_streams == 0
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


async def test_provider_error_mid_stream_ends_with_error_and_history(start_server):
    server = await start_server(config(tools=["calculator"]))
    turns = script(
        [call("calculator", {"expression": "1"})],
        [{"text": "half"}, {"error": {"message": "upstream reset", "retryable": True}}],
    )
    result = await collect(server.stub, pb.StreamPromptRequest(prompt="go", extra_params=turns))
    assert result.code == grpc.StatusCode.UNAVAILABLE
    error = result.last.error
    assert error.code == pb.ERROR_CODE_PROVIDER_UNAVAILABLE and error.retryable
    assert "upstream reset" in error.message
    assert len(error.history) == 3  # prompt, the tool turn, its results


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.StreamPromptRequest(), "prompt"),
        (pb.StreamPromptRequest(prompt="x", max_turns=0), "max_turns"),
        (pb.StreamPromptRequest(prompt="x", temperature=3), "temperature"),
        (pb.StreamPromptRequest(prompt="x", run_id="bad id!"), "run_id"),
        (pb.StreamPromptRequest(history=[pb.Message(role=pb.ROLE_USER)]), "history[0].parts"),
        (
            pb.StreamPromptRequest(history=[pb.Message(parts=[pb.ContentPart(text="x")])]),
            "history[0].role",
        ),
        (
            pb.StreamPromptRequest(prompt="x", tools=[pb.ToolDefinition(name="has space")]),
            "tools[0].name",
        ),
        (
            pb.StreamPromptRequest(prompt="x", tools=[pb.ToolDefinition(name="calculator")]),
            "tools[0].name",
        ),
        (
            pb.StreamPromptRequest(
                prompt="x",
                tool_choice=pb.ToolChoice(mode=pb.TOOL_CHOICE_MODE_TOOL, tool_name="ghost"),
            ),
            "tool_choice.tool_name",
        ),
        (
            pb.StreamPromptRequest(
                history=[pb.Message(role=pb.ROLE_ASSISTANT, parts=[pb.ContentPart(text="x")])]
            ),
            "prompt",
        ),
    ],
)
async def test_bad_requests_get_invalid_argument_naming_the_field(server, request_, field):
    result = await collect(server.stub, request_)
    assert result.code == grpc.StatusCode.INVALID_ARGUMENT
    assert result.details.startswith(field + ":"), result.details
    assert result.kinds() == ["error"]
    assert result.last.error.code == pb.ERROR_CODE_INVALID_ARGUMENT


async def test_unknown_agent_is_not_found(server):
    result = await collect(server.stub, pb.StreamPromptRequest(agent="ghost", prompt="hi"))
    assert result.code == grpc.StatusCode.NOT_FOUND
    assert "ghost" in result.details
    assert result.last.error.code == pb.ERROR_CODE_AGENT_NOT_FOUND
