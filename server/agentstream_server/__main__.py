"""`python -m agentstream_server --config FILE --addr HOST:PORT`"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from .config import ConfigError, load_config
from .service.server import serve
from .tools.mcp_servers import McpStartError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agentstream-server", description=__doc__)
    parser.add_argument("--config", default="config/default.yaml", help="agents config (YAML)")
    parser.add_argument("--addr", default="localhost:50051", help="address to listen on")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
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
