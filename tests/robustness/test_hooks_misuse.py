"""Hooks misuse: each case gets a clear answer naming the field, and the server stays well."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import grpc
from agentstream.v1 import agent_pb2 as pb
from agentstream_server.credentials import ANONYMOUS
from agentstream_server.service.auth import run_key
from agentstream_server.service.hook_outbox import Outbox
from agentstream_server.service.runs import RunRegistry

from ..helpers import collect, script, wait_until
from ..hooks_client import PROCEED, HookStream
from .conftest import assert_healthy

CLIENT_TOOL = pb.ToolDefinition(name="lookup", description="look up")


def _run(server, run_id, *turns, **fields):
    request = pb.StreamPromptRequest(
        agent="a", prompt="go", run_id=run_id, extra_params=script(*turns), **fields
    )
    return asyncio.create_task(collect(server.stub, request, timeout=20))


async def _attached(server, run_id, *turns, blocking=(), **fields):
    hooks = HookStream(server.stub)
    attach = asyncio.create_task(hooks.attach(run_id, (), blocking))
    result = _run(server, run_id, *turns, hooks=pb.HooksOptions(wait_for_client=True), **fields)
    await attach
    return hooks, result


async def test_odd_digit_event_ids_get_an_error_and_replies_still_work(robust):
    """Defect 2: "²" and 5,000-digit ids once killed the reply reader silently."""
    hooks, result = await _attached(
        robust, "odd-ids", [{"text": "done"}], blocking=(pb.HOOK_EVENT_KIND_COMPLETION_FINISHED,)
    )
    finished = await hooks.event("completion_finished")
    for odd in ("²", "7" * 5000, "-1", "0x1", " 1"):
        await hooks.reply(odd, **PROCEED)
        error = (await hooks.read()).error
        assert error.message.startswith("reply.event_id: no event")
        assert len(error.message) < 200  # quoted, not copied whole
    await hooks.reply(finished.event_id, **PROCEED)  # the reader is still alive
    assert (await result).code == grpc.StatusCode.OK
    await assert_healthy(robust)


async def test_abandoned_attaches_leave_nothing_in_the_registry(robust):
    """Defect 7: attaches to runs that never start, abandoned by their clients."""
    calls = []
    for i in range(50):
        call = robust.stub.Hooks()
        await call.write(pb.HooksRequest(attach=pb.HookAttach(run_id=f"never-{i}")))
        calls.append(call)
    registry = robust.server.servicer.runs
    await wait_until(lambda: registry.waiting_attaches == 50)
    for call in calls:
        call.cancel()
    await wait_until(lambda: registry.waiting_attaches == 0)
    await assert_healthy(robust)


async def test_a_waiter_that_leaves_does_not_strand_another_waiting_for_the_same_run():
    registry = RunRegistry()
    staying = asyncio.create_task(registry.find(run_key(ANONYMOUS, "shared"), 5))
    leaving = asyncio.create_task(registry.find(run_key(ANONYMOUS, "shared"), 5))
    await wait_until(lambda: registry.waiting_attaches == 1)
    await asyncio.sleep(0)  # both waits have begun
    leaving.cancel()
    await asyncio.gather(leaving, return_exceptions=True)
    session = SimpleNamespace(run_id="shared", interrupt=None)
    registry.register(run_key(ANONYMOUS, "shared"), session)  # type: ignore[arg-type]
    assert await staying is session
    assert registry.waiting_attaches == 0


async def test_attach_run_id_is_checked(robust):
    for run_id, problem in (("x" * 10_000, "1-128 characters"), ("a/b", "letters, digits")):
        hooks = HookStream(robust.stub)
        await hooks.call.write(pb.HooksRequest(attach=pb.HookAttach(run_id=run_id)))
        try:
            await hooks.call.read()
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert error.details().startswith("attach.run_id: ") and problem in error.details()
        else:
            raise AssertionError("attach with a bad run_id was accepted")
    await assert_healthy(robust)


async def test_bad_replies_are_answered_briefly_whatever_their_size(start_server):
    """Defect 3: each HookError once repeated the client's event id whole (1 MB each)."""
    from .conftest import CONFIG

    server = await start_server(
        {**CONFIG, "limits": {**CONFIG["limits"], "max_hook_replies_per_second": 10_000}}
    )
    hooks, result = await _attached(
        server, "flood", [{"text": "done"}], blocking=(pb.HOOK_EVENT_KIND_COMPLETION_FINISHED,)
    )
    finished = await hooks.event("completion_finished")
    for i in range(100):
        await hooks.reply(f"{i}-" + "x" * 100_000, **PROCEED)
    await hooks.reply(finished.event_id, **PROCEED)  # still applied after the flood
    assert (await result).code == grpc.StatusCode.OK
    errors = [r.error for r in await hooks.rest() if r.WhichOneof("response") == "error"]
    assert errors
    for error in errors:
        assert len(error.event_id) <= 32 and len(error.message) < 300, error
    await assert_healthy(server)


def test_error_notices_for_a_client_that_does_not_read_are_bounded():
    """Defect 3: the queue of HookErrors had no cap."""
    outbox = Outbox(8, 0, lambda run: pb.HooksResponse())
    for i in range(1000):
        outbox.put_notice(pb.HooksResponse(error=pb.HookError(message=f"bad {i}")))
    assert len(outbox._items) == 8 and outbox.dropped_notices == 992


