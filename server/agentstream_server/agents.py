"""The configured agents, and how a prompt request becomes a runnable `RunSpec`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .config import AgentConfig, Config
from .core.arguments import ArgumentSchema, schema_problem
from .core.driver import RunSpec
from .core.errors import AgentNotFound, InvalidRequest, quote
from .core.hooks import NO_HOOKS, RunHooks
from .core.ids import new_run_id
from .core.messages import Message, Role
from .core.model import ModelProvider, ModelRequest, ToolChoice, ToolChoiceMode, ToolSpec
from .core.tools import Tool
from .providers.registry import build_provider
from .tools.catalogue import ToolCatalogue


@dataclass(slots=True)
class PromptRequest:
    """A StreamPrompt request, checked for shape, in the core's terms."""

    agent: str = ""
    prompt: str = ""
    history: list[Message] = field(default_factory=list)
    max_turns: int | None = None
    run_id: str = ""
    client_tools: list[ToolSpec] = field(default_factory=list)
    model: str | None = None
    preamble: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    tool_choice: ToolChoice | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Agents:
    def __init__(self, config: Config, tools: dict[str, Tool]) -> None:
        """`tools`: the tools agents may name by a plain name (the built-in ones)."""
        self.config = config
        self.tools = ToolCatalogue(config, tools)
        self.providers: dict[str, ModelProvider] = {
            name: build_provider(name, provider) for name, provider in config.providers.items()
        }
        self._agents = {a.name: a for a in config.agents}

    def get(self, name: str) -> AgentConfig:
        agent = self._agents.get(name or self.config.default_agent_name)
        if agent is None:
            raise AgentNotFound(name, list(self._agents))
        return agent

    def list(self) -> list[AgentConfig]:
        return list(self.config.agents)

    def provider_type(self, agent_name: str) -> str:
        """The wire format of an agent's provider: offline, openai, anthropic."""
        return self.config.providers[self.get(agent_name).provider].type

    def server_tools(self, agent: AgentConfig) -> dict[str, Tool]:
        return self.tools.tools_for(agent)

    async def start(self) -> None:
        await self.tools.start()

    async def aclose(self) -> None:
        await self.tools.aclose()
        for provider in self.providers.values():
            await provider.aclose()

    def build_run(self, request: PromptRequest, hooks: RunHooks = NO_HOOKS) -> RunSpec:
        agent = self.get(request.agent)
        server_tools = self.server_tools(agent)
        client_tools = _client_tools(request.client_tools, server_tools)
        specs = [t.spec for t in server_tools.values()] + request.client_tools
        tool_choice = request.tool_choice or ToolChoice()
        if tool_choice.mode is ToolChoiceMode.TOOL and tool_choice.tool_name not in {
            s.name for s in specs
        }:
            raise InvalidRequest(
                "tool_choice.tool_name", f"no tool named {quote(tool_choice.tool_name)} in this run"
            )
        model_request = ModelRequest(
            model=request.model or agent.model,
            messages=[],
            preamble=agent.preamble if request.preamble is None else request.preamble,
            tools=specs,
            temperature=agent.temperature if request.temperature is None else request.temperature,
            max_tokens=agent.max_tokens if request.max_tokens is None else request.max_tokens,
            tool_choice=tool_choice,
            extra={**agent.extra_params, **request.extra},
        )
        return RunSpec(
            run_id=request.run_id or new_run_id(),
            agent=agent.name,
            provider=self.providers[agent.provider],
            request=model_request,
            history=_conversation(request),
            max_turns=request.max_turns or agent.max_turns,
            server_tools=server_tools,
            client_tools=client_tools,
            tool_concurrency=agent.tool_concurrency,
            tool_timeout_s=agent.tool_timeout_s,
            hooks=hooks,
            max_tool_output_bytes=self.config.limits.max_tool_output_bytes,
        )


def _conversation(request: PromptRequest) -> list[Message]:
    """The history with the prompt last; an empty prompt means the history's last message."""
    if request.prompt:
        return [*request.history, Message.user(request.prompt)]
    if not request.history:
        raise InvalidRequest("prompt", "required when history is empty")
    if request.history[-1].role is not Role.USER:
        raise InvalidRequest(
            "prompt", "empty, so the last history message must be a user message to answer"
        )
    return list(request.history)


def _client_tools(
    client_tools: list[ToolSpec], server_tools: dict[str, Tool]
) -> dict[str, ArgumentSchema]:
    """The client tools' argument checkers; their names and schemas checked."""
    seen: dict[str, ArgumentSchema] = {}
    for i, spec in enumerate(client_tools):
        if spec.name in server_tools:
            raise InvalidRequest(
                f"tools[{i}].name", f"{quote(spec.name)} is a server tool of this agent"
            )
        if spec.name in seen:
            raise InvalidRequest(f"tools[{i}].name", f"duplicate tool name {quote(spec.name)}")
        problem = schema_problem(spec.parameters)
        if problem is not None:
            raise InvalidRequest(f"tools[{i}].parameters", f"tool {quote(spec.name)}: {problem}")
        seen[spec.name] = ArgumentSchema(spec.parameters)
    return seen
