"""Server-side tools: each module defines one `Tool`; agents name them in the config."""

from ..core.tools import Tool
from .calculator import calculator
from .clock import current_time

BUILTIN_TOOLS: dict[str, Tool] = {t.name: t for t in (calculator, current_time)}

__all__ = ["BUILTIN_TOOLS"]
