"""Where settings come from: flags, then environment variables, then the CLI config file.

Click applies flags and `envvar`s itself; the config file becomes its `default_map`. The file
(`$AGENTSTREAM_CLI_CONFIG`, else `$XDG_CONFIG_HOME/agentstream/cli.yaml`) holds option names
as keys: top-level keys apply to every command that has the option, a command's own section
(`prompt:`, `serve:`, ...) to that command only.

    server: agents.example.com:50051
    agent: assistant
    prompt: {max_turns: 4}
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
import yaml

CLI_CONFIG_ENV = "AGENTSTREAM_CLI_CONFIG"
DEFAULT_SERVER = "localhost:50051"


def cli_config_path() -> Path:
    explicit = os.environ.get(CLI_CONFIG_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "agentstream" / "cli.yaml"


def default_map(group: click.Group, path: Path) -> dict[str, dict[str, Any]]:
    """The config file as click's per-command defaults; a bad key is a usage error."""
    data = _read(path, explicit=CLI_CONFIG_ENV in os.environ)
    options = {name: _option_names(command) for name, command in group.commands.items()}
    shared = {_key(k): v for k, v in data.items() if k not in options}
    for key in shared:
        if not any(key in names for names in options.values()):
            raise click.UsageError(f"{path}: {key}: no command has this option")
    result: dict[str, dict[str, Any]] = {}
    for name, names in options.items():
        section = data.get(name) or {}
        if not isinstance(section, dict):
            raise click.UsageError(f"{path}: {name}: expected a mapping of option names")
        for key in map(_key, section):
            if key not in names:
                raise click.UsageError(f"{path}: {name}.{key}: `{name}` has no such option")
        values = {k: v for k, v in shared.items() if k in names}
        values.update({_key(k): v for k, v in section.items()})
        if values:
            result[name] = values
    return result


def _read(path: Path, explicit: bool) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        if explicit:
            raise click.UsageError(f"{path}: no such file (from ${CLI_CONFIG_ENV})") from None
        return {}
    except (OSError, yaml.YAMLError) as e:
        raise click.UsageError(f"{path}: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise click.UsageError(f"{path}: expected a mapping of option names")
    return data


def _option_names(command: click.Command) -> set[str]:
    return {p.name for p in command.params if isinstance(p, click.Option) and p.name}


def _key(name: object) -> str:
    return str(name).replace("-", "_")
