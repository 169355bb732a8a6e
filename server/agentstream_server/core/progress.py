"""Progress of a running tool, rate-limited per call.

A chatty tool may report thousands of times a second, from any thread; the run
sends the latest report at most once per interval, and nothing once the call
has its result.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable

MAX_MESSAGE_CHARS = 1000

Deliver = Callable[[str, float | None], None]


def check_fraction(fraction: float | None) -> str | None:
    """Why `fraction` is not a progress fraction, or None when it is (or is unset)."""
    if fraction is None:
        return None
    if not isinstance(fraction, int | float) or isinstance(fraction, bool):
        return "fraction must be a number between 0 and 1"
    if not math.isfinite(fraction) or not 0 <= fraction <= 1:
        return f"fraction must be between 0 and 1, not {fraction}"
    return None


class ProgressGate:
    """Delivers the latest report of one call on the loop, at most once per `interval_s`.

    `report` may be called from any thread and never blocks. A report made on the
    loop when the interval has passed is delivered at once (so it comes before a
    result that follows it); reports that come faster replace each other, and the
    last one is sent when the interval has passed, unless the call finished first.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, interval_s: float, deliver: Deliver
    ) -> None:
        self._loop = loop
        self._loop_thread = threading.get_ident()  # made on the loop's thread
        self._interval_s = interval_s
        self._deliver = deliver
        self._lock = threading.Lock()
        self._latest: tuple[str, float | None] | None = None
        self._scheduled = False  # a hop to the loop or a timer is on its way
        self._closed = False
        self._last_sent = -math.inf

    def report(self, message: str, fraction: float | None = None) -> None:
        problem = check_fraction(fraction)
        if problem is not None:
            raise ValueError(problem)
        with self._lock:
            if self._closed:
                return
            self._latest = (str(message)[:MAX_MESSAGE_CHARS], fraction)
            if self._scheduled:
                return
            self._scheduled = True
        if threading.get_ident() == self._loop_thread:
            self._arm()
        else:
            self._loop.call_soon_threadsafe(self._arm)

    def close(self) -> None:
        """The call has its result: pending and later reports are dropped."""
        with self._lock:
            self._closed = True

    def _arm(self) -> None:
        delay = self._last_sent + self._interval_s - time.monotonic()
        if delay <= 0:
            self._flush()
        else:
            self._loop.call_later(delay, self._flush)

    def _flush(self) -> None:
        with self._lock:
            latest, self._latest = self._latest, None
            self._scheduled = False
            if self._closed or latest is None:
                return
        self._last_sent = time.monotonic()
        self._deliver(*latest)
