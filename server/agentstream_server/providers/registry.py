"""Builds one provider instance per configured provider; agents share them."""

from __future__ import annotations

from ..config import (
    AnthropicProviderConfig,
    GeminiProviderConfig,
    OpenAIProviderConfig,
    OpenAIResponsesProviderConfig,
    ProviderConfig,
)
from ..core.model import ModelProvider
from .anthropic_messages import AnthropicMessagesProvider
from .gemini import GeminiProvider
from .offline import OfflineProvider
from .openai_chat import OpenAIChatProvider
from .openai_responses import OpenAIResponsesProvider


def build_provider(name: str, config: ProviderConfig) -> ModelProvider:
    if config.type == "offline":
        return OfflineProvider(name)
    if isinstance(config, OpenAIProviderConfig):
        return OpenAIChatProvider(name, config)
    if isinstance(config, AnthropicProviderConfig):
        return AnthropicMessagesProvider(name, config)
    if isinstance(config, OpenAIResponsesProviderConfig):
        return OpenAIResponsesProvider(name, config)
    if isinstance(config, GeminiProviderConfig):
        return GeminiProvider(name, config)
    raise NotImplementedError(f"providers.{name}.type: {config.type!r} is not implemented yet")
