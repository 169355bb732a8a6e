"""Requests as bytes: what cannot be decoded is INVALID_ARGUMENT (defect 10), never UNKNOWN
with a traceback; huge requests are refused before they cost anything (defect 9)."""

from __future__ import annotations

import grpc
import pytest
from agentstream.v1 import agent_pb2 as pb
from google.protobuf import struct_pb2

from ..helpers import collect
from .conftest import assert_healthy, server_errors


def _deep_struct_request(depth: int) -> bytes:
    """A request whose extra_params nest deeper than protobuf's recursion limit. Python
    protobuf refuses to build one, so the bytes are put together by hand."""
    value = struct_pb2.Value(number_value=1).SerializeToString()
    for _ in range(depth):
        entry = b"\x0a\x01a" + b"\x12" + _varint(len(value)) + value  # map entry {"a": value}
        struct = b"\x0a" + _varint(len(entry)) + entry  # Struct.fields
        value = b"\x2a" + _varint(len(struct)) + struct  # Value.struct_value
    struct = pb.StreamPromptRequest.DESCRIPTOR.fields_by_name["extra_params"].number
    inner = value[1 + len(_varint_prefix(value)) :]
    tag = bytes([(struct << 3) | 2])
    return (
        pb.StreamPromptRequest(prompt="hi").SerializeToString() + tag + _varint(len(inner)) + inner
    )


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _varint_prefix(value: bytes) -> bytes:
    """The length prefix after a field tag at value[0]."""
    i = 1
    while value[i] & 0x80:
        i += 1
    return value[1 : i + 1]


def _bad_utf8() -> bytes:
    return pb.StreamPromptRequest(prompt="E").SerializeToString().replace(b"E", b"\xff")


UNDECODABLE = {
    "invalid UTF-8 in a string": _bad_utf8,
    "Struct nested past protobuf's recursion limit": lambda: _deep_struct_request(120),
    "truncated bytes": lambda: pb.StreamPromptRequest(prompt="hello").SerializeToString()[:-2],
    "a wrong wire type": lambda: b"\x12\xff\xff\xff\xff\x0f",
}


@pytest.mark.parametrize("build", UNDECODABLE.values(), ids=list(UNDECODABLE))
async def test_a_request_that_cannot_be_decoded_is_invalid_argument(robust, build, caplog):
    call = robust.channel.unary_stream(
        "/agentstream.v1.AgentService/StreamPrompt",
        request_serializer=lambda data: data,
        response_deserializer=pb.StreamPromptResponse.FromString,
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        async for _ in call(build(), timeout=10):
            pass
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details().startswith("request: cannot be decoded")
    assert not server_errors(caplog.records)
    await assert_healthy(robust)


async def test_a_400k_message_history_is_refused_by_count_before_conversion(start_server):
    """Defect 9: converting it once blocked the event loop for about 3 s."""
    server = await start_server({"agents": [{"name": "a", "provider": "offline", "model": "m"}]})
    message = pb.Message(role=pb.ROLE_USER, parts=[pb.ContentPart(text="h")])
    request = pb.StreamPromptRequest(agent="a", prompt="go", history=[message] * 400_000)
    result = await collect(server.stub, request, timeout=30)
    assert result.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "400000 messages is over the limit of 4096 (limits.max_history_messages)" in (
        result.details
    )
    await assert_healthy(server)


async def test_a_history_at_the_limit_is_converted_and_answered(start_server):
    server = await start_server({"agents": [{"name": "a", "provider": "offline", "model": "m"}]})
    message = pb.Message(role=pb.ROLE_USER, parts=[pb.ContentPart(text="h")])
    request = pb.StreamPromptRequest(agent="a", prompt="go", history=[message] * 4095)
    result = await collect(server.stub, request, timeout=30)
    assert result.code == grpc.StatusCode.OK
    assert len(result.last.final_response.history) == 4097


async def test_a_write_to_a_caller_that_is_gone_ends_the_run_as_abandoned():
    """Defect 12: after a long flow-control stall, a cancel made the pending write fail with
    ExecuteBatchError, which was logged as an ERROR with a traceback, as if it were a bug.
    (Reproducing the stall takes 25 s, so the write's failure is made up here.)"""
    from types import SimpleNamespace

    from agentstream_server.core.events import TextDelta
    from agentstream_server.service.servicer import CallerGone, _Emitter

    async def failing_write(message: pb.StreamPromptResponse) -> None:
        raise RuntimeError('Failed "execute_batch"')

    run = SimpleNamespace(spec=SimpleNamespace(run_id="r"), turn=1)
    log = SimpleNamespace(append=lambda message: None)
    emit = _Emitter(run, log, failing_write, 1 << 20)  # type: ignore[arg-type]
    with pytest.raises(CallerGone):  # a CancelledError: the run's caller went away
        await emit(TextDelta("x"))
