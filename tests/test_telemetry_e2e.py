"""Traces and metrics of real runs: a server with in-memory OpenTelemetry exporters,
clients over loopback gRPC, and a client tool served by each language's helper in a
separate process whose spans join the same trace."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from agentstream.v1 import agent_pb2 as pb
from agentstream_server.telemetry.otel import Telemetry
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from .client_builds import java_command, rust_example
from .helpers import collect, script, wait_until
from .hooks_client import PROCEED, HookStream, cancel, output

ROOT = Path(__file__).resolve().parent.parent
CLIENT = ROOT / "tests" / "telemetry_client.py"
GO_OTEL = ROOT / "clients" / "go" / "otel"
TS_DIR = ROOT / "clients" / "typescript"
CONFIG = {
    "agents": [
        {"name": "calc", "provider": "offline", "model": "offline-1", "tools": ["calculator"]},
        {"name": "plain", "provider": "offline", "model": "offline-1"},
    ]
}
TWO_TURNS = [
    [
        {"text": "Let me check."},
        {"tool_call": {"name": "calculator", "arguments": {"expression": "6 * 7"}, "id": "c1"}},
        {"tool_call": {"name": "lookup_order", "arguments": {"order_id": "A-7"}, "id": "c2"}},
        {"usage": {"input_tokens": 11, "output_tokens": 7, "total_tokens": 18}},
    ],
    [
        {"text": "Order A-7 is in Lyon."},
        {"usage": {"input_tokens": 30, "output_tokens": 6, "total_tokens": 36}},
    ],
]


@dataclass
class Otel:
    telemetry: Telemetry
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def points(self, name: str) -> list[Any]:
        data = self.metrics.get_metrics_data()
        return [
            point
            for resource in (data.resource_metrics if data else [])
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
            for point in metric.data.data_points
        ]


@pytest.fixture
def otel() -> Otel:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    telemetry = Telemetry(tracer_provider, MeterProvider(metric_readers=[reader]))
    return Otel(telemetry, spans, reader)


def _hex(value: int, width: int) -> str:
    return f"{value:0{width}x}"


def _by_name(spans: list[dict[str, Any]], name: str) -> dict[str, Any]:
    matching = [s for s in spans if s["name"] == name]
    assert len(matching) == 1, (name, [s["name"] for s in spans])
    return matching[0]


def _as_dict(span: ReadableSpan) -> dict[str, Any]:
    return {
        "name": span.name,
        "trace_id": _hex(span.context.trace_id, 32),
        "span_id": _hex(span.context.span_id, 16),
        "parent_id": _hex(span.parent.span_id, 16) if span.parent else None,
        "attributes": dict(span.attributes or {}),
        "status": span.status.status_code,
        "kind": span.kind,
    }


def _client_command(language: str, address: str) -> list[str]:
    """The client process of a language: it runs the prompt under a span of its own, serves
    `lookup_order` with that language's helper and prints the spans it recorded."""
    turns = json.dumps(TWO_TURNS)
    flags = ["--target", address, "--agent", "calc", "--script", turns]
    if language == "python":
        return [sys.executable, str(CLIENT), *flags]
    if language == "go":
        binary = ROOT / ".tools" / "telemetry" / "go-client"
        _build(["go", "build", "-o", str(binary), "./cmd/telemetryclient"], GO_OTEL)
        return [str(binary), "-addr", address, "-agent", "calc", "-script", turns]
    if language == "java":
        return [*java_command("io.github.agentstream.examples.TelemetryClient"), *flags]
    if language == "rust":
        return [*rust_example("telemetry_client", "otel"), *flags]
    _build(["npm", "run", "--silent", "build"], TS_DIR)
    program = TS_DIR / "dist" / "conformance" / "telemetry_client.js"
    return ["node", str(program), *flags]


