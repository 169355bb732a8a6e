"""The copied recordings stay byte-identical to the shared ones they came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from .replay import FIXTURES

SHARED = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "providers"
COPIED = [
    "openai_chat/text.sse",
    "openai_chat/single_tool.sse",
    "openai_chat/parallel_tool_calls.sse",
    "anthropic/text.sse",
    "anthropic/thinking.sse",
    "anthropic/tool_no_args.sse",
]


@pytest.mark.skipif(not SHARED.is_dir(), reason="no shared/ beside the repository")
@pytest.mark.parametrize("name", COPIED)
def test_copy_matches_shared_recording(name: str) -> None:
    assert (FIXTURES / name).read_bytes() == (SHARED / name).read_bytes()
