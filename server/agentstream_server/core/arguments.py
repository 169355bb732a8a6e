"""A tool's arguments checked against its JSON schema before it runs.

The model reads what is wrong (path and reason) and can fix its call; the tool
never sees arguments its schema refuses.
"""

from __future__ import annotations

import json
from typing import Any

from jsonschema import exceptions as schema_errors
from jsonschema import validators

_MAX_PROBLEMS = 5  # enough for the model to fix a call, short enough to read


class InvalidArguments(Exception):
    """The arguments of a call are not JSON or break the tool's schema."""


def schema_problem(schema: dict[str, Any]) -> str | None:
    """Why `schema` is not a usable JSON Schema, or None when it is."""
    try:
        validators.validator_for(schema, default=validators.Draft202012Validator).check_schema(
            schema
        )
    except schema_errors.SchemaError as e:
        where = e.json_path if e.path else "$"
        return f"not a valid JSON Schema: {where}: {e.message}"
    return None


class ArgumentSchema:
    """The compiled validator of one tool's arguments. Build it from a checked schema."""

    __slots__ = ("_validator",)

    def __init__(self, schema: dict[str, Any]) -> None:
        cls = validators.validator_for(schema, default=validators.Draft202012Validator)
        self._validator = cls(schema)

    def parse(self, raw: str) -> dict[str, Any]:
        """The call's arguments as an object (an empty string is `{}`); raises
        InvalidArguments saying exactly what is wrong."""
        if not raw.strip():
            value: Any = {}
        else:
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as e:
                raise InvalidArguments(f"arguments are not valid JSON: {e}") from None
        if not isinstance(value, dict):
            raise InvalidArguments(f"arguments must be a JSON object, not {_json_type(value)}")
        errors = sorted(self._validator.iter_errors(value), key=lambda e: list(e.path))
        if errors:
            problems = [f"{e.json_path}: {e.message}" for e in errors[:_MAX_PROBLEMS]]
            more = len(errors) - _MAX_PROBLEMS
            if more > 0:
                problems.append(f"and {more} more")
            raise InvalidArguments("arguments break the tool's schema: " + "; ".join(problems))
        return value


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"
