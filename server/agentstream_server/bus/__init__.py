"""The run bus: run logs, registry and control messages (see base.py)."""

from __future__ import annotations

from ..config import BusConfig, RedisBusConfig
from .base import (
    FINAL_KINDS,
    BusError,
    BusUnavailable,
    Event,
    EventsGone,
    RunBus,
    RunExists,
    RunLog,
    RunNotFound,
    RunRecord,
    RunStatus,
    log_key,
    started_channel,
)
from .memory import MemoryBus

__all__ = [
    "FINAL_KINDS",
    "BusError",
    "BusUnavailable",
    "Event",
    "EventsGone",
    "MemoryBus",
    "RunBus",
    "RunExists",
    "RunLog",
    "RunNotFound",
    "RunRecord",
    "RunStatus",
    "log_key",
    "make_bus",
    "started_channel",
]


def make_bus(config: BusConfig) -> RunBus:
    if isinstance(config, RedisBusConfig):
        from .redis import RedisBus

        return RedisBus(config)
    return MemoryBus(config.retention_s, config.max_events_per_run)
