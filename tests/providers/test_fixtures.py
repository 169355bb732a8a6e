"""Every shared recording has a byte-identical copy here (the tests read only the copies)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .replay import FIXTURES


def _shared() -> Path | None:
    """`shared/fixtures/providers` beside the repository (or a worktree's parent)."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "fixtures" / "providers"
        if candidate.is_dir():
            return candidate
    return None


SHARED = _shared()
RECORDINGS = (
    sorted(
        str(p.relative_to(SHARED))
        for p in SHARED.rglob("*")
        if p.is_file() and p.name != "README.md"
    )
    if SHARED
    else []
)


@pytest.mark.skipif(SHARED is None, reason="no shared/ beside the repository")
def test_every_shared_recording_is_copied() -> None:
    assert RECORDINGS and all((FIXTURES / name).is_file() for name in RECORDINGS)


@pytest.mark.parametrize("name", RECORDINGS)
def test_copy_matches_shared_recording(name: str) -> None:
    assert SHARED is not None
    assert (FIXTURES / name).read_bytes() == (SHARED / name).read_bytes()
