"""The in-memory bus keeps a run's log compact: events serialised in one buffer, without
the run id they share, read back exactly as appended."""

from __future__ import annotations

import sys

from agentstream.v1 import agent_pb2 as pb
from agentstream_server.bus import MemoryBus, RunRecord, RunStatus

RUN_ID = "0123456789abcdef0123456789abcdef"  # as long as a server-made one


async def test_a_delta_costs_a_few_bytes_and_reads_back_as_appended() -> None:
    bus = MemoryBus()
    log = await bus.open_run(RunRecord(RUN_ID, "a"), lambda message: None)
    events = [
        pb.StreamPromptResponse(run_id=RUN_ID, seq=seq, turn=1, text_delta=pb.TextDelta(text="w "))
        for seq in range(1, 1001)
    ]
    for event in events:
        log.append(event)
    final = pb.StreamPromptResponse(
        run_id=RUN_ID, seq=1001, turn=1, final_response=pb.FinalResponse(text="w " * 1000)
    )
    log.append(final)
    log.close(RunStatus.COMPLETED)
    stored = bus._logs[RUN_ID]
    per_delta = (sys.getsizeof(stored.data) + sys.getsizeof(stored.ends)) / 1001
    assert per_delta < 24, per_delta  # a protobuf object each was about 500 bytes

    replayed = [event async for batch in bus.watch(RUN_ID, 0) for event in batch]
    assert replayed == [*events, final]
    later = [event.seq async for batch in bus.watch(RUN_ID, 990) for event in batch]
    assert later == list(range(991, 1002))
    await bus.aclose()
