"""`python -m agentstream_server [options]` and `agentstream-server`: `agentstream serve`."""

from __future__ import annotations

import sys

from .cli import main as cli_main


def main(argv: list[str] | None = None) -> None:
    cli_main(["serve", *(sys.argv[1:] if argv is None else argv)], prog_name="agentstream serve")


if __name__ == "__main__":
    main()