async def test_error_notices_resume_once_the_client_reads_and_report_what_was_dropped():
    outbox = Outbox(2, 0, lambda run: pb.HooksResponse())
    for i in range(5):
        outbox.put_notice(pb.HooksResponse(error=pb.HookError(message=f"bad {i}")))
    overflow = await outbox.get()
    assert overflow.error.message.startswith("overflow: 3 error notice(s) dropped")
    assert [(await outbox.get()).error.message for _ in range(2)] == ["bad 0", "bad 1"]
    outbox.put_notice(pb.HooksResponse(error=pb.HookError(message="bad 5")))
    assert (await outbox.get()).error.message == "bad 5"


async def test_replies_over_the_rate_limit_are_refused_naming_it_and_change_nothing(robust):
    hooks, result = await _attached(
        robust, "too-fast", [{"text": "done"}], blocking=(pb.HOOK_EVENT_KIND_COMPLETION_FINISHED,)
    )
    finished = await hooks.event("completion_finished")
    notices = []
    for _ in range(30):  # bursts of 20 are allowed
        await hooks.reply("999", **PROCEED)
        notices.append((await hooks.read()).error.message)
    assert notices[0].startswith("reply.event_id: no event '999'")
    assert notices[-1].startswith("reply: ignored, more than 20 replies per second")
    assert "(limits.max_hook_replies_per_second)" in notices[-1]
    while True:  # once the rate allows it, the real answer is applied
        await hooks.reply(finished.event_id, **PROCEED)
        response = await hooks.read()
        if response.WhichOneof("response") != "error":
            break
        assert "limits.max_hook_replies_per_second" in response.error.message or (
            "no event" in response.error.message or "overflow" in response.error.message
        )
    assert (await result).code == grpc.StatusCode.OK
    await assert_healthy(robust)


async def test_a_client_that_half_closes_while_the_run_waits_for_it_fails_the_run_at_once(
    robust,
):
    """Defect 5: the run once waited its whole reply timeout for a reply that could not
    come. The reply timeout here is the default 30 s; the call's own deadline is 10 s."""
    hooks, result = await _attached(
        robust, "half", [{"text": "done"}], blocking=(pb.HOOK_EVENT_KIND_COMPLETION_FINISHED,)
    )
    await hooks.event("completion_finished")
    await hooks.call.done_writing()
    run = await result
    assert run.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "closed its side of the stream" in run.details
    await assert_healthy(robust)


async def test_an_observer_that_half_closes_keeps_observing(robust):
    hooks, result = await _attached(robust, "half-observer", [{"text": "a b c"}])
    await hooks.call.done_writing()
    assert (await result).code == grpc.StatusCode.OK
    rest = await hooks.rest()
    assert rest[-1].run_ended.outcome == pb.RUN_OUTCOME_COMPLETED


async def test_a_hooks_message_that_cannot_be_decoded_is_invalid_argument(robust):
    """Defect 10 on the Hooks stream: the message after attach is invalid UTF-8."""
    call = robust.channel.stream_stream(
        "/agentstream.v1.AgentService/Hooks",
        request_serializer=lambda data: data,
        response_deserializer=pb.HooksResponse.FromString,
    )()
    # The model hangs so the run is still going when the bad message arrives (a run that
    # ended first would close the stream before the server read it).
    result = _run(
        robust, "undecodable", [{"hang": True}], hooks=pb.HooksOptions(wait_for_client=True)
    )
    attach = pb.HooksRequest(attach=pb.HookAttach(run_id="undecodable")).SerializeToString()
    await call.write(attach)
    assert (await call.read()).attached.run_id == "undecodable"
    reply = pb.HooksRequest(reply=pb.HookReply(event_id="E", proceed=pb.HookProceed()))
    await call.write(reply.SerializeToString().replace(b"E", b"\xff"))
    try:
        while await call.read() is not grpc.aio.EOF:
            pass
    except grpc.aio.AioRpcError as error:
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error.details().startswith("request: cannot be decoded")
    else:
        raise AssertionError("the undecodable message was accepted")
    result.cancel()  # the caller leaves: the hanging run is cancelled
    await asyncio.gather(result, return_exceptions=True)
    await assert_healthy(robust)


async def test_a_completion_call_too_large_to_send_says_its_history_was_left_out(start_server):
    """The size limit of a run's last event applies to hooks events too: with 64 KiB, the
    second model call's history (70 KB of text from the first) is left out, and said so."""
    from .conftest import CONFIG

    limits = {"max_response_bytes": 64 * 1024, "max_extra_params_bytes": 128 * 1024}
    server = await start_server({**CONFIG, "limits": {**CONFIG["limits"], **limits}})
    hooks = HookStream(server.stub)
    attach = asyncio.create_task(hooks.attach("big", (pb.HOOK_EVENT_KIND_COMPLETION_CALL,)))
    calc = {"tool_call": {"name": "calculator", "arguments": {"expression": "1+1"}}}
    turns = script([{"text": " ".join(["word"] * 14_000)}, calc], [{"text": "done"}])
    request = pb.StreamPromptRequest(
        agent="a",
        prompt="go",
        run_id="big",
        extra_params=turns,
        hooks=pb.HooksOptions(wait_for_client=True),
    )
    result = asyncio.create_task(collect(server.stub, request, timeout=20))
    await attach
    first = await hooks.event("completion_call")
    assert not first.history_omitted and len(first.completion_call.history) == 1
    second = await hooks.event("completion_call")
    assert second.history_omitted and not second.completion_call.history
    run = await result
    assert run.code == grpc.StatusCode.OK
    assert run.last.final_response.history_omitted
    await assert_healthy(server)
