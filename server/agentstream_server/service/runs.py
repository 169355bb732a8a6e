"""The running runs by id, so a hooks client can find its run in either order, and
shutdown can reach every run."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ..core.errors import AgentError, RunIdInUse
from .hooks import HookSession


@dataclass(slots=True)
class _Arrival:
    """Hooks clients waiting for a run that has not started yet."""

    started: asyncio.Event = field(default_factory=asyncio.Event)
    waiters: int = 0


class RunRegistry:
    """The running runs by id, so a hooks client can find its run in either order."""

    def __init__(self) -> None:
        self._sessions: dict[str, HookSession] = {}
        self._arrivals: dict[str, _Arrival] = {}
        self._empty = asyncio.Event()
        self._empty.set()

    def register(self, session: HookSession) -> None:
        if session.run_id in self._sessions:
            raise RunIdInUse(session.run_id)
        self._sessions[session.run_id] = session
        self._empty.clear()
        arrival = self._arrivals.pop(session.run_id, None)
        if arrival is not None:
            arrival.started.set()

    def unregister(self, session: HookSession) -> None:
        if self._sessions.get(session.run_id) is session:
            del self._sessions[session.run_id]
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

    async def find(self, run_id: str, timeout_s: float) -> HookSession | None:
        """The run with this id, waiting up to `timeout_s` for it to start."""
        session = self._sessions.get(run_id)
        if session is not None:
            return session
        arrival = self._arrivals.setdefault(run_id, _Arrival())
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
            if arrival.waiters == 0 and self._arrivals.get(run_id) is arrival:
                del self._arrivals[run_id]
        return self._sessions.get(run_id)

    @property
    def waiting_attaches(self) -> int:
        """Run ids hooks clients are waiting for (for tests and health)."""
        return len(self._arrivals)

    def __len__(self) -> int:
        return len(self._sessions)
