"""`make bench`: runs each benchmark module's `main()` and prints its figures.

`python -m bench NAME...` runs only the named ones.
"""

from __future__ import annotations

import asyncio
import importlib
import sys

# Each name is a module of this package with `async def main() -> None`.
BENCHES = ["stream", "parse", "openai_e2e", "hooks", "observer", "durable", "concurrency"]


def run(names: list[str]) -> None:
    for name in names or BENCHES:
        module = importlib.import_module(f"bench.{name}")
        print(f"== {name}: {(module.__doc__ or '').strip().splitlines()[0]}", flush=True)
        asyncio.run(module.main())


if __name__ == "__main__":
    run(sys.argv[1:])