def _build(command: list[str], cwd: Path) -> None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.timeout(900)  # the first Java or Rust build on a machine
@pytest.mark.parametrize("language", ["python", "go", "typescript", "java", "rust"])
async def test_one_trace_across_the_caller_the_server_and_the_tool_process(
    start_server, otel, language
):
    server = await start_server(CONFIG, run_telemetry=otel.telemetry)
    command = await asyncio.to_thread(_client_command, language, server.address)
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert lines[-1] == "final: Order A-7 is in Lyon."
    client_spans = [json.loads(line) for line in lines[:-1]]
    server_spans = [_as_dict(s) for s in otel.finished()]

    # One trace, started by the calling process.
    backend = _by_name(client_spans, "handle order question")
    trace_id = backend["trace_id"]
    assert {s["trace_id"] for s in client_spans + server_spans} == {trace_id}

    rpc = _by_name(server_spans, "/agentstream.v1.AgentService/StreamPrompt")
    assert rpc["parent_id"] == backend["span_id"]  # traceparent from the helper's metadata
    run = _by_name(server_spans, "invoke_agent calc")
    assert run["parent_id"] == rpc["span_id"]
    assert run["kind"] is SpanKind.INTERNAL
    run_attributes = run["attributes"]
    assert run_attributes["gen_ai.operation.name"] == "invoke_agent"
    assert run_attributes["gen_ai.agent.name"] == "calc"
    assert run_attributes["gen_ai.provider.name"] == "agentstream.offline"
    assert run_attributes["gen_ai.request.model"] == "offline-1"
    assert run_attributes["agentstream.run.outcome"] == "completed"
    assert run_attributes["agentstream.run.turns"] == 2
    assert run_attributes["agentstream.run.id"]  # each helper makes its own run ids
    assert run["status"] is StatusCode.UNSET

    chats = [s for s in server_spans if s["name"] == "chat offline-1"]
    assert [c["parent_id"] for c in chats] == [run["span_id"]] * 2
    first, second = sorted(chats, key=lambda c: c["attributes"]["gen_ai.response.id"])
    assert first["kind"] is SpanKind.CLIENT
    assert first["attributes"] | {"gen_ai.response.time_to_first_chunk": 0} == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "agentstream.offline",
        "gen_ai.request.model": "offline-1",
        "gen_ai.request.stream": True,
        "gen_ai.response.model": "offline-1",
        "gen_ai.response.id": "offline-1",
        "gen_ai.response.finish_reasons": ("tool_calls",),
        "gen_ai.usage.input_tokens": 11,
        "gen_ai.usage.output_tokens": 7,
        "gen_ai.response.time_to_first_chunk": 0,
    }
    assert first["attributes"]["gen_ai.response.time_to_first_chunk"] > 0
    assert second["attributes"]["gen_ai.response.finish_reasons"] == ("stop",)
    assert second["attributes"]["gen_ai.usage.input_tokens"] == 30

    calculator = _by_name(server_spans, "execute_tool calculator")
    lookup = _by_name(server_spans, "execute_tool lookup_order")
    for span, side, call_id in ((calculator, "server", "c1"), (lookup, "client", "c2")):
        assert span["parent_id"] == run["span_id"]
        assert span["attributes"]["gen_ai.operation.name"] == "execute_tool"
        assert span["attributes"]["gen_ai.tool.call.id"] == call_id
        assert span["attributes"]["gen_ai.tool.type"] == "function"
        assert span["attributes"]["agentstream.tool.side"] == side
        assert span["attributes"]["agentstream.tool.is_error"] is False
    # The tool the client process ran is a child of the server's execute_tool span.
    client_tool = _by_name(client_spans, "execute_tool lookup_order")
    assert client_tool["parent_id"] == lookup["span_id"]
    assert client_tool["attributes"]["gen_ai.tool.call.id"] == "c2"
    # No content unless opted in.
    assert not any(
        key.startswith(
            ("gen_ai.input", "gen_ai.output", "gen_ai.tool.call.a", "gen_ai.tool.call.r")
        )
        for s in server_spans
        for key in s["attributes"]
    )


def _request(agent: str, *turns: list[dict[str, Any]], **fields: Any) -> pb.StreamPromptRequest:
    return pb.StreamPromptRequest(agent=agent, prompt="go", extra_params=script(*turns), **fields)


async def _ended_run(otel: Otel) -> dict[str, Any]:
    """The run's invoke_agent span, once the server has finished it."""
    await wait_until(lambda: any(s.name.startswith("invoke_agent") for s in otel.finished()))
    return _by_name([_as_dict(s) for s in otel.finished()], "invoke_agent plain")


