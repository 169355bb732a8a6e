"""The conformance suite: scenarios.json, run by the Python, Go, TypeScript, Java and Rust
runners against one real server. Each runner prints `PASS name` / `FAIL name: why` per scenario.

The Java and Rust runners are built with the project's caches (`.tools/m2`, `.tools/cargo`,
`.tools/cargo-target`), so only the first build on a machine downloads and compiles much."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ..client_builds import BUILD_TIMEOUT, java_command, rust_example
from .conftest import HERE, ROOT, TOOLS

SCENARIOS_FILE = HERE / "scenarios.json"
SCENARIOS = [s["name"] for s in json.loads(SCENARIOS_FILE.read_text())["scenarios"]]
LANGUAGES = ["python", "go", "typescript", "java", "rust"]
GO_DIR = ROOT / "clients" / "go"
TS_DIR = ROOT / "clients" / "typescript"


def _run(
    cmd: list[str], cwd: Path, timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def _build(language: str) -> list[str]:
    """Builds a runner (incremental: fast when nothing changed) and returns its command."""
    if language == "python":
        return [sys.executable, str(HERE / "runner.py")]
    if language == "java":
        return java_command("io.github.agentstream.conformance.Runner")
    if language == "rust":
        return rust_example("conformance")
    if language == "go":
        binary = TOOLS / "conformance" / "go-runner"
        cmd = ["go", "build", "-o", str(binary), "./cmd/conformance"]
        done = _run(cmd, GO_DIR, BUILD_TIMEOUT)
        assert done.returncode == 0, f"go build failed:\n{done.stdout}{done.stderr}"
        return [str(binary)]
    if not (TS_DIR / "node_modules" / ".package-lock.json").exists():
        done = _run(["npm", "ci", "--no-audit", "--no-fund"], TS_DIR, BUILD_TIMEOUT)
        assert done.returncode == 0, f"npm ci failed:\n{done.stdout}{done.stderr}"
    done = _run(["npm", "run", "--silent", "build"], TS_DIR, BUILD_TIMEOUT)
    assert done.returncode == 0, f"tsc failed:\n{done.stdout}{done.stderr}"
    return ["node", str(TS_DIR / "dist" / "conformance" / "runner.js")]


_results: dict[str, tuple[dict[str, str], str]] = {}


def _results_for(language: str, address: str) -> tuple[dict[str, str], str]:
    """Runs a language's runner once per session: scenario name -> its PASS/FAIL line."""
    if language not in _results:
        command = _build(language)
        done = _run([*command, "--target", address, "--scenarios", str(SCENARIOS_FILE)], ROOT, 300)
        output = done.stdout + done.stderr
        lines = {}
        for line in done.stdout.splitlines():
            m = re.match(r"(PASS|FAIL) ([^\s:]+)", line)
            if m:
                lines[m.group(2)] = line
        _results[language] = (lines, output)
    return _results[language]


@pytest.mark.timeout(BUILD_TIMEOUT)
@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_scenario(language: str, scenario: str, conformance_server: str) -> None:
    lines, output = _results_for(language, conformance_server)
    line = lines.get(scenario)
    assert line is not None, f"the {language} runner did not report {scenario}:\n{output}"
    assert line.startswith("PASS"), line
