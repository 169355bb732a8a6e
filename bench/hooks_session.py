"""The hooks session's own CPU, in-process and without gRPC: what bench/hooks.py and
bench/observer.py measure minus the wire, steady on a loaded machine (best of several runs).

- blocking: a run's text deltas each wait for a `proceed` from a client task that takes
  the event from the outbox, serializes it and replies;
- observer: an observe-only client of 20,000 tokens whose reader takes one merged event
  per 10 tokens (the producer yields to it that often; the same loop without a session is
  subtracted), with and without `aggregated`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

from agentstream.v1 import agent_pb2 as pb
from agentstream_server.core.events import TextDelta
from agentstream_server.service.hooks import HookSession, HookSettings

SETTINGS = HookSettings(
    wait_for_client=False,
    attach_timeout_s=1,
    reply_timeout_s=30,
    buffer_events=256,
    observer_flush_s=0.002,
)
# The reader is woken at once; the producer yielding every EVENT_TOKENS tokens makes the
# events, as a 2 ms flush window does for a model streaming ~5,000 tokens/s.
OBSERVING = dataclasses.replace(SETTINGS, observer_flush_s=0)
TEXT = pb.HOOK_EVENT_KIND_TEXT_DELTA
TOKEN = TextDelta("word ")
EVENT_TOKENS = 10


async def blocking_round_trip(tokens: int = 2000) -> float:
    """CPU seconds per blocking round trip."""
    session = HookSession("bench", SETTINGS, frozenset())
    outbox = session.attach(frozenset({TEXT}), frozenset({TEXT}), True)

    async def client() -> None:
        while (response := await outbox.get()) is not None:
            response.SerializeToString()
            session.reply(pb.HookReply(event_id=response.event.event_id, proceed=pb.HookProceed()))

    replying = asyncio.create_task(client())
    began = time.process_time()
    for _ in range(tokens):
        await session.delta(1, TOKEN)
    cpu = (time.process_time() - began) / tokens
    outbox.close()
    await replying
    return cpu


async def _produce(tokens: int, session: HookSession | None) -> float:
    began = time.process_time()
    for i in range(tokens):
        if session is not None:
            await session.delta(1, TOKEN)
        if i % EVENT_TOKENS == EVENT_TOKENS - 1:
            await asyncio.sleep(0)
    return (time.process_time() - began) / tokens


async def observed_token(aggregated: bool, tokens: int = 20_000) -> float:
    """CPU seconds per token an observe-only client adds (events built and serialized)."""
    session = HookSession("bench", OBSERVING, frozenset())
    outbox = session.attach(frozenset(), frozenset(), aggregated)

    async def client() -> None:
        while (response := await outbox.get()) is not None:
            response.SerializeToString()

    reading = asyncio.create_task(client())
    cpu = await _produce(tokens, session)
    outbox.close()
    await reading
    return cpu - await _produce(tokens, None)


async def main() -> None:
    round_trip = min([await blocking_round_trip() for _ in range(7)])
    full = min([await observed_token(True) for _ in range(3)])
    omit = min([await observed_token(False) for _ in range(3)])
    print(f"blocking round trip, session only: {round_trip * 1e6:.1f} us CPU")
    print(
        f"observer, session only, per token : {full * 1e6:.2f} us CPU "
        f"({omit * 1e6:.2f} omitting aggregated)"
    )
