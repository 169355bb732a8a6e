"""OpenTelemetry traces and metrics of runs, kept outside the agent loop.

`Telemetry.observe` wraps a run's model provider and hooks (see spans.py) and
opens its `invoke_agent` span; with telemetry off, `NO_TELEMETRY.observe` hands
back a do-nothing observation, so a run pays nothing, per token or per run.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from ..core.driver import RunSpec
from ..core.events import FinalResponse, RunFailed
from .run import Call

if TYPE_CHECKING:
    from ..agents import Agents


class Observation(Protocol):
    def bind_hooks(self, session: Any) -> None: ...

    def __enter__(self) -> Any: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    def finished(self, outcome: FinalResponse | RunFailed, turns: int) -> None: ...

    def abandoned(self, turns: int) -> None: ...


class RunTelemetry(Protocol):
    enabled: bool

    def observe(self, spec: RunSpec, provider_kind: str, call: Call) -> Observation: ...

    def interceptors(self) -> list[Any]: ...

    def watch_providers(self, agents: Agents) -> None: ...

    def shutdown(self) -> None: ...


class _NoObservation:
    def bind_hooks(self, session: Any) -> None:
        return None

    def __enter__(self) -> _NoObservation:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def finished(self, outcome: FinalResponse | RunFailed, turns: int) -> None:
        return None

    def abandoned(self, turns: int) -> None:
        return None


class NoTelemetry:
    enabled = False
    _observation = _NoObservation()

    def observe(self, spec: RunSpec, provider_kind: str, call: Call) -> Observation:
        return self._observation

    def interceptors(self) -> list[Any]:
        return []

    def watch_providers(self, agents: Agents) -> None:
        return None

    def shutdown(self) -> None:
        return None


NO_TELEMETRY = NoTelemetry()

__all__ = ["NO_TELEMETRY", "NoTelemetry", "Observation", "RunTelemetry"]
