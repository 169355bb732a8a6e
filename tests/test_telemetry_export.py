"""The server as its own process with `telemetry: true`: traces and metrics exported by
OTLP over HTTP to a receiver in this test, the Prometheus scrape endpoint, and JSON
logs that lead to the trace and hold no content."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import pytest
from agentstream.v1 import agent_pb2 as pb
from agentstream.v1 import agent_pb2_grpc as pb_grpc
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from .helpers import collect, free_port, script, wait_until

SECRET = "my card is 4111-1111-1111-1111"


class OtlpReceiver:
    """A small OTLP/HTTP receiver: keeps every request body by path."""

    def __init__(self) -> None:
        self.bodies: dict[str, list[bytes]] = {}
        lock = threading.Lock()
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    bodies.setdefault(self.path, []).append(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def spans(self) -> list[tuple[Any, Any]]:
        """(resource, span) for every span received."""
        found = []
        for body in list(self.bodies.get("/v1/traces", [])):
            request = ExportTraceServiceRequest.FromString(body)
            for resource_spans in request.resource_spans:
                for scope in resource_spans.scope_spans:
                    found += [(resource_spans.resource, span) for span in scope.spans]
        return found

    def metric_names(self) -> set[str]:
        names = set()
        for body in list(self.bodies.get("/v1/metrics", [])):
            request = ExportMetricsServiceRequest.FromString(body)
            for resource_metrics in request.resource_metrics:
                for scope in resource_metrics.scope_metrics:
                    names |= {metric.name for metric in scope.metrics}
        return names


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def _scrape(address: str) -> str:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as response:
        return str(response.read().decode())


async def test_traces_metrics_and_logs_leave_the_process(tmp_path: Path, receiver: OtlpReceiver):
    metrics_addr = f"127.0.0.1:{free_port()}"
    config = tmp_path / "telemetry.yaml"
    config.write_text(
        "agents:\n"
        "  - {name: calc, provider: offline, model: offline-1, tools: [calculator]}\n"
        "server:\n"
        "  telemetry: true\n"
        f"  metrics_addr: '{metrics_addr}'\n"
    )
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_SERVICE_NAME": "agentstream-under-test",
        "OTEL_BSP_SCHEDULE_DELAY": "50",
        "OTEL_METRIC_EXPORT_INTERVAL": "200",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agentstream_server",
        "--config",
        str(config),
        "--addr",
        "127.0.0.1:0",
        "--log-format",
        "json",
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert process.stderr is not None
    logs: list[dict[str, Any]] = []
    try:
        while "port" not in (line := json.loads(await process.stderr.readline())):
            logs.append(line)
        logs.append(line)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{line['port']}") as channel:
            stub = pb_grpc.AgentServiceStub(channel)
            turns = script(
                [{"tool_call": {"name": "calculator", "arguments": {"expression": "6*7"}}}],
                [{"text": "forty-two, as always"}],
            )
            request = pb.StreamPromptRequest(agent="calc", prompt=SECRET, extra_params=turns)
            result = await collect(stub, request)
            assert result.code == grpc.StatusCode.OK
            run_id = result.events[0].run_id

            def exported(name: str) -> bool:
                return any(span.name == name for _, span in receiver.spans())

            await wait_until(lambda: exported("invoke_agent calc"), timeout=20)
            await wait_until(lambda: "agentstream.runs.finished" in receiver.metric_names(), 20)
            scraped = await asyncio.to_thread(_scrape, metrics_addr)
    finally:
        process.send_signal(signal.SIGTERM)
        _, rest = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0
    logs += [json.loads(line) for line in rest.decode().splitlines() if line.startswith("{")]

    spans = receiver.spans()
    resource = spans[0][0]
    service = {a.key: a.value.string_value for a in resource.attributes}["service.name"]
    assert service == "agentstream-under-test"
    names = sorted(span.name for _, span in spans)
    assert names == [
        "/agentstream.v1.AgentService/StreamPrompt",
        "chat offline-1",
        "chat offline-1",
        "execute_tool calculator",
        "invoke_agent calc",
    ]
    run_span = next(span for _, span in spans if span.name == "invoke_agent calc")
    assert {span.trace_id for _, span in spans} == {run_span.trace_id}
    assert "gen_ai_client_token_usage" in scraped
    assert 'agentstream_runs_finished_total{agentstream_run_outcome="completed"' in scraped

    (run_line,) = [line for line in logs if line.get("run_id") == run_id]
    assert run_line["agent"] == "calc"
    assert run_line["outcome"] == "completed"
    assert run_line["trace_id"] == run_span.trace_id.hex()
    assert run_line["span_id"] == run_span.span_id.hex()
    everything = json.dumps(logs)
    # The whole marker: a short piece like "4111" can turn up in a hex id or a port.
    assert "4111-1111-1111-1111" not in everything and "forty-two" not in everything
