"""Hooks across replicas: a client attached on replica B to a run that replica A runs.

B relays. The client's attach and replies go to A as control messages (the bus delivers
them to the run's owner); A attaches an ordinary `HookSession` client there and publishes
each message it would send on a channel of this attachment, which B passes on. So the
client observes, blocks, cancels and answers client tools exactly as it would on A.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import grpc
from agentstream.v1 import agent_pb2 as pb

from ..bus import BusError, RunBus
from ..core.errors import quote
from ..limits import ReplyRate
from .hook_outbox import Outbox
from .hooks import AlreadyAttached, HookSession
from .hooks_rpc import HooksContext, apply_hooks_request
from .status import BUS_STATUS

# On the channel: a response, or why the attach failed ("STATUS_NAME\nmessage").
_RESPONSE, _REFUSED = b"R", b"F"


def _channel(attach_id: str) -> str:
    return f"hooks:{attach_id}"


def _control(kind: str, attach_id: str, request: pb.HooksRequest | None = None) -> bytes:
    body = base64.b64encode(request.SerializeToString()).decode() if request else ""
    return json.dumps({kind: attach_id, "request": body}).encode()


# --- replica B: the client's side -----------------------------------------------------------


async def relay_hooks(
    bus: RunBus,
    run_key: str,
    first: pb.HooksRequest,
    requests: AsyncIterator[pb.HooksRequest],
    context: HooksContext,
) -> None:
    """Serves a Hooks stream for a run another replica runs."""
    attach_id = secrets.token_hex(12)
    try:
        async with bus.subscribe(_channel(attach_id)) as messages:
            if not await bus.send_control(run_key, _control("hooks_attach", attach_id, first)):
                await context.abort(
                    grpc.StatusCode.NOT_FOUND,
                    f"attach.run_id: run {quote(first.attach.run_id)} is no longer running",
                )
            replies = asyncio.create_task(_relay_replies(bus, run_key, attach_id, requests))
            try:
                async for message in messages:
                    if message[:1] == _REFUSED:
                        code, _, text = message[1:].decode().partition("\n")
                        await context.abort(grpc.StatusCode[code], text)
                    response = pb.HooksResponse.FromString(message[1:])
                    await context.write(response)
                    if response.WhichOneof("response") == "run_ended":
                        return
            finally:
                replies.cancel()
                with contextlib.suppress(BusError):
                    await bus.send_control(run_key, _control("hooks_detach", attach_id))
    except BusError as error:
        await context.abort(BUS_STATUS[type(error)], str(error))


async def _relay_replies(
    bus: RunBus, run_key: str, attach_id: str, requests: AsyncIterator[pb.HooksRequest]
) -> None:
    with contextlib.suppress(BusError):
        async for request in requests:
            await bus.send_control(run_key, _control("hooks_reply", attach_id, request))
        # The client closed its side: whatever waits for its reply would wait in vain.
        await bus.send_control(run_key, _control("hooks_replies_ended", attach_id))


# --- replica A: the run's side --------------------------------------------------------------


class RemoteHookClients:
    """The hooks clients of one run attached through other replicas."""

    def __init__(self, bus: RunBus, session: HookSession, reply_rate: float) -> None:
        self._bus = bus
        self._session = session
        self._reply_rate = reply_rate
        self._attached: dict[str, tuple[Outbox, ReplyRate, asyncio.Task[None]]] = {}
        self._refusals: set[asyncio.Task[None]] = set()

    def handle(self, decoded: dict[str, Any]) -> None:
        request = pb.HooksRequest.FromString(base64.b64decode(decoded.get("request", "")))
        if "hooks_attach" in decoded:
            self._attach(str(decoded["hooks_attach"]), request.attach)
        elif "hooks_reply" in decoded:
            attached = self._attached.get(str(decoded["hooks_reply"]))
            if attached is not None:
                apply_hooks_request(request, self._session, attached[0], attached[1])
        elif "hooks_replies_ended" in decoded:
            if str(decoded["hooks_replies_ended"]) in self._attached:
                self._session.replies_ended()
        elif "hooks_detach" in decoded:
            attached = self._attached.pop(str(decoded["hooks_detach"]), None)
            if attached is not None:
                attached[2].cancel()

    def _attach(self, attach_id: str, attach: pb.HookAttach) -> None:
        channel = _channel(attach_id)
        try:
            outbox = self._session.attach(
                frozenset(attach.events),
                frozenset(attach.blocking),
                not attach.omit_aggregated_text,
            )
        except AlreadyAttached:
            refusal = (
                f"ALREADY_EXISTS\nattach.run_id: run {quote(attach.run_id)} "
                "already has a hooks client"
            )
            refused = asyncio.create_task(self._bus.publish(channel, _REFUSED + refusal.encode()))
            self._refusals.add(refused)
            refused.add_done_callback(self._refusals.discard)
            return
        task = asyncio.create_task(self._pump(channel, outbox))
        self._attached[attach_id] = (outbox, ReplyRate(self._reply_rate), task)

    async def _pump(self, channel: str, outbox: Outbox) -> None:
        """Publishes what the session sends this client; leaving detaches it."""
        session = self._session
        try:
            attached = pb.HooksResponse(attached=pb.HookAttached(run_id=session.run_id))
            await self._bus.publish(channel, _RESPONSE + attached.SerializeToString())
            while (response := await outbox.get()) is not None:
                await self._bus.publish(channel, _RESPONSE + response.SerializeToString())
        except BusError:
            pass  # the relay cannot be reached: as if the client left
        finally:
            session.detach(outbox)
