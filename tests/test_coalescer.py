"""The coalescer on its own: the window holds even when the run never lets the loop run."""

from __future__ import annotations

import asyncio

from agentstream.v1 import agent_pb2 as pb
from agentstream_server.core.events import TextDelta
from agentstream_server.service.delivery import Coalescer, Ticks

WINDOW_MS = 5


class StuckLoop:
    """What a run sees when its provider's reads are already buffered: deltas come back to
    back and the loop never gets to run the window's timer. Its clock is set by the test."""

    def __init__(self) -> None:
        self.now = 0.0

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: object) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_later(3600, lambda: None)  # never fires here


async def test_a_held_delta_leaves_within_the_window_when_the_loop_never_runs() -> None:
    sent: list[pb.StreamPromptResponse] = []

    async def deliver(message: pb.StreamPromptResponse) -> None:
        sent.append(message)

    coalescer = Coalescer("run", WINDOW_MS / 1000, deliver, Ticks())
    clock = coalescer._loop = StuckLoop()  # type: ignore[assignment]
    for ms in range(40):  # a delta every millisecond, never suspending
        clock.now = ms / 1000
        await coalescer.delta(TextDelta(f"{ms},"), 1)
    await coalescer.send(pb.StreamPromptResponse(run_id="run"))  # sends what is held
    texts = [m.text_delta.text for m in sent if m.HasField("text_delta")]
    assert "".join(texts) == "".join(f"{ms}," for ms in range(40))
    assert len(texts) == 7  # 6 deltas a window (0..5, 6..11, ...), then the 4 held at the end
    # Each message went with the first delta at or past its first delta's window.
    for text in texts[:-1]:
        times = [int(ms) for ms in text.split(",")[:-1]]
        assert times[-1] - times[0] == WINDOW_MS
    assert [m.text_delta.merged for m in sent[:-1]] == [len(t.split(",")) - 2 for t in texts]
