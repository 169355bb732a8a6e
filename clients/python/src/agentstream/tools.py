"""Client tools: plain async functions the model may call, run in the caller's process.

Two forms. A *typed* tool takes its arguments as parameters; its JSON schema comes from
their type hints (defaults make them optional) and its description from the docstring,
with each parameter's description from an `Args:` (Google) or `Parameters` (NumPy)
section:

    @tool
    async def forecast(city: str, days: int = 1, unit: Literal["C", "F"] = "C") -> str:
        \"\"\"Weather forecast of a city.

        Args:
            city: City name.
            days: How many days ahead.
        \"\"\"

A function of one parameter that is unannotated or annotated as a mapping
(`async def f(arguments: dict[str, Any])`) gets the arguments object whole, as before;
its schema is the `parameters` given to `tool()` (any object without one).

Either form may take a progress reporter: a parameter annotated `Progress` (typed tools),
or a second positional parameter (whole-arguments tools).
"""

from __future__ import annotations

import enum
import inspect
import json
import re
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, overload

from ._types import DoesNotFit, NoSchema, Schemas, convert_object
from .v1 import agent_pb2 as pb

ToolFunction = Callable[..., Awaitable[Any]]


class Progress(Protocol):
    """Reports a running tool's progress: `await progress("message", fraction)` (0..1)."""

    def __call__(self, message: str, fraction: float | None = None, /) -> Awaitable[None]: ...


class ToolArgumentsError(ValueError):
    """A call's arguments that the tool's parameters cannot hold. The model reads the
    message as the call's is_error result, worded as in the other helpers: `tool "forecast"
    not run: arguments do not fit its parameters: $.days: string does not fit int`."""


@dataclass(frozen=True)
class ClientTool:
    """A tool the model may call that runs in this process."""

    name: str
    description: str
    parameters: Mapping[str, Any]
    function: ToolFunction
    _call: _Call = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_call", _calling_convention(self.name, self.function))

    def definition(self) -> pb.ToolDefinition:
        definition = pb.ToolDefinition(name=self.name, description=self.description)
        definition.parameters.update(dict(self.parameters))
        return definition

    async def invoke(self, arguments: Any, progress: Progress) -> Any:
        """Calls the function with a call's parsed arguments; raises ToolArgumentsError
        when they do not fit its parameters."""
        return await self._call.invoke(self.name, arguments, progress)


@overload
def tool(name: ToolFunction, /) -> ClientTool: ...
@overload
def tool(
    name: str | None = None, description: str = "", parameters: Mapping[str, Any] | None = None
) -> Callable[[ToolFunction], ClientTool]: ...
def tool(
    name: str | ToolFunction | None = None,
    description: str = "",
    parameters: Mapping[str, Any] | None = None,
) -> ClientTool | Callable[[ToolFunction], ClientTool]:
    """Makes a client tool of an async function: `@tool`, or `@tool("name", "description",
    {...json schema...})` where each part left out comes from the function (its name, its
    docstring, its signature). Raises TypeError when a parameter's type has no JSON schema."""
    if callable(name):
        return tool()(name)

    def wrap(function: ToolFunction) -> ClientTool:
        tool_name = name or function.__name__
        summary, documented = parse_docstring(inspect.getdoc(function) or "")
        schema = (
            parameters
            if parameters is not None
            else _derived_schema(tool_name, function, documented)
        )
        return ClientTool(tool_name, description or summary, schema, function)

    return wrap


# --- calling conventions ------------------------------------------------------------------


class _Call(Protocol):
    async def invoke(self, name: str, arguments: Any, progress: Progress) -> Any: ...


@dataclass(frozen=True)
class _WholeArguments:
    function: ToolFunction
    takes_progress: bool

    async def invoke(self, name: str, arguments: Any, progress: Progress) -> Any:
        if self.takes_progress:
            return await self.function(arguments, progress)
        return await self.function(arguments)


@dataclass(frozen=True)
class _Keywords:
    function: ToolFunction
    fields: list[tuple[str, Any, bool]]  # (name, type, required)
    progress: str | None  # the name of the parameter annotated Progress
    open_ended: bool  # **kwargs takes the arguments no parameter names

    async def invoke(self, name: str, arguments: Any, progress: Progress) -> Any:
        try:
            kwargs = convert_object(arguments, self.fields, "$", self.open_ended)
        except DoesNotFit as e:
            raise ToolArgumentsError(
                f"tool {json.dumps(name)} not run: arguments do not fit its parameters: {e}"
            ) from None
        if self.progress is not None:
            kwargs[self.progress] = progress
        return await self.function(**kwargs)


def _calling_convention(name: str, function: ToolFunction) -> _Call:
    parameters = list(inspect.signature(function).parameters.values())
    hints = _hints(function)
    if _takes_whole_arguments(parameters, hints):
        positional = [p for p in parameters if p.kind in _POSITIONAL]
        return _WholeArguments(function, len(positional) >= 2)
    fields: list[tuple[str, Any, bool]] = []
    progress, open_ended = None, False
    for p in parameters:
        hint = hints.get(p.name, Any)
        if hint is Progress:
            progress = p.name
        elif p.kind is inspect.Parameter.VAR_KEYWORD:
            open_ended = True
        elif p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.POSITIONAL_ONLY):
            raise TypeError(f"tool {name!r}: parameter {p.name!r} cannot be given by name")
        else:
            fields.append((p.name, hint, p.default is inspect.Parameter.empty))
    return _Keywords(function, fields, progress, open_ended)


