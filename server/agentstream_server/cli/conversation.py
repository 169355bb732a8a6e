"""Conversation files for `--save` / `--continue`: the agent and the history, as JSON.

{"agent": "assistant", "run_id": "…", "history": [<agentstream.v1.Message in proto JSON>, …]}
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import click
from agentstream.v1 import agent_pb2 as pb
from google.protobuf import json_format


@dataclass
class Conversation:
    agent: str = ""
    history: list[pb.Message] = field(default_factory=list)


def load(path: Path) -> Conversation:
    """Reads a saved conversation; a bad file is a usage error naming it."""
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or not isinstance(data.get("history"), list):
            raise ValueError('expected {"agent": ..., "history": [...]}')
        history = [json_format.ParseDict(m, pb.Message()) for m in data["history"]]
    except OSError as e:
        raise click.BadParameter(f"{path}: {e.strerror}", param_hint="--continue") from None
    except (ValueError, json_format.ParseError) as e:
        raise click.BadParameter(f"{path}: {e}", param_hint="--continue") from None
    return Conversation(str(data.get("agent") or ""), history)


def save(path: Path, agent: str, run_id: str, history: Iterable[pb.Message]) -> None:
    """Writes the file whole or not at all (a temporary file renamed into place)."""
    data = {
        "agent": agent,
        "run_id": run_id,
        "history": [
            json_format.MessageToDict(m, preserving_proto_field_name=True) for m in history
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, ensure_ascii=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
