"""A hooks session's own bookkeeping, without a server: which tokens reach it, and the
turn's text behind `aggregated`."""

from __future__ import annotations

from agentstream.v1 import agent_pb2 as pb
from agentstream_server.service.hook_events import TurnText
from agentstream_server.service.hooks import HookSession, HookSettings

SETTINGS = HookSettings(
    wait_for_client=False,
    attach_timeout_s=1,
    reply_timeout_s=1,
    buffer_events=8,
    observer_flush_s=0,
)


async def test_tokens_reach_the_session_only_for_a_client_that_takes_deltas():
    session = HookSession("r", SETTINGS, frozenset())
    assert not session.wants_deltas
    tools_only = session.attach(frozenset({pb.HOOK_EVENT_KIND_TOOL_CALL}), frozenset())
    assert not session.wants_deltas  # a helper serving client tools pays nothing per token
    session.detach(tools_only)
    session.attach(frozenset({pb.HOOK_EVENT_KIND_REASONING_DELTA}), frozenset())
    assert session.wants_deltas
    every_kind = HookSession("s", SETTINGS, frozenset())
    every_kind.attach(frozenset(), frozenset())  # empty: all kinds
    assert every_kind.wants_deltas


def test_turn_text_is_aggregated_up_to_its_limit_and_not_past_it():
    text = TurnText(1, limit=6)
    for piece in ("ab", "cd", "ef"):
        text.add(piece)
    assert (text.upto(1), text.upto(3), text.upto(2)) == ("ab", "abcdef", "abcd")
    text.add("g")  # 7 characters: over the limit
    assert (text.count, text.upto(4), text.upto(3)) == (4, "", "abcdef")