def _takes_whole_arguments(parameters: list[inspect.Parameter], hints: dict[str, Any]) -> bool:
    """One parameter, unannotated or a mapping (and maybe a progress reporter after it)."""
    positional = [p for p in parameters if p.kind in _POSITIONAL]
    if not positional or len(positional) > 2 or len(positional) != len(parameters):
        return False
    first = hints.get(positional[0].name, Any)
    if first is not Any and typing.get_origin(first) not in _WHOLE and first not in _WHOLE:
        return False
    return len(positional) == 1 or hints.get(positional[1].name, Any) in (Any, Progress)


def _derived_schema(
    name: str, function: ToolFunction, documented: dict[str, str]
) -> dict[str, Any]:
    call = _calling_convention(name, function)
    if not isinstance(call, _Keywords):
        return {"type": "object", "properties": {}}
    schemas = Schemas()
    defaults = {
        p.name: p.default
        for p in inspect.signature(function).parameters.values()
        if p.default is not inspect.Parameter.empty
    }
    properties: dict[str, Any] = {}
    for field_name, hint, _ in call.fields:
        try:
            schema = schemas.of(hint)
        except NoSchema as e:
            raise TypeError(f"tool {name!r}: parameter {field_name!r}: {e}") from None
        if field_name in documented and "description" not in schema:
            schema = {**schema, "description": documented[field_name]}
        default = defaults.get(field_name, inspect.Parameter.empty)
        if isinstance(default, enum.Enum):
            default = default.value
        if default is not inspect.Parameter.empty and _is_json(default):
            schema = {**schema, "default": default}
        properties[field_name] = schema
    result: dict[str, Any] = {"type": "object", "properties": properties}
    required = [n for n, _, is_required in call.fields if is_required]
    if required:
        result["required"] = required
    if not call.open_ended:
        result["additionalProperties"] = False
    if schemas.defs:
        result["$defs"] = schemas.defs
    return result


def _hints(function: ToolFunction) -> dict[str, Any]:
    try:
        return typing.get_type_hints(function, include_extras=True)
    except Exception:  # names only a type checker sees: the parameters count as untyped
        return {}


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_WHOLE: tuple[Any, ...] = (dict, Mapping)


# --- docstrings ---------------------------------------------------------------------------

_GOOGLE_ARGS = re.compile(r"^(Args|Arguments|Parameters|Params):\s*$")
_SECTION = re.compile(r"^([A-Z][A-Za-z ]*):\s*$")
_NUMPY_HEADER = re.compile(r"^-{3,}\s*$")
_GOOGLE_ITEM = re.compile(r"^(\*{0,2}\w+)\s*(\([^)]*\))?\s*:\s*(.*)$")
_NUMPY_ITEM = re.compile(r"^(\w+)\s*(:.*)?$")


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """A docstring's description (the text before its first section) and the description
    of each parameter in its Google-style `Args:` or NumPy-style `Parameters` section."""
    lines = doc.splitlines()
    summary: list[str] = []
    params: dict[str, str] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        if _GOOGLE_ARGS.match(line):
            i = _google_items(lines, i + 1, params)
            continue
        numpy = i + 1 < len(lines) and _NUMPY_HEADER.match(lines[i + 1])
        if numpy and line.strip() in ("Parameters", "Arguments", "Args"):
            i = _numpy_items(lines, i + 2, params)
            continue
        if _SECTION.match(line) or numpy:
            break  # Returns:, Raises:, Examples ... end the description
        if not params:
            summary.append(line)
        i += 1
    return "\n".join(summary).strip(), params


def _google_items(lines: list[str], i: int, params: dict[str, str]) -> int:
    """Reads `name (type): text` items, continued on more indented lines, up to the
    section's end (a line back at the left margin)."""
    item_indent: int | None = None
    current: str | None = None
    while i < len(lines) and (not lines[i].strip() or lines[i][:1] in (" ", "\t")):
        text = lines[i].strip()
        if text:
            indent = len(lines[i]) - len(lines[i].lstrip())
            item_indent = indent if item_indent is None else item_indent
            item = _GOOGLE_ITEM.match(text)
            if indent == item_indent and item:
                current = item.group(1).lstrip("*")
                params[current] = item.group(3).strip()
            elif current is not None:
                params[current] = f"{params[current]} {text}".strip()
        i += 1
    return i


def _numpy_items(lines: list[str], i: int, params: dict[str, str]) -> int:
    current = None
    while i < len(lines):
        line = lines[i]
        if i + 1 < len(lines) and _NUMPY_HEADER.match(lines[i + 1]) and line.strip():
            break  # the next section
        if line and not line.startswith((" ", "\t")):
            item = _NUMPY_ITEM.match(line.strip())
            current = item.group(1) if item else None
            if current is not None:
                params[current] = ""
        elif line.strip() and current is not None:
            params[current] = f"{params[current]} {line.strip()}".strip()
        i += 1
    return i
