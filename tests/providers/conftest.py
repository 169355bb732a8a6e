"""Fixtures for provider tests: loopback replay servers and providers pointed at them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from agentstream_server.config import parse_config
from agentstream_server.providers.http import HttpProvider
from agentstream_server.providers.registry import build_provider

from .replay import ReplayServer, Reply

KEY_ENV = "AGENTSTREAM_TEST_PROVIDER_KEY"
KEY = "sk-test-123"
# Retries fast enough for tests; a test about retry timing sets its own values.
FAST: dict[str, Any] = {"retry_base_delay_s": 0.001, "max_retry_delay_s": 1.0}


# Where each type's API lives under its base URL, as the real services have it.
BASE_PATHS = {"openai": "/v1", "openai_responses": "/v1", "anthropic": "", "gemini": "/v1beta"}


def provider_config(kind: str, server: ReplayServer, **settings: Any) -> Any:
    """A validated config entry of type `kind` pointed at the replay server."""
    entry = {"type": kind, "base_url": server.url + BASE_PATHS[kind], "api_key_env": KEY_ENV}
    config = {
        "providers": {kind: {**entry, **FAST, **settings}},
        "agents": [{"name": "a", "provider": kind, "model": "m"}],
    }
    return parse_config(config).providers[kind]


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
    """Builds a provider of the given type for a replay server; closes it after."""
    built: list[HttpProvider] = []

    def build(kind: str, server: ReplayServer, **settings: Any) -> Any:
        provider = build_provider(kind, provider_config(kind, server, **settings))
        assert isinstance(provider, HttpProvider)
        built.append(provider)
        return provider

    yield build
    for provider in built:
        await provider.aclose()
