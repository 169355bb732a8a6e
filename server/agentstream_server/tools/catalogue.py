"""Which tools each agent has: the entries of its `tools` config resolved to tools.

An entry is a built-in name (`calculator`), a Python import path (`pkg.mod:name`
for one tool, `pkg.mod` for every tool of a module), or an MCP server
(`mcp:<server>` for all its tools, `mcp:<server>/<tool>` for one). Built-in and
Python entries are resolved once, at start; MCP tools are looked up per run, as
a server's listing changes when it restarts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..config import MCP_PREFIX, AgentConfig, Config, ConfigError
from ..core.tools import Tool
from .mcp_servers import McpServers, McpStartError, McpStatus
from .python_tools import ToolImportError, load_python_tools

logger = logging.getLogger(__name__)


@dataclass(slots=True, frozen=True)
class _McpEntry:
    server: str
    tool: str | None  # None: every tool of the server
    where: str  # agents[i].tools[j], for errors


class ToolCatalogue:
    def __init__(self, config: Config, named: dict[str, Tool]) -> None:
        """`named`: the tools agents may name by a plain name (the built-in ones)."""
        self.mcp = McpServers(config.mcp_servers)
        self._fixed: dict[str, list[Tool]] = {}
        self._mcp: dict[str, list[_McpEntry]] = {}
        for i, agent in enumerate(config.agents):
            self._resolve(i, agent, named)

    async def start(self) -> None:
        """Starts the MCP servers; raises McpStartError when a required one fails or lacks
        a tool an agent names."""
        await self.mcp.start()
        for entries in self._mcp.values():
            for entry in entries:
                server = self.mcp.servers[entry.server]
                if entry.tool is not None and server.tools and entry.tool not in server.tools:
                    await self.mcp.aclose()
                    raise McpStartError(
                        f"{entry.where}: MCP server {entry.server!r} has no tool {entry.tool!r} "
                        f"(it has: {', '.join(sorted(server.tools))})"
                    )

    async def aclose(self) -> None:
        await self.mcp.aclose()

    def tools_for(self, agent: AgentConfig) -> dict[str, Tool]:
        """The agent's tools now: its fixed ones, then those of its MCP servers that are up.
        A name already taken keeps its first tool."""
        tools = {t.name: t for t in self._fixed.get(agent.name, [])}
        for entry in self._mcp.get(agent.name, []):
            listing = self.mcp.servers[entry.server].tools
            found = listing.values() if entry.tool is None else [listing.get(entry.tool)]
            for tool in found:
                if tool is not None:
                    tools.setdefault(tool.name, tool)
        return tools

    def mcp_status_for(self, agent: AgentConfig) -> list[McpStatus]:
        names = dict.fromkeys(e.server for e in self._mcp.get(agent.name, []))
        return [self.mcp.servers[name].status for name in names]

    def _resolve(self, i: int, agent: AgentConfig, named: dict[str, Tool]) -> None:
        fixed: dict[str, tuple[Tool, str]] = {}
        mcp: list[_McpEntry] = []
        for j, entry in enumerate(agent.tools):
            where = f"agents[{i}].tools[{j}]"
            if entry.startswith(MCP_PREFIX):
                server, _, tool_name = entry.removeprefix(MCP_PREFIX).partition("/")
                mcp.append(_McpEntry(server, tool_name or None, where))
                continue
            for tool in _fixed_tools(entry, where, named):
                if tool.name in fixed:
                    _, first = fixed[tool.name]
                    raise ConfigError(
                        f"{where}: {entry!r} brings a tool named {tool.name!r}, "
                        f"which {first} already brings"
                    )
                fixed[tool.name] = (tool, where)
        self._fixed[agent.name] = [tool for tool, _ in fixed.values()]
        self._mcp[agent.name] = mcp


def _fixed_tools(entry: str, where: str, named: dict[str, Tool]) -> list[Tool]:
    if entry in named:
        return [named[entry]]
    try:
        return load_python_tools(entry)
    except ToolImportError as e:
        if e.no_module and entry.isidentifier():  # most likely a misspelt built-in name
            raise ConfigError(
                f"{where}: no server tool named {entry!r}: not built in "
                f"({', '.join(sorted(named))}) and not an importable module ({e})"
            ) from None
        raise ConfigError(f"{where}: cannot load tools from {entry!r}: {e}") from None
