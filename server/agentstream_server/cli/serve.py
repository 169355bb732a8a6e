"""`agentstream serve`: serve the configured agents (the server's entry point)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .errors import Exit, fail

if TYPE_CHECKING:
    from ..config import Config


@click.command(short_help="Serve the configured agents over gRPC.")
@click.option(
    "--config",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="AGENTSTREAM_CONFIG",
    show_envvar=True,
    help="Agents config (YAML). Default: the built-in config (offline agents, no API key).",
)
@click.option(
    "--addr",
    envvar="AGENTSTREAM_ADDR",
    default="localhost:50051",
    show_default=True,
    show_envvar=True,
    metavar="HOST:PORT",
    help="Address to listen on (port 0 picks a free one).",
)
@click.option(
    "--log-level",
    envvar="AGENTSTREAM_LOG_LEVEL",
    default="INFO",
    show_default=True,
    show_envvar=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
@click.option(
    "--log-format",
    envvar="AGENTSTREAM_LOG_FORMAT",
    default="text",
    show_default=True,
    show_envvar=True,
    type=click.Choice(["text", "json"]),
    help="json: one object a line, with run_id, agent, outcome, trace_id, span_id.",
)
@click.option(
    "--workers",
    envvar="AGENTSTREAM_WORKERS",
    default=1,
    show_default=True,
    show_envvar=True,
    type=click.IntRange(1),
    help="Server processes sharing the port (needs a Redis run bus).",
)
# One of the processes `--workers N` starts (they log their process id).
@click.option("--worker", is_flag=True, hidden=True)
@click.option("--check", is_flag=True, help="Validate the config and exit (non-zero if bad).")
def serve(
    config: Path | None,
    addr: str,
    log_level: str,
    log_format: str,
    workers: int,
    worker: bool,
    check: bool,
) -> None:
    """Serve the configured agents over gRPC until SIGTERM or Ctrl-C (running runs then get
    the config's grace period to finish).

    \b
      agentstream serve                         # the built-in offline agents
      agentstream serve --config agents.yaml --addr 0.0.0.0:50051
      agentstream serve --config agents.yaml --check
    """
    # The server's modules load here, so the client commands start fast without them.
    from ..config import DEFAULT_CONFIG_NAME, ConfigError
    from ..logs import configure_logging
    from ..workers import check_workers, run_workers

    source = str(config) if config else DEFAULT_CONFIG_NAME
    try:
        loaded = _load(config)
    except ConfigError as e:
        fail(f"bad config: {e}", Exit.USAGE)
    problem = check_workers(loaded, workers, addr)
    if problem is not None:
        fail(problem, Exit.USAGE)
    if check:
        names = ", ".join(a.name for a in loaded.agents)
        click.echo(f"{source}: OK ({len(loaded.agents)} agents: {names})")
        return
    configure_logging(log_level.upper(), log_format, with_process=worker)
    if workers > 1:
        child = [*(["--config", str(config)] if config else []), "--addr", addr]
        child += ["--log-level", log_level, "--log-format", log_format, "--worker"]
        raise click.exceptions.Exit(run_workers(workers, child))
    logging.getLogger(__name__).info("config: %s", source)
    _serve(loaded, addr)


def _serve(config: Config, addr: str) -> None:
    from ..bus import BusUnavailable
    from ..config import ConfigError
    from ..service.server import serve as serve_forever
    from ..tools.mcp_servers import McpStartError

    try:
        asyncio.run(serve_forever(config, addr))
    except ConfigError as e:  # what only the running server can check
        fail(f"bad config: {e}", Exit.USAGE)
    except McpStartError as e:
        fail(f"cannot start: {e}", Exit.USAGE)
    except BusUnavailable as e:
        fail(str(e), Exit.UNREACHABLE)
    except OSError as e:
        fail(f"cannot serve on {addr}: {e}", Exit.RUN_FAILED)


def _load(path: Path | None) -> Config:
    from ..config import load_config
    from ..tools.builtin import BUILTIN_TOOLS
    from ..tools.catalogue import ToolCatalogue

    config = load_config(path)
    ToolCatalogue(config, BUILTIN_TOOLS)  # resolves each tool entry; MCP servers start later
    return config
