"""The running runs by (owner, run id), so a hooks client can find its run in either order,
and shutdown can reach every run."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ..core.errors import AgentError, RunIdInUse
from .auth import RunKey
from .hooks import HookSession


@dataclass(slots=True)
class _Arrival:
    """Hooks clients waiting for a run that has not started yet."""

    started: asyncio.Event = field(default_factory=asyncio.Event)
    waiters: int = 0


class RunRegistry:
    """The running runs by `RunKey`: a run id is unique only among one owner's runs."""

    def __init__(self) -> None:
        self._sessions: dict[RunKey, HookSession] = {}
        self._arrivals: dict[RunKey, _Arrival] = {}
        self._empty = asyncio.Event()
        self._empty.set()

    def register(self, key: RunKey, session: HookSession) -> None:
        if key in self._sessions:
            raise RunIdInUse(key.run_id)
        self._sessions[key] = session
        self._empty.clear()
        arrival = self._arrivals.pop(key, None)
        if arrival is not None:
            arrival.started.set()

    def unregister(self, key: RunKey, session: HookSession) -> None:
        if self._sessions.get(key) is session:
            del self._sessions[key]
        if not self._sessions:
            self._empty.set()

    async def wait_empty(self, timeout_s: float) -> bool:
        """True once no run is running; False if some still are after `timeout_s`."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._empty.wait()
        except TimeoutError:
            return False
        return True

    def interrupt_all(self, error: AgentError) -> None:
        for session in list(self._sessions.values()):
            session.stop(error)

    def get(self, key: RunKey) -> HookSession | None:
        """The run with this key if this process runs it now."""
        return self._sessions.get(key)

    async def find(self, key: RunKey, timeout_s: float) -> HookSession | None:
        """The run with this key, waiting up to `timeout_s` for it to start."""
        session = self._sessions.get(key)
        if session is not None:
            return session
        arrival = self._arrivals.setdefault(key, _Arrival())
        arrival.waiters += 1
        try:
            async with asyncio.timeout(timeout_s):
                await arrival.started.wait()
        except TimeoutError:
            return None
        finally:
            # However the wait ended (timeout, or the client went away), the last waiter
            # takes the entry away, so abandoned attaches leave nothing behind.
            arrival.waiters -= 1
            if arrival.waiters == 0 and self._arrivals.get(key) is arrival:
                del self._arrivals[key]
        return self._sessions.get(key)

    @property
    def waiting_attaches(self) -> int:
        """Runs hooks clients are waiting for (for tests and health)."""
        return len(self._arrivals)

    def __len__(self) -> int:
        return len(self._sessions)
