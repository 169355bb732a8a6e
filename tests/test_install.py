"""`pip install` of the server outside the repository, in fresh virtual environments: from a
clone (the client comes along from clients/python) and from the wheels `make dist` builds."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .cli.conftest import free_port
from .cli.terminal import clean_env

ROOT = Path(__file__).resolve().parent.parent
# Installing resolves grpcio & co. from PyPI (the index is asked about every dependency, the
# wheels come from the machine's pip cache): about 2 minutes a venv on the 2-core machine.
INSTALL_TIMEOUT_S = 600
pytestmark = pytest.mark.timeout(2 * INSTALL_TIMEOUT_S)


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's files as a fresh clone has them (tracked and new, not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    target = tmp_path_factory.mktemp("clone") / "agentstream"
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def _venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=120)
    return path / "bin"


def _pip_install(bin_dir: Path, *args: str) -> None:
    subprocess.run(
        [str(bin_dir / "pip"), "install", "--quiet", "--disable-pip-version-check", *args],
        check=True,
        timeout=INSTALL_TIMEOUT_S,
    )


def _agentstream(bin_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir / "agentstream"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=clean_env(cwd),
        timeout=60,
    )


def test_pip_install_of_a_clone_serves_and_prompts_from_anywhere(clone, tmp_path):
    bin_dir = _venv(tmp_path / "venv")
    _pip_install(bin_dir, str(clone))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    checked = _agentstream(bin_dir, "serve", "--check", cwd=elsewhere)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("built-in default config: OK")

    address = f"127.0.0.1:{free_port()}"
    server = subprocess.Popen(
        [str(bin_dir / "agentstream"), "serve", "--addr", address],
        cwd=elsewhere,
        env=clean_env(elsewhere),
        stderr=subprocess.PIPE,
    )
    try:
        assert server.stderr is not None
        while b"serving" not in (line := server.stderr.readline()):
            assert line, "the installed server exited before serving"
        answer = _agentstream(
            bin_dir, "prompt", "--server", address, "--agent", "echo", "hi", cwd=elsewhere
        )
        assert answer.returncode == 0, answer.stderr
        assert answer.stdout == "You said: hi\n"
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_pip_install_of_built_wheels_in_a_fresh_venv(clone, tmp_path):
    dist = tmp_path / "dist"
    for args in (
        ["--outdir", str(dist), str(clone)],
        ["--wheel", "--outdir", str(dist), str(clone / "clients" / "python")],
    ):
        subprocess.run(
            # No isolated build environments: this venv has setuptools, and it is faster.
            [sys.executable, "-m", "build", "--no-isolation", *args],
            check=True,
            capture_output=True,
            timeout=INSTALL_TIMEOUT_S,
        )
    bin_dir = _venv(tmp_path / "venv")
    _pip_install(bin_dir, "--find-links", str(dist), "agentstream-server")

    checked = _agentstream(bin_dir, "serve", "--check", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    shown = subprocess.run(
        [str(bin_dir / "pip"), "show", "--files", "agentstream-client"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "agentstream/client.py" in shown  # the client came from its wheel, not the clone
