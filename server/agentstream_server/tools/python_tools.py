"""Python tools named in the config by import path, loaded once at start.

`package.module:name` is one tool (or a list of tools) made with `@tool`;
`package.module` is every tool defined at the top of that module, in order.
"""

from __future__ import annotations

import importlib
from dataclasses import replace
from types import ModuleType
from typing import Any

from ..core.tools import Tool, ToolSource


class ToolImportError(Exception):
    """An entry that does not name a tool; the message says why."""

    def __init__(self, message: str, *, no_module: bool = False) -> None:
        super().__init__(message)
        self.no_module = no_module  # the module itself does not exist


def load_python_tools(entry: str) -> list[Tool]:
    """The tools an entry names, each marked with where it came from."""
    module_name, _, attribute = entry.partition(":")
    module = _import(module_name)
    if attribute:
        tools = _as_tools(_attribute(module, module_name, attribute), entry)
        return [replace(t, source=ToolSource.PYTHON, origin=entry) for t in tools]
    named = [(name, v) for name, v in vars(module).items() if isinstance(v, Tool)]
    if not named:
        raise ToolImportError(f"module {module_name!r} defines no tool (made with @tool)")
    return [
        replace(t, source=ToolSource.PYTHON, origin=f"{module_name}:{name}") for name, t in named
    ]


def _import(module_name: str) -> ModuleType:
    if not module_name or not all(part.isidentifier() for part in module_name.split(".")):
        raise ToolImportError(f"{module_name!r} is not a module path (package.module:name)")
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name is not None and (module_name + ".").startswith(e.name + "."):
            raise ToolImportError(f"no module named {e.name!r}", no_module=True) from None
        raise ToolImportError(f"importing {module_name!r} failed: {_describe(e)}") from None
    except Exception as e:  # the module's own code failed while importing
        raise ToolImportError(f"importing {module_name!r} failed: {_describe(e)}") from None


def _attribute(module: ModuleType, module_name: str, attribute: str) -> Any:
    value: Any = module
    for part in attribute.split("."):
        if not hasattr(value, part):
            raise ToolImportError(f"module {module_name!r} has no {attribute!r}")
        value = getattr(value, part)
    return value


def _as_tools(found: Any, entry: str) -> list[Tool]:
    if isinstance(found, Tool):
        return [found]
    if isinstance(found, list | tuple) and found and all(isinstance(t, Tool) for t in found):
        return list(found)
    kind = "a function not made a tool with @tool" if callable(found) else type(found).__name__
    raise ToolImportError(
        f"{entry!r} is {kind}; decorate it with agentstream_server.tools.tool "
        "(or name a list of tools)"
    )


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"
