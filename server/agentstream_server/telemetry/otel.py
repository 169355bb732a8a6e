"""`Telemetry`: the tracer and meter the server's runs report to."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry import metrics, trace

from ..agents import Agents
from ..config import ServerConfig
from ..core.driver import RunSpec
from ..core.errors import ProviderError
from ..providers.http import HttpProvider
from . import names as n
from .metrics import RunMetrics
from .run import Call, RunObservation
from .setup import SdkSetup, configure_sdk, grpc_already_instrumented

INSTRUMENTATION_NAME = "agentstream"


class Telemetry:
    """Traces and metrics through the given providers (the global ones by default)."""

    enabled = True

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        *,
        content: bool = False,
        add_interceptor: bool = True,
        sdk: SdkSetup | None = None,
    ) -> None:
        self.tracer_provider = tracer_provider or trace.get_tracer_provider()
        self.tracer = trace.get_tracer(INSTRUMENTATION_NAME, tracer_provider=self.tracer_provider)
        meter = metrics.get_meter(INSTRUMENTATION_NAME, meter_provider=meter_provider)
        self.metrics = RunMetrics(meter)
        self.content = content
        self._add_interceptor = add_interceptor
        self._sdk = sdk

    @classmethod
    def from_config(cls, server: ServerConfig) -> Telemetry:
        """Sets up the SDK from the environment (unless the process already did)."""
        sdk = configure_sdk(server.metrics_addr)
        return cls(
            sdk.tracer_provider,
            sdk.meter_provider,
            content=server.telemetry_content,
            add_interceptor=not grpc_already_instrumented(),
            sdk=sdk,
        )

    def observe(self, spec: RunSpec, provider_kind: str, call: Call) -> RunObservation:
        return RunObservation(self, spec, provider_kind, call)

    def interceptors(self) -> list[Any]:
        """The gRPC server span's interceptor, unless the process has one already."""
        if not self._add_interceptor:
            return []
        from opentelemetry.instrumentation.grpc import aio_server_interceptor

        return [aio_server_interceptor(tracer_provider=self.tracer_provider)]  # type: ignore[no-untyped-call]

    def watch_providers(self, agents: Agents) -> None:
        """Counts the HTTP providers' retries, and notes each on the model call's span."""
        for name, provider in agents.providers.items():
            if isinstance(provider, HttpProvider):
                kind = agents.config.providers[name].type
                provider.on_retry = self._retry_reporter(n.PROVIDER_NAMES.get(kind, kind))

    def _retry_reporter(self, provider: str) -> Callable[[ProviderError, float], None]:
        attributes = {n.PROVIDER: provider}

        def report(error: ProviderError, delay_s: float) -> None:
            self.metrics.provider_retries.add(1, attributes)
            # The provider retries inside the model call, while its `chat` span is current.
            trace.get_current_span().add_event(
                "agentstream.provider.retry",
                {n.ERROR_TYPE: error.code.value, "agentstream.retry.delay_s": delay_s},
            )

        return report

    def shutdown(self) -> None:
        """Flushes and stops the exporters this server started."""
        if self._sdk is not None:
            self._sdk.shutdown()
