"""The default agent over real gRPC: a tool round trip and a final answer."""

from __future__ import annotations

import logging

import grpc
from agentstream.v1 import agent_pb2 as pb

from .helpers import collect


async def test_default_agent_round_trip(server, caplog):
    caplog.set_level(logging.INFO, logger="agentstream_server")
    result = await collect(server.stub, pb.StreamPromptRequest(prompt="What is 6 * 7?"))
    assert result.code == grpc.StatusCode.OK
    assert result.kinds()[0] == "run_started"
    assert result.kinds()[-1] == "final_response"
    results = {r.name: r for r in result.of("tool_result")}
    assert results["calculator"].content == "42"
    assert "42" in result.last.final_response.text
    assert [e.seq for e in result.events] == list(range(1, len(result.events) + 1))
    # One log line per run, with what an operator needs to find it.
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("run ")]
    assert f"run {result.last.run_id} agent=assistant completed turns=2" in line