async def test_a_caller_that_cancels_is_recorded_as_cancelled_not_ok(start_server, otel):
    server = await start_server(CONFIG, run_telemetry=otel.telemetry)
    call = server.stub.StreamPrompt(_request("plain", [{"text": "thinking"}, {"hang": True}]))
    async for event in call:
        if event.WhichOneof("event") == "text_delta":
            break
    call.cancel()
    run = await _ended_run(otel)
    spans = [_as_dict(s) for s in otel.finished()]
    assert run["attributes"]["agentstream.run.outcome"] == "abandoned"
    assert run["attributes"]["error.type"] == "cancelled"
    assert run["status"] is StatusCode.ERROR
    chat = _by_name(spans, "chat offline-1")
    assert chat["parent_id"] == run["span_id"]
    assert chat["attributes"]["error.type"] == "cancelled"
    assert chat["status"] is StatusCode.ERROR
    rpc = _by_name(spans, "/agentstream.v1.AgentService/StreamPrompt")
    # The gRPC instrumentation alone leaves 0 (OK) here.
    assert rpc["attributes"]["rpc.grpc.status_code"] == grpc.StatusCode.CANCELLED.value[0]


async def test_a_deadline_that_passes_is_recorded_as_deadline_exceeded(start_server, otel):
    server = await start_server(CONFIG, run_telemetry=otel.telemetry)
    result = await collect(server.stub, _request("plain", [{"hang": True}]), timeout=0.3)
    assert result.code == grpc.StatusCode.DEADLINE_EXCEEDED
    run = await _ended_run(otel)
    assert run["attributes"]["error.type"] == "deadline_exceeded"
    rpc = _by_name(
        [_as_dict(s) for s in otel.finished()], "/agentstream.v1.AgentService/StreamPrompt"
    )
    assert rpc["attributes"]["rpc.grpc.status_code"] == grpc.StatusCode.DEADLINE_EXCEEDED.value[0]
    assert rpc["status"] is StatusCode.ERROR


async def test_a_hooks_cancel_during_a_client_tool_ends_its_span_as_cancelled(start_server, otel):
    server = await start_server(CONFIG, run_telemetry=otel.telemetry)
    hooks = HookStream(server.stub)
    tool = pb.ToolDefinition(name="slow", description="never answers")
    request = _request(
        "plain",
        [{"tool_call": {"name": "slow", "arguments": {}, "id": "s1"}}],
        run_id="cancel-me",
        tools=[tool],
    )
    result_task = asyncio.create_task(collect(server.stub, request))
    await hooks.attach("cancel-me")
    event = await hooks.event("tool_call")
    assert event.trace_context["traceparent"].startswith("00-")
    await hooks.reply("", **cancel("changed my mind"))
    result = await result_task
    assert result.code == grpc.StatusCode.CANCELLED
    run = await _ended_run(otel)
    spans = [_as_dict(s) for s in otel.finished()]
    assert run["attributes"]["agentstream.run.outcome"] == "cancelled"
    assert run["attributes"]["error.type"] == "cancelled"
    assert run["status"] is StatusCode.ERROR
    tool_span = _by_name(spans, "execute_tool slow")
    assert tool_span["parent_id"] == run["span_id"]
    assert tool_span["attributes"]["error.type"] == "cancelled"
    # The hooks event carried exactly this span's context.
    _version, trace_id, span_id, _flags = event.trace_context["traceparent"].split("-")
    assert (trace_id, span_id) == (tool_span["trace_id"], tool_span["span_id"])
    rpc = _by_name(spans, "/agentstream.v1.AgentService/StreamPrompt")
    assert rpc["attributes"]["rpc.grpc.status_code"] == grpc.StatusCode.CANCELLED.value[0]


