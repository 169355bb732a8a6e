"""`python -m agentstream_server --config FILE --addr HOST:PORT [--workers N]`"""

from __future__ import annotations

import argparse
import asyncio
import sys

from .bus import BusUnavailable
from .config import ConfigError, load_config
from .logs import configure_logging
from .service.server import serve
from .tools.mcp_servers import McpStartError
from .workers import check_workers, run_workers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agentstream-server", description=__doc__)
    parser.add_argument("--config", default="config/default.yaml", help="agents config (YAML)")
    parser.add_argument("--addr", default="localhost:50051", help="address to listen on")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="json: one object a line, with run_id, agent, outcome, trace_id, span_id",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes sharing the port (needs Redis)"
    )
    args = parser.parse_args(argv)
    configure_logging(args.log_level, args.log_format, with_process=args.worker)
    try:
        config = load_config(args.config)
    except ConfigError as e:
        print(f"agentstream: bad config: {e}", file=sys.stderr)
        return 2
    problem = check_workers(config, args.workers, args.addr)
    if problem is not None:
        print(f"agentstream: {problem}", file=sys.stderr)
        return 2
    if args.workers > 1:
        child = ["--config", args.config, "--addr", args.addr, "--log-level", args.log_level]
        child += ["--log-format", args.log_format]
        return run_workers(args.workers, [*child, "--worker"])
    try:
        asyncio.run(serve(config, args.addr))
    except ConfigError as e:  # what only the server can check (tool names, ...)
        print(f"agentstream: bad config: {e}", file=sys.stderr)
        return 2
    except McpStartError as e:
        print(f"agentstream: cannot start: {e}", file=sys.stderr)
        return 2
    except BusUnavailable as e:
        print(f"agentstream: {e}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
