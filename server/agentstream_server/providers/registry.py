"""Builds one provider instance per configured provider; agents share them."""

from __future__ import annotations

from ..config import ProviderConfig
from ..core.model import ModelProvider
from .offline import OfflineProvider


def build_provider(name: str, config: ProviderConfig) -> ModelProvider:
    if config.type == "offline":
        return OfflineProvider(name)
    raise NotImplementedError(f"providers.{name}.type: {config.type!r} is not implemented yet")
