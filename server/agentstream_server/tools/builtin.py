"""The tools shipped with the server, by the names agents give them in the config."""

from __future__ import annotations

from dataclasses import replace

from ..core.tools import Tool, ToolSource
from .calculator import calculator
from .clock import current_time

BUILTIN_TOOLS: dict[str, Tool] = {
    t.name: replace(t, source=ToolSource.BUILTIN) for t in (calculator, current_time)
}
