"""Bad StreamPrompt requests, as a table: each gets the right status, a message naming the
field or limit (short, whatever the input's size), and the server stays well."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import grpc
import pytest
from agentstream.v1 import agent_pb2 as pb

from ..helpers import collect, script
from .conftest import assert_healthy

INVALID = grpc.StatusCode.INVALID_ARGUMENT


@dataclass(frozen=True)
class Case:
    name: str
    request: Callable[[], pb.StreamPromptRequest]
    code: grpc.StatusCode
    names: str  # the field or limit the status message must start with or mention


def _req(**fields: object) -> Callable[[], pb.StreamPromptRequest]:
    def build() -> pb.StreamPromptRequest:
        base = {"agent": "a", "prompt": "hi", "extra_params": script([{"text": "ok"}])}
        return pb.StreamPromptRequest(**{**base, **fields})

    return build


CASES = [
    Case("agent name of 20 KB", _req(agent="n" * 20_000), grpc.StatusCode.NOT_FOUND, "agent:"),
    Case("run id of 20 KB", _req(run_id="r" * 20_000), INVALID, "run_id:"),
    Case("run id of 10 KB", _req(run_id="r" * 10_000), INVALID, "run_id:"),
    Case("run id with a slash", _req(run_id="a/b"), INVALID, "run_id:"),
    Case("run id with spaces", _req(run_id="a b"), INVALID, "run_id:"),
    Case("run id of odd unicode", _req(run_id="\uff52\uff55\uff4e\u200b"), INVALID, "run_id:"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_bad_request(robust, case: Case) -> None:
    result = await collect(robust.stub, case.request(), timeout=20)
    assert result.code == case.code, result.details
    assert case.names in result.details
    assert len(result.details) < 1000
    assert result.last.error.message == result.details
    await assert_healthy(robust)
