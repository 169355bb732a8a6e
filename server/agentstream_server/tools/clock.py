"""Tells the current time, in UTC or a named IANA time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..core.tools import ToolError, tool


@tool(
    "current_time",
    "Get the current date and time (ISO 8601) in a time zone.",
    {
        "type": "object",
        "properties": {
            "timezone": {
                "type": "string",
                "description": "IANA time zone name, e.g. Europe/Paris",
                "default": "UTC",
            }
        },
    },
)
async def current_time(arguments: dict[str, Any]) -> str:
    name = arguments.get("timezone") or "UTC"
    if not isinstance(name, str):
        raise ToolError("timezone: must be a string")
    try:
        zone = UTC if name == "UTC" else ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolError(f"timezone: unknown time zone {name!r}") from None
    return datetime.now(zone).isoformat(timespec="seconds")
