"""Runs scenarios.json against a server with the Python client and prints one PASS/FAIL line
per scenario, then "N passed, N failed"; exits 1 when a scenario failed.

    python tests/conformance/runner.py --target 127.0.0.1:50051 \
        --scenarios tests/conformance/scenarios.json

It uses the client package's async helper (agentstream.AgentClient) and nothing of the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from agentstream import AgentClient, Cancel, ClientTool, Progress, Run, RunFailed, Skip, tool
from agentstream.v1 import agent_pb2 as pb
from google.protobuf import json_format


@dataclass
class Outcome:
    events: list[Any] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    status: str = "OK"
    answer_order: list[str] = field(default_factory=list)
    hook_events: list[str] = field(default_factory=list)
    result: Any = None


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


def _client_tool(spec: dict[str, Any], out: Outcome) -> ClientTool:
    """A tool function that plays the scenario's answers; a `typed` tool is the helper's
    typed form (TYPED_TOOLS), whose derived definition must contain the scenario's."""
    definition = spec["definition"]

    async def play(arguments: dict[str, Any], progress: Any) -> str:
        for answer in spec["answers"]:
            if "when" in answer and match(answer["when"], arguments) is not None:
                continue
            await asyncio.sleep(answer.get("delay_ms", 0) / 1000)
            for report in answer.get("progress", []):
                await progress(report["message"], report.get("fraction"))
            out.answer_order.append(answer.get("label", ""))
            if "raise" in answer:
                raise RuntimeError(answer["raise"])
            if "panic" in answer:
                raise AssertionError(answer["panic"])
            if answer.get("is_error"):
                raise RuntimeError(answer.get("content", ""))
            return str(answer.get("content", ""))
        raise RuntimeError(f"no scripted answer for {arguments}")

    if "typed" in spec:
        typed = TYPED_TOOLS[spec["typed"]](play)
        derived = json_format.MessageToDict(typed.definition(), preserving_proto_field_name=True)
        if why := match(definition, derived, "definition"):
            raise StepFailed(f"the typed tool's derived definition: {why}")
        return typed
    return ClientTool(
        definition["name"],
        definition.get("description", ""),
        definition.get("parameters", {"type": "object", "properties": {}}),
        play,
    )


def _typed_forecast(play: Any) -> ClientTool:
    @tool
    async def forecast(city: str, days: int = 1, *, progress: Progress) -> str:
        """Weather forecast of a city

        Args:
            city: City name
            days: Days ahead
        """
        return await play({"city": city, "days": days}, progress)

    return forecast


# The typed tools a scenario may name (`"typed": "forecast"`), in this language's typed form.
TYPED_TOOLS = {"forecast": _typed_forecast}


def _on_event(step: dict[str, Any], out: Outcome) -> Any:
    actions = step.get("hooks", {}).get("on", [])

    def on_event(event: pb.HookEvent) -> Cancel | Skip | None:
        kind = str(event.WhichOneof("event"))
        out.hook_events.append(kind)
        for action in actions:
            if action["event"] == kind:
                if action["action"] == "cancel":
                    return Cancel(action.get("reason", ""))
                if action["action"] == "skip":
                    return Skip(action.get("reason", ""))
                return None
        return None

    return on_event


async def run_step(client: AgentClient, step: dict[str, Any], previous: Any) -> Any:
    if "watch" in step:
        return await watch_step(client, step, previous)
    request = json_format.ParseDict(step["request"], pb.StreamPromptRequest())
    history = list(request.history)
    if step.get("continue_from_previous"):
        holder = (previous or {}).get("finalResponse") or (previous or {}).get("error")
        if holder is None:
            raise StepFailed("the previous step ended without a final response or error")
        parsed = json_format.ParseDict({"history": holder.get("history", [])}, pb.FinalResponse())
        history = list(parsed.history)
    out = Outcome()
    hooks = step.get("hooks")
    run = client.run(
        request.prompt,
        agent=request.agent,
        history=history,
        max_turns=request.max_turns if request.HasField("max_turns") else None,
        extra_params=json_format.MessageToDict(request.extra_params),
        tools=[_client_tool(t, out) for t in step.get("client_tools", [])],
        on_event=_on_event(step, out) if hooks is not None else None,
        events=[pb.HookEventKind.Value(k) for k in (hooks or {}).get("events", [])],
        blocking=[pb.HookEventKind.Value(k) for k in (hooks or {}).get("blocking", [])],
        hooks=True if hooks is not None else None,
        timeout=30,
        detach=request.detach,
        **({"delivery": request.delivery} if request.HasField("delivery") else {}),
    )
    await play(run, step, out)
    if step.get("resume"):
        out.status = await resume(client, run.run_id, out)
    await check(client, step.get("expect", {}), out)
    return out.events[-1] if out.events else None


