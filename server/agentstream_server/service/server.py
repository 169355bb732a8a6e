"""Builds and runs the gRPC server: AgentService, health, reflection, graceful drain."""

from __future__ import annotations

import asyncio
import logging
import signal

import grpc
from agentstream.v1 import agent_pb2 as pb
from agentstream.v1 import agent_pb2_grpc as pb_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from ..agents import Agents
from ..bus import make_bus
from ..config import Config, ConfigError
from ..core.errors import ShuttingDown
from ..core.tools import Tool
from ..credentials import TokenVerifier
from ..limits import grpc_options
from ..telemetry import NO_TELEMETRY, RunTelemetry
from ..tools.builtin import BUILTIN_TOOLS
from .auth import Authentication, AuthInterceptor
from .decoding import DecodeInterceptor
from .servicer import AgentServicer
from .tls import ServerTls

logger = logging.getLogger(__name__)

# How long interrupted runs get to send their last event before their calls are cancelled.
_FAREWELL_S = 1.0

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["AgentService"].full_name


class AgentServer:
    """One server process: `start`, then `stop` (drains running streams)."""

    def __init__(
        self,
        config: Config,
        tools: dict[str, Tool] | None = None,
        telemetry: RunTelemetry | None = None,
    ) -> None:
        self.config = config
        self.agents = Agents(config, BUILTIN_TOOLS if tools is None else tools)
        self.bus = make_bus(config.bus)
        self.telemetry = _telemetry(config) if telemetry is None else telemetry
        self.telemetry.watch_providers(self.agents)
        self.servicer = AgentServicer(self.agents, self.bus, self.telemetry)
        self.health = HealthServicer()
        self.tls = ServerTls(config.server.tls) if config.server.tls else None
        self.tokens = TokenVerifier(config.auth) if config.auth else None
        # SO_REUSEPORT (gRPC's default on Linux, made explicit): `--workers N` binds N
        # processes to one port and the kernel spreads connections over them.
        self._server = grpc.aio.server(
            interceptors=self._interceptors(),
            options=[*grpc_options(config.limits), ("grpc.so_reuseport", 1)],
        )
        pb_grpc.add_AgentServiceServicer_to_server(self.servicer, self._server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        reflection.enable_server_reflection(
            (
                SERVICE_NAME,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ),
            self._server,
        )

    async def start(self, address: str) -> int:
        """Connects the run bus, binds `address` (port 0 picks a free one) and returns the
        bound port. Raises BusUnavailable when the run bus cannot be reached."""
        await self.bus.start()
        if self.tls is None:
            port = self._server.add_insecure_port(address)
        else:
            port = self._server.add_secure_port(address, self.tls.credentials())
        if port == 0:
            raise OSError(f"cannot bind {address}")
        await self.agents.start()  # MCP servers: the required ones are up before we serve
        await self._server.start()
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        await self.health.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
        return port

    async def stop(self, grace: float | None = None) -> None:
        """Stops taking new calls and lets running runs finish for `grace` seconds. Runs
        still going then end with a retryable SHUTTING_DOWN error carrying their history
        (so a caller can continue elsewhere); calls still open after that are cancelled."""
        await self.health.enter_graceful_shutdown()
        grace = self.config.server.grace_period_s if grace is None else grace
        runs = self.servicer.runs
        stopping = asyncio.create_task(self._server.stop(grace + _FAREWELL_S))
        if not await runs.wait_empty(grace):
            runs.interrupt_all(ShuttingDown("the server is shutting down; retry with the history"))
            await runs.wait_empty(_FAREWELL_S)
        await stopping
        self.servicer.slots.close()
        await self.bus.aclose()
        await self.agents.aclose()
        self.telemetry.shutdown()

    async def wait(self) -> None:
        await self._server.wait_for_termination()

    def reload(self) -> None:
        """Re-reads the TLS, API keys and JWKS files (SIGHUP). A bad file is logged and
        the files read before stay in use."""
        try:
            if self.tls is not None:
                self.tls.reload()
            if self.tokens is not None:
                self.tokens.reload()
        except ConfigError as e:
            logger.error("reload failed, keeping the previous files: %s", e)
            return
        logger.info("reloaded TLS and credential files")

    def _interceptors(self) -> list[grpc.aio.ServerInterceptor]:  # type: ignore[type-arg]
        """Outermost first: telemetry sees every outcome; authentication comes before
        decoding, so a caller without credentials learns nothing about its request;
        decoding is innermost, so telemetry sees its INVALID_ARGUMENT."""
        interceptors = list(self.telemetry.interceptors())
        mutual = self.tls is not None and self.tls.mutual
        if self.tokens is not None or mutual:
            interceptors.append(AuthInterceptor(Authentication(self.tokens, mutual)))
        return [*interceptors, DecodeInterceptor()]


def _telemetry(config: Config) -> RunTelemetry:
    if not config.server.telemetry:
        return NO_TELEMETRY
    from ..telemetry.otel import Telemetry  # the SDK is imported only when telemetry is on

    return Telemetry.from_config(config.server)


async def serve(config: Config, address: str) -> None:
    """Serves until SIGTERM or SIGINT, then drains with the configured grace period."""
    server = AgentServer(config)
    port = await server.start(address)
    logger.info(
        "agentstream serving %d agent(s) on %s (port %d)",
        len(config.agents),
        address,
        port,
        extra={"port": port},
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    loop.add_signal_handler(signal.SIGHUP, server.reload)
    await stopping.wait()
    logger.info("draining for up to %.1fs", config.server.grace_period_s)
    await server.stop()
    logger.info("stopped")
