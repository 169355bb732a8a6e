"""Redis unreachable for longer than `write_retry_s`: a real server process, a real
redis-server stopped and started again.

The run goes on for its caller; the events it made while Redis was away are given up, so
a later watcher is told so (OUT_OF_RANGE naming the seq) instead of being handed a gap;
the run still ends in the log, as it ended, once Redis is back.
"""

from __future__ import annotations

import asyncio

import grpc
from agentstream.v1 import agent_pb2 as pb

from .helpers import script
from .processes import ServerProcess
from .redis_server import RedisServer
from .test_redis_replicas import AGENTS, LOOKUP, drain, next_of, until_logged


async def until_in_log(server, text, within=20.0):
    """Waits until the server process has logged `text` (it has done what it says)."""
    deadline = asyncio.get_running_loop().time() + within
    while text not in server.log():
        assert asyncio.get_running_loop().time() < deadline, f"never logged {text!r}"
        await asyncio.sleep(0.02)


async def test_events_given_up_while_redis_is_down_are_out_of_range_for_a_later_watcher(
    tmp_path,
):
    redis = RedisServer()
    redis.start()
    server = None
    try:
        # write_retry_s 0: one attempt, then the events are given up. The lease outlives
        # the outage, so nobody takes the run for lost meanwhile.
        bus = {"type": "redis", "url": redis.url, "write_retry_s": 0, "lease_s": 30}
        server = ServerProcess({"agents": AGENTS, "bus": bus}, tmp_path).wait_ready()
        turns = [
            [{"text": "before"}, {"tool_call": {"name": "lookup", "arguments": {}}}],
            [{"text": "during"}],
        ]
        request = pb.StreamPromptRequest(
            prompt="go", run_id="gone-1", tools=[LOOKUP], extra_params=script(*turns)
        )
        call = server.stub.StreamPrompt(request)
        hooks = server.stub.Hooks()
        await hooks.write(pb.HooksRequest(attach=pb.HookAttach(run_id="gone-1")))
        tool_call = await next_of(hooks, "tool_call")  # the run waits for its client tool
        seen = []
        async for event in call:
            seen.append(event)
            if event.WhichOneof("event") == "tool_call":
                break
        await until_logged(server.stub, "gone-1", seen[-1].seq)
        redis.stop()
        reply = pb.HookReply(event_id=tool_call.event_id, tool_output=pb.HookToolOutput())
        await hooks.write(pb.HooksRequest(reply=reply))
        rest, code = await drain(call)
        assert code == grpc.StatusCode.OK  # the caller never noticed
        assert rest[-1].final_response.text == "during"
        await until_in_log(server, "queued event(s) given up")
        redis.start()
        # The run's end reaches the log once Redis is back, so the run is not taken for
        # lost; the events in between never will.
        call = server.stub.WatchRun(pb.WatchRunRequest(run_id="gone-1"))
        watched, code = await drain(call)
        assert code == grpc.StatusCode.OUT_OF_RANGE, await call.details()
        direct = seen + rest
        # What reached Redis before it went away, then the gap is named, not skipped.
        assert len(seen) <= len(watched) < len(direct)
        assert watched == direct[: len(watched)]
        gap = f"after seq {watched[-1].seq}"
        assert gap in await call.details()
        call = server.stub.WatchRun(pb.WatchRunRequest(run_id="gone-1", after_seq=len(watched)))
        assert await drain(call) == ([], grpc.StatusCode.OUT_OF_RANGE)
        assert gap in await call.details()
        info = (await server.stub.GetRun(pb.GetRunRequest(run_id="gone-1"))).run
        assert info.state == pb.RUN_STATE_COMPLETED and info.last_seq == direct[-1].seq
    finally:
        if server is not None:
            await server.close()
        redis.close()