async def test_interleaved_runs_never_share_spans(start_server, otel):
    server = await start_server(CONFIG, run_telemetry=otel.telemetry)
    runs = 24

    def turns(i: int) -> list[list[dict[str, Any]]]:
        delay = {"delay_ms": 1 + i % 3}
        return [
            [delay, {"tool_call": {"name": "calculator", "arguments": {"expression": f"{i}+1"}}}],
            [delay, {"text": f"run {i} done"}, delay, {"text": "."}],
        ]

    requests = [_request("calc", *turns(i), run_id=f"run-{i}") for i in range(runs)]
    results = await asyncio.gather(*(collect(server.stub, r) for r in requests))
    assert all(r.code == grpc.StatusCode.OK for r in results)
    await wait_until(
        lambda: sum(s.name.startswith("invoke_agent") for s in otel.finished()) == runs
    )
    spans = [_as_dict(s) for s in otel.finished()]
    by_id = {s["span_id"]: s for s in spans}
    agents = [s for s in spans if s["name"] == "invoke_agent calc"]
    assert len({a["trace_id"] for a in agents}) == runs  # one trace per run
    for agent in agents:
        trace = [s for s in spans if s["trace_id"] == agent["trace_id"]]
        children = [s for s in trace if s["parent_id"] == agent["span_id"]]
        assert sorted(c["name"] for c in children) == [
            "chat offline-1",
            "chat offline-1",
            "execute_tool calculator",
        ]
        # Every span of the trace hangs off this run's own spans.
        for span in trace:
            parent = by_id.get(span["parent_id"])
            assert parent is None or parent["trace_id"] == agent["trace_id"]


async def test_metrics_points(start_server, otel):
    server = await start_server(CONFIG, run_telemetry=otel.telemetry)
    turns = [
        [{"tool_call": {"name": "calculator", "arguments": {"expression": "2+2"}}},
         {"usage": {"input_tokens": 5, "output_tokens": 3, "total_tokens": 8}}],
        [{"text": "4"}, {"usage": {"input_tokens": 9, "output_tokens": 1, "total_tokens": 10}}],
    ]  # fmt: skip
    assert (await collect(server.stub, _request("calc", *turns))).code == grpc.StatusCode.OK
    failing = _request("plain", [{"error": {"message": "boom", "retryable": False}}])
    assert (await collect(server.stub, failing)).code != grpc.StatusCode.OK

    def attrs(point: Any) -> dict[str, Any]:
        return dict(point.attributes)

    started = otel.points("agentstream.runs.started")
    assert {p.attributes["gen_ai.agent.name"]: p.value for p in started} == {"calc": 1, "plain": 1}
    finished = {
        (p.attributes["gen_ai.agent.name"], p.attributes["agentstream.run.outcome"]): p
        for p in otel.points("agentstream.runs.finished")
    }
    assert finished[("calc", "completed")].value == 1
    assert finished[("plain", "failed")].attributes["error.type"] == "provider_rejected"
    assert all(p.value == 0 for p in otel.points("agentstream.runs.active"))
    turns_points = {
        p.attributes["gen_ai.agent.name"]: p for p in otel.points("agentstream.run.turns")
    }
    assert turns_points["calc"].sum == 2
    usage = {
        attrs(p)["gen_ai.token.type"]: p.sum
        for p in otel.points("gen_ai.client.token.usage")
        if attrs(p)["gen_ai.request.model"] == "offline-1"
    }
    assert usage == {"input": 14, "output": 4}
    durations = otel.points("gen_ai.client.operation.duration")
    assert sum(p.count for p in durations) == 3  # two turns, and the failed call
    assert any(attrs(p).get("error.type") == "provider_rejected" for p in durations)
    assert sum(p.count for p in otel.points("gen_ai.client.operation.time_to_first_chunk")) >= 2
    (tool,) = otel.points("gen_ai.execute_tool.duration")
    assert attrs(tool) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "calculator",
        "agentstream.tool.side": "server",
    }
    assert tool.count == 1


async def test_hooks_round_trips_are_recorded_by_event(start_server, otel):
    server = await start_server(CONFIG, run_telemetry=otel.telemetry)
    hooks = HookStream(server.stub)
    lookup = pb.ToolDefinition(name="lookup_order", description="where an order is")
    request = _request(
        "calc",
        [{"tool_call": {"name": "lookup_order", "arguments": {"order_id": "A-7"}, "id": "c1"}}],
        [{"text": "In Lyon."}],
        run_id="round-trips",
        tools=[lookup],
    )
    result_task = asyncio.create_task(collect(server.stub, request))
    await hooks.attach("round-trips", blocking=(pb.HOOK_EVENT_KIND_COMPLETION_CALL,))
    # A blocking completion_call in each turn, and the client tool call between them.
    await hooks.reply((await hooks.event("completion_call")).event_id, **PROCEED)
    await hooks.reply((await hooks.event("tool_call")).event_id, **output("Lyon"))
    await hooks.reply((await hooks.event("completion_call")).event_id, **PROCEED)
    assert (await result_task).code == grpc.StatusCode.OK
    points = {
        p.attributes["agentstream.hook.event"]: p
        for p in otel.points("agentstream.hooks.round_trip")
    }
    assert sorted(points) == ["completion_call", "tool_call"]
    assert points["completion_call"].count == 2 and points["tool_call"].count == 1
    assert all(p.attributes["gen_ai.agent.name"] == "calc" for p in points.values())
    assert all(0 < p.sum < 60 for p in points.values())  # seconds, not ms or ns


