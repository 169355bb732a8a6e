"""Builds the Java and Rust clients' programs (incrementally, with the caches under .tools:
`.tools/m2`, `.tools/cargo`, `.tools/cargo-target`) and returns the command that runs one."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools"
JAVA_DIR = ROOT / "clients" / "java"
RUST_DIR = ROOT / "clients" / "rust"
MAVEN = ["mvn", "-B", "-q", f"-Dmaven.repo.local={TOOLS / 'm2'}"]
CARGO_ENV = {"CARGO_HOME": str(TOOLS / "cargo"), "CARGO_TARGET_DIR": str(TOOLS / "cargo-target")}
BUILD_TIMEOUT = 900


def run_checked(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Runs a build or tool command to the end; its stdout, or a failed assert with its output."""
    done = subprocess.run(
        cmd,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout}{done.stderr}"
    return done.stdout


def java_command(main_class: str) -> list[str]:
    """`java` running a class of the Java client's main or test sources."""
    classpath = JAVA_DIR / "target" / "classpath.txt"
    run_checked(
        [*MAVEN, "test-compile", "dependency:build-classpath", f"-Dmdep.outputFile={classpath}"],
        JAVA_DIR,
    )
    target = JAVA_DIR / "target"
    path = f"{target / 'classes'}:{target / 'test-classes'}:{classpath.read_text().strip()}"
    return ["java", "-cp", path, main_class]


def rust_example(name: str, *features: str) -> list[str]:
    """The binary of one of the Rust crate's examples."""
    cmd = ["cargo", "build", "--locked", "--example", name]
    if features:
        cmd += ["--features", ",".join(features)]
    run_checked(cmd, RUST_DIR, CARGO_ENV)
    return [str(TOOLS / "cargo-target" / "debug" / "examples" / name)]
