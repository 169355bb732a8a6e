"""The OpenTelemetry SDK from the standard `OTEL_*` environment variables.

With `server.telemetry: true` the server sets up a tracer and a meter provider
itself: OTLP export (`OTEL_EXPORTER_OTLP_PROTOCOL` `http/protobuf`, the default,
or `grpc`; endpoint, headers and timeouts from the usual variables),
`OTEL_SERVICE_NAME` (default `agentstream`), `OTEL_RESOURCE_ATTRIBUTES`,
`OTEL_TRACES_SAMPLER`, and `OTEL_TRACES_EXPORTER` / `OTEL_METRICS_EXPORTER`
(`otlp`, `console` or `none`). A process already set up by someone else, such as
`opentelemetry-instrument`, keeps its providers and its gRPC interceptor: nothing
is added twice.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)

logger = logging.getLogger(__name__)

DEFAULT_SERVICE_NAME = "agentstream"


@dataclass
class SdkSetup:
    """The providers in use, and how to flush and stop what we started ourselves."""

    tracer_provider: trace.TracerProvider
    meter_provider: metrics.MeterProvider
    shutdowns: list[Callable[[], object]] = field(default_factory=list)

    def shutdown(self) -> None:
        for shutdown in self.shutdowns:
            shutdown()
        self.shutdowns.clear()


def configure_sdk(metrics_addr: str = "") -> SdkSetup:
    """Sets the global providers from the environment, unless they are set already."""
    resource = _resource()
    setup = SdkSetup(trace.get_tracer_provider(), metrics.get_meter_provider())
    if isinstance(setup.tracer_provider, TracerProvider):
        logger.info("telemetry: using the tracer provider already set in this process")
    else:
        tracer_provider = TracerProvider(resource=resource)  # the sampler comes from the env
        exporter = _span_exporter()
        if exporter is not None:
            tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(tracer_provider)
        setup.tracer_provider = tracer_provider
        setup.shutdowns.append(tracer_provider.shutdown)
    if isinstance(setup.meter_provider, MeterProvider):
        logger.info("telemetry: using the meter provider already set in this process")
        if metrics_addr:
            logger.warning(
                "telemetry: server.metrics_addr is ignored: this process already has a meter "
                "provider, which serves its own readers"
            )
    else:
        readers = _metric_readers(metrics_addr)
        meter_provider = MeterProvider(resource=resource, metric_readers=readers)
        metrics.set_meter_provider(meter_provider)
        setup.meter_provider = meter_provider
        setup.shutdowns.append(meter_provider.shutdown)
    return setup


def grpc_already_instrumented() -> bool:
    """True when `opentelemetry-instrument` (or the app) instrumented grpc.aio servers."""
    from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorServer

    # Instrumentors are singletons; this one records whether it was applied.
    instrumentor = GrpcAioInstrumentorServer()  # type: ignore[no-untyped-call]
    return bool(instrumentor.is_instrumented_by_opentelemetry)


def _resource() -> Resource:
    resource = Resource.create()  # OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    return resource


def _exporter_kind(signal: str) -> str:
    return os.environ.get(f"OTEL_{signal}_EXPORTER", "otlp").split(",")[0].strip().lower()


def _otlp_protocol(signal: str) -> str:
    protocol = os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    if protocol not in ("grpc", "http/protobuf"):
        raise ValueError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL: {protocol!r} is not supported (grpc, http/protobuf)"
        )
    return protocol


def _span_exporter() -> SpanExporter | None:
    kind = _exporter_kind("TRACES")
    if kind == "none":
        return None
    if kind == "console":
        return ConsoleSpanExporter()
    if _otlp_protocol("TRACES") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpSpanExporter,
    )

    return HttpSpanExporter()


def _metric_exporter() -> MetricExporter | None:
    kind = _exporter_kind("METRICS")
    if kind == "none":
        return None
    if kind == "console":
        return ConsoleMetricExporter()
    if _otlp_protocol("METRICS") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        return OTLPMetricExporter()
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
        OTLPMetricExporter as HttpMetricExporter,
    )

    return HttpMetricExporter()


def _metric_readers(metrics_addr: str) -> list[MetricReader]:
    readers: list[MetricReader] = []
    exporter = _metric_exporter()
    if exporter is not None:
        readers.append(PeriodicExportingMetricReader(exporter))  # OTEL_METRIC_EXPORT_INTERVAL
    if metrics_addr:
        readers.append(_prometheus_reader(metrics_addr))
    return readers


def _prometheus_reader(metrics_addr: str) -> MetricReader:
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import start_http_server

    host, _, port = metrics_addr.rpartition(":")
    reader = PrometheusMetricReader()
    start_http_server(int(port), addr=host.strip("[]") or "0.0.0.0")
    logger.info("telemetry: Prometheus metrics on http://%s/metrics", metrics_addr)
    return reader
