"""Runs scenarios.json against a server with the Python client and prints one PASS/FAIL line
per scenario, then "N passed, N failed"; exits 1 when a scenario failed.

    python tests/conformance/runner.py --target 127.0.0.1:50051 \
        --scenarios tests/conformance/scenarios.json

It needs only the client package (agentstream: grpcio and protobuf), not the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from agentstream.v1 import agent_pb2 as pb
from agentstream.v1 import agent_pb2_grpc as pb_grpc
from google.protobuf import json_format


@dataclass
class Outcome:
    events: list[Any] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    status: str = "OK"
    answer_order: list[str] = field(default_factory=list)
    hook_events: list[str] = field(default_factory=list)


class StepFailed(Exception):
    pass


def match(expected: Any, actual: Any, path: str = "") -> str | None:
    """Subset match: None when `actual` has everything `expected` has, else why not.

    Objects by key, lists item by item with equal lengths, scalars equal; a missing value is
    the proto3 default (JSON omits defaults); {"$contains": s} matches a string containing s.
    """
    if isinstance(expected, dict):
        if list(expected) == ["$contains"]:
            if isinstance(actual, str) and expected["$contains"] in actual:
                return None
            return f"{path}: {actual!r} does not contain {expected['$contains']!r}"
        a = {} if actual is None else actual
        if not isinstance(a, dict):
            return f"{path}: want an object, got {actual!r}"
        for k, v in expected.items():
            if err := match(v, a.get(k), f"{path}.{k}"):
                return err
        return None
    if isinstance(expected, list):
        a = [] if actual is None else actual
        if not isinstance(a, list) or len(a) != len(expected):
            return f"{path}: want {len(expected)} items, got {actual!r}"
        for i, (e, x) in enumerate(zip(expected, a, strict=True)):
            if err := match(e, x, f"{path}[{i}]"):
                return err
        return None
    if actual is None:
        if expected in (None, False, 0, "", "0"):
            return None
        return f"{path}: want {expected!r}, got nothing"
    if isinstance(expected, bool) or isinstance(actual, bool):
        ok = isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
        return None if ok else f"{path}: want {expected!r}, got {actual!r}"
    return (
        None
        if _scalar(expected) == _scalar(actual)
        else f"{path}: want {expected!r}, got {actual!r}"
    )


def _scalar(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def match_kinds(pattern: list[str], kinds: list[str]) -> None:
    """Event kinds against a pattern: each item a kind, optionally suffixed + (one or more),
    * (any number) or ? (optional)."""
    parts = []
    for item in pattern:
        name, quant = (item[:-1], item[-1]) if item[-1:] in ("+", "*", "?") else (item, "")
        parts.append(f"(?:{re.escape(name)},){quant}")
    if not re.fullmatch("".join(parts), "".join(f"{k}," for k in kinds)):
        raise StepFailed(f"events {kinds} do not match {pattern}")


def hook_kinds(names: list[str]) -> list[int]:
    return [pb.HookEventKind.Value(n) for n in names]


class Hooks:
    """Serves a run's Hooks stream: client tools (concurrently) and scripted hook actions."""

    def __init__(self, stub: Any, run_id: str, step: dict[str, Any], out: Outcome) -> None:
        self.stub, self.run_id, self.step, self.out = stub, run_id, step, out
        self.tools = {t["definition"]["name"]: t for t in step.get("client_tools", [])}
        self.queue: asyncio.Queue[pb.HooksRequest | None] = asyncio.Queue()
        self.tasks: set[asyncio.Task[None]] = set()

    async def requests(self) -> AsyncIterator[pb.HooksRequest]:
        while (request := await self.queue.get()) is not None:
            yield request

    def reply(self, reply: pb.HookReply) -> None:
        self.queue.put_nowait(pb.HooksRequest(reply=reply))

    async def serve(self) -> None:
        hooks = self.step.get("hooks", {})
        attach = pb.HookAttach(
            run_id=self.run_id,
            events=hook_kinds(hooks.get("events", [])),
            blocking=hook_kinds(hooks.get("blocking", [])),
        )
        self.queue.put_nowait(pb.HooksRequest(attach=attach))
        call = self.stub.Hooks(self.requests())
        try:
            async for message in call:
                kind = message.WhichOneof("response")
                if kind == "run_ended":
                    break
                if kind == "event":
                    self.handle(message.event)
        finally:
            self.queue.put_nowait(None)
            call.cancel()

    def handle(self, event: pb.HookEvent) -> None:
        kind = str(event.WhichOneof("event"))
        if kind == "tool_call" and event.tool_call.execute:
            task = asyncio.create_task(self.run_tool(event))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            return
        self.out.hook_events.append(kind)
        reply = pb.HookReply(event_id=event.event_id, proceed=pb.HookProceed())
        for action in self.step.get("hooks", {}).get("on", []):
            if action["event"] == kind:
                if action["action"] == "cancel":
                    reply = pb.HookReply(event_id=event.event_id)
                    reply.cancel.reason = action.get("reason", "")
                elif action["action"] == "skip":
                    reply = pb.HookReply(event_id=event.event_id)
                    reply.skip.reason = action.get("reason", "")
                break
        if event.reply_expected:
            self.reply(reply)

    async def run_tool(self, event: pb.HookEvent) -> None:
        call = event.tool_call
        output = pb.HookToolOutput(content=f"no client tool named {call.name!r}", is_error=True)
        tool = self.tools.get(call.name)
        args = json.loads(call.arguments or "{}")
        for answer in tool["answers"] if tool else []:
            if "when" in answer and match(answer["when"], args) is not None:
                continue
            await asyncio.sleep(answer.get("delay_ms", 0) / 1000)
            self.out.answer_order.append(answer.get("label", ""))
            if "raise" in answer:
                output = pb.HookToolOutput(content=answer["raise"], is_error=True)
            else:
                output = pb.HookToolOutput(
                    content=answer.get("content", ""), is_error=answer.get("is_error", False)
                )
            break
        self.reply(pb.HookReply(event_id=event.event_id, tool_output=output))


