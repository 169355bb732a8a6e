"""Builds from a checkout depend on the Python client in the same checkout.

`agentstream-client` is not on a package index, so a plain `pip install .` of a fresh clone
could not resolve it (or, worse, could pick up an unrelated package of that name). When
`clients/python` sits beside this file (a git checkout, never an sdist), the requirement is
pinned to that directory, and pip builds and installs the client alongside the server. Wheels
built from an sdist (`python -m build`) keep the plain `agentstream-client` requirement, met by
the client's own wheel (see "Install" in README.md).
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.egg_info import egg_info

CLIENT = Path(__file__).resolve().parent / "clients" / "python"
CLIENT_NAME = "agentstream-client"


class egg_info_with_local_client(egg_info):
    def run(self) -> None:
        if (CLIENT / "pyproject.toml").is_file():
            dist = self.distribution
            requires = [
                f"{CLIENT_NAME} @ {CLIENT.as_uri()}" if r == CLIENT_NAME else r
                for r in dist.install_requires
            ]
            dist.install_requires = dist.metadata.install_requires = requires
        super().run()


setup(cmdclass={"egg_info": egg_info_with_local_client})
