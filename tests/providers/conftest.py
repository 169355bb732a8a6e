"""Fixtures for provider tests: loopback replay servers and providers pointed at them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from agentstream_server.config import AnthropicProviderConfig, OpenAIProviderConfig
from agentstream_server.providers.anthropic_messages import AnthropicMessagesProvider
from agentstream_server.providers.http import HttpProvider
from agentstream_server.providers.openai_chat import OpenAIChatProvider

from .replay import ReplayServer, Reply

KEY_ENV = "AGENTSTREAM_TEST_PROVIDER_KEY"
KEY = "sk-test-123"
# Retries fast enough for tests; a test about retry timing sets its own values.
FAST: dict[str, Any] = {"retry_base_delay_s": 0.001, "max_retry_delay_s": 1.0}


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, KEY)
    return KEY


@pytest.fixture
async def replay() -> AsyncIterator[Callable[..., Any]]:
    """Starts a replay server serving the given replies, in order; closes them after."""
    servers: list[ReplayServer] = []

    async def start(*replies: Reply) -> ReplayServer:
        server = await ReplayServer(list(replies)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def providers(api_key: str) -> AsyncIterator[Callable[..., Any]]:
    """Builds an `openai` or `anthropic` provider for a replay server; closes it after."""
    built: list[HttpProvider] = []

    def build(kind: str, server: ReplayServer, **settings: Any) -> Any:
        common = {"api_key_env": KEY_ENV, **FAST, **settings}
        provider: HttpProvider
        if kind == "openai":
            config = OpenAIProviderConfig(type="openai", base_url=f"{server.url}/v1", **common)
            provider = OpenAIChatProvider("openai", config)
        else:
            config_a = AnthropicProviderConfig(type="anthropic", base_url=server.url, **common)
            provider = AnthropicMessagesProvider("anthropic", config_a)
        built.append(provider)
        return provider

    yield build
    for provider in built:
        await provider.aclose()
