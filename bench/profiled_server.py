"""`python -m bench.profiled_server OUT ARGS...`: `agentstream serve ARGS...` under cProfile,
profiling only between SIGUSR1 (start) and SIGUSR2 (stop, and write the stats to OUT), so
that start-up and warm-up stay out of the figures (bench/profile.py)."""

from __future__ import annotations

import cProfile
import signal
import sys
import time
from types import FrameType

from agentstream_server.__main__ import main

# CPU time of this thread, not wall time: waiting in epoll is not a cost.
_profiler = cProfile.Profile(time.thread_time)


def _start(signum: int, frame: FrameType | None) -> None:
    _profiler.enable()


def _stop(signum: int, frame: FrameType | None) -> None:
    _profiler.disable()
    _profiler.dump_stats(_out)


if __name__ == "__main__":
    _out = sys.argv[1]
    # Python runs signal handlers in the main thread, the one that runs the event loop.
    signal.signal(signal.SIGUSR1, _start)
    signal.signal(signal.SIGUSR2, _stop)
    main(sys.argv[2:])