async def test_an_instrumented_process_gets_no_second_provider_or_interceptor(
    start_server, monkeypatch
):
    """As under `opentelemetry-instrument`: the SDK and the gRPC instrumentation are
    already set up when the server starts with `telemetry: true`."""
    from opentelemetry import trace
    from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorServer

    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    spans = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    instrumentor = GrpcAioInstrumentorServer()
    instrumentor.instrument()
    try:
        server = await start_server(CONFIG, telemetry=True)
    finally:
        instrumentor.uninstrument()
    assert server.server.telemetry.tracer_provider is provider
    result = await collect(server.stub, _request("plain", [{"text": "hi"}]))
    assert result.code == grpc.StatusCode.OK
    await wait_until(
        lambda: any(s.name == "invoke_agent plain" for s in spans.get_finished_spans())
    )
    finished = [_as_dict(s) for s in spans.get_finished_spans()]
    rpc = _by_name(finished, "/agentstream.v1.AgentService/StreamPrompt")  # exactly one
    assert _by_name(finished, "invoke_agent plain")["parent_id"] == rpc["span_id"]


async def test_content_is_recorded_only_when_opted_in(start_server, otel):
    telemetry = Telemetry(otel.telemetry.tracer_provider, content=True)
    server = await start_server(CONFIG, run_telemetry=telemetry)
    turns = [
        [{"tool_call": {"name": "calculator", "arguments": {"expression": "6*7"}, "id": "k1"}}],
        [{"text": "It is 42."}],
    ]
    request = pb.StreamPromptRequest(
        agent="calc", prompt="What is 6*7?", extra_params=script(*turns)
    )
    assert (await collect(server.stub, request)).code == grpc.StatusCode.OK
    await wait_until(lambda: any(s.name == "invoke_agent calc" for s in otel.finished()))
    spans = [_as_dict(s) for s in otel.finished()]
    chats = sorted(
        (s for s in spans if s["name"] == "chat offline-1"),
        key=lambda s: s["attributes"]["gen_ai.response.id"],
    )
    first_input = json.loads(chats[0]["attributes"]["gen_ai.input.messages"])
    assert first_input == [{"role": "user", "parts": [{"type": "text", "content": "What is 6*7?"}]}]
    second_input = json.loads(chats[1]["attributes"]["gen_ai.input.messages"])
    assert second_input[-1] == {
        "role": "tool",
        "parts": [{"type": "tool_call_response", "id": "k1", "result": "42"}],
    }
    output = json.loads(chats[1]["attributes"]["gen_ai.output.messages"])
    assert output == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "It is 42."}],
            "finish_reason": "stop",
        }
    ]
    tool = _by_name(spans, "execute_tool calculator")["attributes"]
    assert json.loads(tool["gen_ai.tool.call.arguments"]) == {"expression": "6*7"}
    assert tool["gen_ai.tool.call.result"] == "42"


async def test_with_telemetry_off_hooks_events_carry_no_trace_context(start_server):
    server = await start_server(CONFIG)
    hooks = HookStream(server.stub)
    tool = pb.ToolDefinition(name="lookup_order", description="Where an order is")
    request = _request(
        "plain",
        [{"tool_call": {"name": "lookup_order", "arguments": {}, "id": "o1"}}],
        [{"text": "done"}],
        run_id="untraced",
        tools=[tool],
    )
    result_task = asyncio.create_task(collect(server.stub, request))
    await hooks.attach("untraced")
    event = await hooks.event("tool_call")
    assert dict(event.trace_context) == {}
    await hooks.reply(event.event_id, **output("in Lyon"))
    assert (await result_task).code == grpc.StatusCode.OK
