"""The loop's decisions, turn by turn, with made-up model output and no I/O."""

from __future__ import annotations

import pytest
from agentstream_server.core.errors import MaxTurnsExceeded
from agentstream_server.core.events import FinishReason, ReasoningEnd, TurnFinished
from agentstream_server.core.messages import (
    Message,
    Reasoning,
    Role,
    Text,
    ToolCall,
    ToolResult,
    Usage,
)
from agentstream_server.core.run_state import CallModel, Failed, Finished, RunState, RunTools
from agentstream_server.core.turn import TurnBuilder


def assistant(*parts):
    return Message(Role.ASSISTANT, list(parts))


def finished(tokens: int = 1) -> TurnFinished:
    return TurnFinished(Usage(tokens, tokens, 2 * tokens), FinishReason.STOP)


def test_text_only_turn_finishes_with_its_text():
    state = RunState([Message.user("hi")], max_turns=3)
    step = state.next_step()
    assert isinstance(step, CallModel) and step.turn == 1
    state.record_turn(assistant(Text("hello")), finished())
    done = state.next_step()
    assert isinstance(done, Finished)
    assert done.response.text == "hello" and done.response.turns == 1
    assert [m.role for m in done.response.history] == [Role.USER, Role.ASSISTANT]


def test_turn_with_text_and_tool_calls_is_followed_by_tools_then_another_turn():
    state = RunState([Message.user("hi")], max_turns=3)
    state.next_step()
    call = ToolCall("c1", "calc", "{}")
    # Text after the call, finish reason "stop": still a tool turn.
    state.record_turn(assistant(call, Text("let me check")), finished())
    assert state.next_step() == RunTools([call])
    state.record_tool_results([ToolResult("c1", "42")])
    step = state.next_step()
    assert isinstance(step, CallModel) and step.turn == 2


def test_max_turns_allows_exactly_n_model_calls_and_runs_the_last_tools():
    state = RunState([Message.user("hi")], max_turns=2)
    calls = 0
    while True:
        step = state.next_step()
        if isinstance(step, CallModel):
            calls += 1
            state.record_turn(assistant(ToolCall(f"c{calls}", "t", "{}")), finished())
        elif isinstance(step, RunTools):
            state.record_tool_results([ToolResult(c.id, "ok") for c in step.calls])
        else:
            break
    assert calls == 2
    assert isinstance(step, Failed) and isinstance(step.error, MaxTurnsExceeded)
    # The history ends with the last turn's tool results, so it can be continued.
    assert state.history[-1].role is Role.USER
    assert state.history[-1].tool_results[0].id == "c2"


def test_usage_is_the_sum_of_all_turns():
    state = RunState([Message.user("hi")], max_turns=3)
    state.next_step()
    state.record_turn(assistant(ToolCall("c1", "t", "{}")), finished(3))
    state.next_step()
    state.record_tool_results([ToolResult("c1", "x")])
    state.next_step()
    state.record_turn(assistant(Text("done")), finished(4))
    done = state.next_step()
    assert isinstance(done, Finished)
    assert done.response.usage == Usage(7, 7, 14)


def test_tool_results_must_answer_the_calls_in_order():
    state = RunState([Message.user("hi")], max_turns=3)
    state.next_step()
    state.record_turn(assistant(ToolCall("a", "t", "{}"), ToolCall("b", "t", "{}")), finished())
    with pytest.raises(ValueError):
        state.record_tool_results([ToolResult("b", "x"), ToolResult("a", "y")])


def test_turn_builder_keeps_parts_in_produced_order():
    builder = TurnBuilder()
    builder.reasoning("thinking ")
    builder.reasoning("hard")
    builder.end_reasoning(ReasoningEnd(signature="sig"))
    builder.text("Hello ")
    builder.text("world")
    builder.tool_call(ToolCall("c1", "calc", "{}"))
    builder.text("after")
    builder.end_reasoning(ReasoningEnd(encrypted_content="opaque"))
    assert builder.message().parts == [
        Reasoning("thinking hard", "sig"),
        Text("Hello world"),
        ToolCall("c1", "calc", "{}"),
        Text("after"),
        Reasoning("", "", "opaque"),
    ]
