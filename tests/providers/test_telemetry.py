"""Telemetry of a real HTTP provider: a rate-limited first attempt is retried, counted,
and noted on the model call's span; the run's spans name the provider as the
conventions do."""

from __future__ import annotations

import grpc
from agentstream.v1 import agent_pb2 as pb
from agentstream_server.telemetry.otel import Telemetry
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ..helpers import collect, wait_until
from .replay import Reply, fixture
from .test_e2e import config


async def test_a_retried_model_call_is_counted_and_noted_on_its_span(start_server, replay, api_key):
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    telemetry = Telemetry(tracer_provider, MeterProvider(metric_readers=[reader]))
    http = await replay(
        Reply(fixture("openai_chat/rate_limited.json"), status=429),
        Reply(fixture("openai_chat/text.sse"), chunk_size=7),
    )
    agents = await start_server(config("openai", http, []), run_telemetry=telemetry)
    result = await collect(agents.stub, pb.StreamPromptRequest(prompt="hi"))
    assert result.code == grpc.StatusCode.OK, result.details
    await wait_until(lambda: any(s.name == "chat m" for s in spans.get_finished_spans()))
    (chat,) = [s for s in spans.get_finished_spans() if s.name == "chat m"]
    assert chat.attributes["gen_ai.provider.name"] == "openai"
    assert chat.attributes["gen_ai.usage.output_tokens"] > 0
    (retry,) = chat.events
    assert retry.name == "agentstream.provider.retry"
    assert retry.attributes["error.type"] == "provider_unavailable"
    data = reader.get_metrics_data()
    points = [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "agentstream.provider.retries"
        for point in metric.data.data_points
    ]
    assert [(dict(p.attributes), p.value) for p in points] == [
        ({"gen_ai.provider.name": "openai"}, 1)
    ]