async def run_step(stub: Any, step: dict[str, Any], previous: Any) -> Any:
    request = json_format.ParseDict(step["request"], pb.StreamPromptRequest())
    if step.get("continue_from_previous"):
        holder = (previous or {}).get("finalResponse") or (previous or {}).get("error")
        if holder is None:
            raise StepFailed("the previous step ended without a final response or error")
        history = json_format.ParseDict(
            {"history": holder.get("history", [])}, pb.FinalResponse()
        ).history
        request.history.extend(history)
    out = Outcome()
    hooks_task = hooks = None
    if "client_tools" in step or "hooks" in step:
        request.run_id = request.run_id or f"py-{uuid.uuid4().hex}"
        for tool in step.get("client_tools", []):
            request.tools.append(json_format.ParseDict(tool["definition"], pb.ToolDefinition()))
        request.hooks.wait_for_client = True
        hooks = Hooks(stub, request.run_id, step, out)
        hooks_task = asyncio.create_task(hooks.serve())
    call = stub.StreamPrompt(request, timeout=30)
    try:
        async for event in call:
            kind = str(event.WhichOneof("event"))
            out.kinds.append(kind)
            out.events.append(json_format.MessageToDict(event))
            if step.get("disconnect_after") == kind:
                call.cancel()
                break
            cancel_after = step.get("cancel_after")
            if cancel_after and cancel_after["event"] == kind and hooks is not None:
                # A cancel with no event id cancels the run on the server at once.
                hooks.reply(pb.HookReply(cancel=pb.HookCancel(reason=cancel_after["reason"])))
                cancel_after = step["cancel_after"] = None
        out.status = (await call.code()).name
    except grpc.aio.AioRpcError as e:
        out.status = e.code().name
    finally:
        if hooks_task is not None:
            # The hooks stream's last events are handled before the step is checked.
            if out.status != "CANCELLED":
                await asyncio.wait({hooks_task}, timeout=2)
            hooks_task.cancel()
            await asyncio.gather(hooks_task, return_exceptions=True)
    await check(stub, step.get("expect", {}), out)
    return out.events[-1] if out.events else None


async def check(stub: Any, ex: dict[str, Any], out: Outcome) -> None:
    if ex.get("status") and ex["status"] != out.status:
        raise StepFailed(f"status {out.status}, want {ex['status']} (events {out.kinds})")
    for i, ev in enumerate(out.events):
        if str(ev.get("seq")) != str(i + 1):
            raise StepFailed(f"event {i + 1} has seq {ev.get('seq')}")
        if ev.get("runId") != out.events[0].get("runId"):
            raise StepFailed(f"event {i + 1} has run_id {ev.get('runId')}")
    if "events" in ex:
        match_kinds(ex["events"], out.kinds)
    remaining = iter(out.events)
    for want in ex.get("contains", []):
        if not any(match(want, ev) is None for ev in remaining):
            raise StepFailed(f"no event matching {json.dumps(want)} (in order)")
    if "last" in ex:
        if not out.events:
            raise StepFailed("no events")
        if err := match(ex["last"], out.events[-1], "last"):
            raise StepFailed(err)
    for kind in ex.get("absent", []):
        if kind in out.kinds:
            raise StepFailed(f"unexpected {kind} event")
    if "answer_order" in ex and ex["answer_order"] != out.answer_order:
        raise StepFailed(
            f"client tools answered in order {out.answer_order}, want {ex['answer_order']}"
        )
    if "hook_events" in ex and ex["hook_events"] != out.hook_events:
        raise StepFailed(f"hook events {out.hook_events}, want {ex['hook_events']}")
    if ex.get("server_healthy"):
        try:
            await stub.ListAgents(pb.ListAgentsRequest(), timeout=5)
        except grpc.aio.AioRpcError as e:
            raise StepFailed(f"server unhealthy after the step: {e.code().name}") from e


async def run_all(target: str, scenarios: list[dict[str, Any]], only: str = "") -> int:
    passed = failed = 0
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.AgentServiceStub(channel)
        for scenario in scenarios:
            if only and scenario["name"] != only:
                continue
            start = time.monotonic()
            previous = None
            try:
                for i, step in enumerate(scenario["steps"], 1):
                    try:
                        previous = await run_step(stub, step, previous)
                    except StepFailed as e:
                        raise StepFailed(f"step {i}: {e}") from e
            except StepFailed as e:
                failed += 1
                print(f"FAIL {scenario['name']}: {e}", flush=True)
            else:
                passed += 1
                ms = int((time.monotonic() - start) * 1000)
                print(f"PASS {scenario['name']} ({ms}ms)", flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", default="localhost:50051")
    parser.add_argument("--scenarios", default="tests/conformance/scenarios.json")
    parser.add_argument("--only", default="")
    args = parser.parse_args(argv)
    scenarios = json.loads(Path(args.scenarios).read_text())["scenarios"]
    return asyncio.run(run_all(args.target, scenarios, args.only))


if __name__ == "__main__":
    sys.exit(main())
