"""Readable streaming output: the answer's text on stdout, everything else on stderr.

Keeping stdout for the answer means `agentstream prompt ... > answer.txt` saves just the text,
while a person at a terminal sees reasoning, tool calls and the summary interleaved with it.
Colours follow rich's detection (a terminal, NO_COLOR, FORCE_COLOR, TERM=dumb).
"""

from __future__ import annotations

import json
import time

from rich.console import Console
from rich.text import Text

ERROR = "bold red"
REASONING = "dim italic"
TOOL_CALL = "cyan"
TOOL_OK = "green"
NOTE = "dim"
QUESTION = "bold yellow"

# A tool's arguments or result are shown on one line, cut at this many characters.
_PREVIEW_CHARS = 120


class Terminal:
    def __init__(self) -> None:
        self.out = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)
        # The console whose last line is unfinished (text is streamed a piece at a time).
        self._open: Console | None = None

    def stream(self, text: str, style: str = "", *, to_stderr: bool = False) -> None:
        """Writes a piece of streamed text on the current line."""
        if not text:
            return
        console = self.err if to_stderr else self.out
        if self._open is not None and self._open is not console:
            self.end_line()
        console.print(Text(text, style=style), end="")
        self._open = None if text.endswith("\n") else console

    def line(self, text: str | Text, style: str = "") -> None:
        """Writes a whole line on stderr, after ending any streamed line."""
        self.end_line()
        self.err.print(text if isinstance(text, Text) else Text(text, style=style))

    def end_line(self) -> None:
        if self._open is not None:
            self._open.print()
            self._open = None


def preview(text: str) -> str:
    """One line of at most _PREVIEW_CHARS characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= _PREVIEW_CHARS else flat[: _PREVIEW_CHARS - 1] + "…"


def compact_json(arguments: str) -> str:
    """A tool call's JSON arguments without the spaces a model may have put in."""
    try:
        return json.dumps(json.loads(arguments), ensure_ascii=False, separators=(", ", ": "))
    except ValueError:
        return arguments


def duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


class ToolLines:
    """Tool calls, their progress and their results as compact lines; a result shows how
    long its call took, timed from the call's own line."""

    def __init__(self, terminal: Terminal) -> None:
        self.terminal = terminal
        self._started: dict[str, float] = {}  # call id -> when its call line was shown

    def call(self, call_id: str, name: str, arguments: str, note: str = "") -> None:
        self._started[call_id] = time.monotonic()
        self.terminal.line(f"→ {name} {compact_json(arguments)}{note}", TOOL_CALL)

    def progress(self, name: str, message: str, fraction: float | None) -> None:
        share = f" {fraction:.0%}" if fraction is not None else ""
        self.terminal.line(f"  {name}: {preview(message)}{share}", NOTE)

    def result(self, call_id: str, name: str, content: str, is_error: bool) -> None:
        started = self._started.pop(call_id, None)
        took = f"  ({duration(time.monotonic() - started)})" if started is not None else ""
        line = Text(f"← {name} ", style=ERROR if is_error else TOOL_OK)
        line.append(("error: " if is_error else "") + preview(content))
        line.append(took, style=NOTE)
        self.terminal.line(line)
