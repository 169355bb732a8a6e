"""README blocks marked `<!-- from PATH -->` are excerpts of runnable examples: each block must
appear, line for line, in the file it names (the examples themselves run in
test_python_client_e2e.py and test_helpers_tls_e2e.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXCERPT = re.compile(r"<!-- from (\S+) -->\n```\w*\n(.*?)\n```", re.S)
BLOCKS = EXCERPT.findall((ROOT / "README.md").read_text())


def test_the_readme_marks_an_excerpt_per_typed_tool_language():
    assert {Path(path).suffix for path, _ in BLOCKS} >= {".py", ".go", ".ts"}


@pytest.mark.parametrize(
    ("path", "block"), BLOCKS, ids=[f"{p}#{i}" for i, (p, _) in enumerate(BLOCKS)]
)
def test_a_readme_excerpt_is_in_its_example(path: str, block: str):
    assert block in (ROOT / path).read_text(), f"README's block is not in {path}:\n{block}"
