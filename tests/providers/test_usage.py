"""One usage convention for every provider: `output_tokens` counts all the model generated,
reasoning included; `reasoning_tokens` is the part spent on reasoning; `total_tokens` is as
the provider reports it."""

from __future__ import annotations

from typing import Any

import pytest
from agentstream_server.core.events import TurnFinished
from agentstream_server.core.messages import Message, Usage
from agentstream_server.core.model import ModelRequest, ToolSpec
from agentstream_server.providers.anthropic_messages import MessagesInterpreter
from agentstream_server.providers.gemini import GeminiInterpreter
from agentstream_server.providers.offline import OfflineProvider
from agentstream_server.providers.openai_chat import ChatInterpreter
from agentstream_server.providers.openai_responses import ResponsesInterpreter

from .replay import interpret

CASES: list[tuple[Any, str, Usage]] = [
    # reasoning_tokens sits inside completion_tokens
    (ChatInterpreter, "openai_chat/quirks.sse", Usage(80, 31, 111, 64, 0, 9)),
    (
        ChatInterpreter,
        "openai_chat/openrouter_reasoning_details.sse",
        Usage(580, 64, 644, 0, 0, 21),
    ),
    (ResponsesInterpreter, "openai_responses/text.sse", Usage(11, 5, 16)),
    # thinking_tokens sits inside output_tokens; Anthropic reports no total
    (
        MessagesInterpreter,
        "anthropic/thinking_tokens_signature_start.sse",
        Usage(52, 31, 83, 0, 0, 27),
    ),
    # candidatesTokenCount 703 + thoughtsTokenCount 713; totalTokenCount as reported
    (GeminiInterpreter, "gemini/thinking.sse", Usage(11, 1416, 1427, 0, 0, 713)),
    (GeminiInterpreter, "gemini/max_tokens.sse", Usage(9, 47, 56, 0, 0, 32)),
]


@pytest.mark.parametrize(("interpreter", "name", "usage"), CASES, ids=[c[1] for c in CASES])
def test_usage_convention(interpreter: Any, name: str, usage: Usage) -> None:
    finished = interpret(interpreter("p"), name)[-1]
    assert isinstance(finished, TurnFinished)
    assert finished.usage == usage
    assert finished.usage.output_tokens >= finished.usage.reasoning_tokens


async def test_offline_model_counts_its_reasoning_words_in_output() -> None:
    tool = ToolSpec("calculator", "", {"type": "object", "properties": {}})
    request = ModelRequest("offline-1", [Message.user("What is 6 * 7?")], tools=[tool])
    events = [e async for e in OfflineProvider("offline").stream(request)]
    usage = events[-1].usage
    reasoning_words = sum(1 for e in events if type(e).__name__ == "ReasoningDelta")
    assert usage.reasoning_tokens == reasoning_words > 0
    assert usage.output_tokens == reasoning_words  # a tool turn: reasoning, then calls
