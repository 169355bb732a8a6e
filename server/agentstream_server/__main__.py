"""`python -m agentstream_server --config FILE --addr HOST:PORT`"""

from __future__ import annotations

import argparse
import asyncio
import sys

from .config import ConfigError, load_config
from .logs import configure_logging
from .service.server import serve
from .tools.mcp_servers import McpStartError


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
    args = parser.parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    try:
        config = load_config(args.config)
        asyncio.run(serve(config, args.addr))
    except ConfigError as e:
        print(f"agentstream: bad config: {e}", file=sys.stderr)
        return 2
    except McpStartError as e:
        print(f"agentstream: cannot start: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