async def watch_step(client: AgentClient, step: dict[str, Any], previous: Any) -> Any:
    """Watches the previous step's (ended) run after `watch.after_seq`: a replay."""
    if not previous or "runId" not in previous:
        raise StepFailed("a watch step needs a previous step's run")
    after_seq = int(step["watch"].get("after_seq", 0))
    out = Outcome()
    try:
        async for event in client.watch(previous["runId"], after_seq):
            record(out, event)
    except RunFailed as e:
        out.status = e.code.name
    await check(client, step.get("expect", {}), out, after_seq)
    return out.events[-1] if out.events else previous


async def play(run: Run, step: dict[str, Any], out: Outcome) -> None:
    """Reads the run as the step says (disconnect, cancel, leave early), then asks the
    result twice."""
    if "cancel_before_start" in step:
        await run.cancel(step["cancel_before_start"])
    cancel_after = step.get("cancel_after")
    try:
        async for event in run:
            record(out, event)
            kind = str(event.WhichOneof("event"))
            if step.get("disconnect_after") == kind:
                await run.aclose()
                break
            if cancel_after and cancel_after["event"] == kind:
                cancel_after = None
                await run.cancel(step["cancel_after"]["reason"])
            if step.get("break_after") == kind:
                break
    except RunFailed as e:
        out.status = e.code.name
    first = await _result(run, out)
    again = await _result(run, Outcome())
    if first != again:
        raise StepFailed(f"result() answered {first}, then {again}")


async def _result(run: Run, out: Outcome) -> str:
    try:
        final = await run.result()
        out.status = "OK"
        out.result = {"finalResponse": json_format.MessageToDict(final)}
    except RunFailed as e:
        out.status = e.code.name
        error = json_format.MessageToDict(e.error) if e.error is not None else {}
        out.result = {"error": error}
    return out.status


def record(out: Outcome, event: pb.StreamPromptResponse) -> None:
    out.kinds.append(str(event.WhichOneof("event")))
    out.events.append(json_format.MessageToDict(event))


async def resume(client: AgentClient, run_id: str, out: Outcome) -> str:
    """Watches the run from the last event seen; returns the watch's status."""
    last_seq = int(out.events[-1].get("seq", 0)) if out.events else 0
    try:
        async for event in client.watch(run_id, last_seq):
            record(out, event)
    except RunFailed as e:
        return str(e.code.name)
    return "OK"


async def check(client: AgentClient, ex: dict[str, Any], out: Outcome, after_seq: int = 0) -> None:
    if ex.get("status") and ex["status"] != out.status:
        raise StepFailed(f"status {out.status}, want {ex['status']} (events {out.kinds})")
    next_seq = after_seq + 1
    for i, ev in enumerate(out.events):
        # A message covers first_seq..seq (a joined replay), else just seq.
        seq = int(ev.get("seq", 0))
        first = int(ev.get("firstSeq", 0)) or seq
        if first != next_seq or seq < first:
            raise StepFailed(f"event {i + 1} covers seqs {first}..{seq}, want {next_seq} first")
        next_seq = seq + 1
        if ev.get("runId") != out.events[0].get("runId"):
            raise StepFailed(f"event {i + 1} has run_id {ev.get('runId')}")
    if "events" in ex:
        match_kinds(ex["events"], out.kinds)
    remaining = iter(out.events)
    for want in ex.get("contains", []):
        if not any(match(want, ev) is None for ev in remaining):
            raise StepFailed(f"no event matching {json.dumps(want)} (in order)")
    if "result" in ex and (err := match(ex["result"], out.result, "result")):
        raise StepFailed(err)
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
            await asyncio.wait_for(client.list_agents(), 5)
        except grpc.aio.AioRpcError as e:
            raise StepFailed(f"server unhealthy after the step: {e.code().name}") from e


async def run_all(target: str, scenarios: list[dict[str, Any]], only: str = "") -> int:
    passed = failed = 0
    async with AgentClient(target) as client:
        for scenario in scenarios:
            if only and scenario["name"] != only:
                continue
            start = time.monotonic()
            previous = None
            try:
                for i, step in enumerate(scenario["steps"], 1):
                    try:
                        previous = await run_step(client, step, previous)
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
