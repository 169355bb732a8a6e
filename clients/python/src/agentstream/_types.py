"""Python types as JSON schemas, and JSON values read back as those types: what a typed
client tool's parameters admit, and how a call's arguments become its arguments.

Supported: str, int, float, bool, None, Any, Literal, Enum, Optional/Union (`X | None`),
list/Sequence/set/frozenset/tuple, dict/Mapping with str keys, dataclasses, TypedDicts,
pydantic models (anything with `model_json_schema` and `model_validate`), and Annotated
with a description (a str, or an object with a `description`, such as pydantic's Field)
or a dict of JSON schema keywords (`Annotated[str, {"examples": ["Oslo"]}]`).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import inspect
import types
import typing
from typing import Any

_NoneType = type(None)


class NoSchema(TypeError):
    """A type with no JSON schema (a callable, a socket, a recursive dataclass...)."""


class DoesNotFit(ValueError):
    """A JSON value the Python type cannot hold; the message starts with its path."""


class Schemas:
    """Builds schemas of types; pydantic models' and dataclasses' shared definitions go in
    `defs`, which the tool's root schema carries as `$defs`."""

    def __init__(self) -> None:
        self.defs: dict[str, Any] = {}
        self._open: set[Any] = set()  # the dataclasses on the current path

    def of(self, tp: Any) -> dict[str, Any]:
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if tp is Any or tp is inspect.Parameter.empty:
            return {}
        if origin is typing.Annotated:
            schema = self.of(args[0])
            description = _description(args[1:])
            if description:
                schema["description"] = description
            for extra in args[1:]:  # JSON schema keywords given as they are
                if isinstance(extra, dict):
                    schema.update(extra)
            return schema
        if tp is _NoneType or tp is None:
            return {"type": "null"}
        if tp in _SCALARS:
            return {"type": _SCALARS[tp]}
        if origin is typing.Literal:
            return _enum(list(args))
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return _enum([member.value for member in tp])
        if origin is typing.Union or origin is types.UnionType:
            return {"anyOf": [self.of(arg) for arg in args]}
        if origin in _ARRAYS or tp in _ARRAYS:
            return self._array(tp, origin or tp, args)
        if origin in _MAPPINGS or tp in _MAPPINGS:
            return self._mapping(args)
        if _is_pydantic(tp):
            return self._pydantic(tp)
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            return self._object(tp, _dataclass_fields(tp))
        if typing.is_typeddict(tp):
            return self._typeddict(tp)
        raise NoSchema(f"type {_name(tp)} has no JSON schema")

    def _array(self, tp: Any, origin: Any, args: tuple[Any, ...]) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "array"}
        if origin is tuple and args and args[-1] is not Ellipsis:
            schema["prefixItems"] = [self.of(arg) for arg in args]
            schema["minItems"] = schema["maxItems"] = len(args)
            return schema
        if args:
            schema["items"] = self.of(args[0])
        if origin in (set, frozenset, collections.abc.Set):
            schema["uniqueItems"] = True
        return schema

    def _mapping(self, args: tuple[Any, ...]) -> dict[str, Any]:
        if not args:
            return {"type": "object"}
        if args[0] is not str:
            raise NoSchema(f"mapping keys must be str, not {_name(args[0])}")
        return {"type": "object", "additionalProperties": self.of(args[1])}

    def _pydantic(self, model: Any) -> dict[str, Any]:
        schema = dict(model.model_json_schema(ref_template="#/$defs/{model}"))
        self.defs.update(schema.pop("$defs", {}))
        return schema

    def _object(self, tp: Any, fields: list[tuple[str, Any, bool]]) -> dict[str, Any]:
        if tp in self._open:
            raise NoSchema(f"recursive type {_name(tp)} has no JSON schema")
        self._open.add(tp)
        try:
            properties = {name: self.of(hint) for name, hint, _ in fields}
        finally:
            self._open.discard(tp)
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        required = [name for name, _, is_required in fields if is_required]
        if required:
            schema["required"] = required
        schema["additionalProperties"] = False
        return schema

    def _typeddict(self, tp: Any) -> dict[str, Any]:
        hints = typing.get_type_hints(tp, include_extras=True)
        required_keys: frozenset[str] = tp.__required_keys__
        fields = [(name, hint, name in required_keys) for name, hint in hints.items()]
        return self._object(tp, fields)


def convert(value: Any, tp: Any, path: str) -> Any:
    """`value` (parsed JSON) as `tp`; raises DoesNotFit naming the path."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or tp is inspect.Parameter.empty:
        return value
    if origin is typing.Annotated:
        return convert(value, args[0], path)
    if tp is _NoneType or tp is None:
        return _expect(value is None, value, value, "None", path)
    if tp is bool or tp is str:
        return _expect(isinstance(value, tp), value, value, tp.__name__, path)
    if tp is int:
        whole = isinstance(value, float) and value.is_integer()
        ok = (isinstance(value, int) and not isinstance(value, bool)) or whole
        return _expect(ok, value, int(value) if ok else value, "int", path)
    if tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return _expect(ok, value, float(value) if ok else value, "float", path)
    if origin is typing.Literal:
        return _expect(value in args, value, value, _name(tp), path)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            raise DoesNotFit(f"{path}: {_kind(value)} does not fit {tp.__name__}") from None
    if origin is typing.Union or origin is types.UnionType:
        return _convert_union(value, args, path)
    if origin in _ARRAYS or tp in _ARRAYS:
        return _convert_array(value, origin or tp, args, path)
    if origin in _MAPPINGS or tp in _MAPPINGS:
        _expect(isinstance(value, dict), value, value, _name(tp), path)
        item = args[1] if args else Any
        return {k: convert(v, item, f"{path}.{k}") for k, v in value.items()}
    if _is_pydantic(tp):
        return _convert_pydantic(value, tp, path)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        fields = _dataclass_fields(tp)
        return tp(**convert_object(value, fields, path))
    if typing.is_typeddict(tp):
        hints = typing.get_type_hints(tp, include_extras=True)
        fields = [(name, hint, name in tp.__required_keys__) for name, hint in hints.items()]
        return convert_object(value, fields, path)
    return value


def convert_object(
    value: Any, fields: list[tuple[str, Any, bool]], path: str, open_ended: bool = False
) -> dict[str, Any]:
    """An arguments object as keyword arguments: each field converted, none missing that is
    required, none unknown unless `open_ended`."""
    if not isinstance(value, dict):
        raise DoesNotFit(f"{path}: {_kind(value)} does not fit an object")
    types_ = {name: hint for name, hint, _ in fields}
    for name, _, required in fields:
        if required and name not in value:
            raise DoesNotFit(f'{path}: missing field "{name}"')
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key not in types_ and not open_ended:
            raise DoesNotFit(f'{path}: unknown field "{key}"')
        out[key] = convert(item, types_.get(key, Any), f"{path}.{key}")
    return out


def _convert_union(value: Any, args: tuple[Any, ...], path: str) -> Any:
    if value is None and _NoneType in args:
        return None
    problems = []
    for arg in args:
        if arg is _NoneType:
            continue
        try:
            return convert(value, arg, path)
        except DoesNotFit as e:
            problems.append(str(e))
    raise DoesNotFit(
        problems[0]
        if len(problems) == 1
        else f"{path}: {_kind(value)} fits none of {' | '.join(_name(a) for a in args)}"
    )


def _convert_array(value: Any, origin: Any, args: tuple[Any, ...], path: str) -> Any:
    _expect(isinstance(value, list), value, value, _name(origin), path)
    if origin is tuple and args and args[-1] is not Ellipsis:
        if len(value) != len(args):
            raise DoesNotFit(f"{path}: {len(value)} items do not fit {len(args)}")
        return tuple(
            convert(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True))
        )
    item = args[0] if args else Any
    items = [convert(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin in (set, collections.abc.Set):
        return set(items)
    if origin is frozenset:
        return frozenset(items)
    return tuple(items) if origin is tuple else items


def _convert_pydantic(value: Any, model: Any, path: str) -> Any:
    try:
        return model.model_validate(value)
    except ValueError as e:  # pydantic's ValidationError is a ValueError
        errors = getattr(e, "errors", None)
        if callable(errors) and errors():
            first = errors()[0]
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
            raise DoesNotFit(f"{path}{where}: {first['msg']}") from None
        raise DoesNotFit(f"{path}: {e}") from None


def _expect(ok: bool, value: Any, result: Any, what: str, path: str) -> Any:
    if not ok:
        raise DoesNotFit(f"{path}: {_kind(value)} does not fit {what}")
    return result


def _kind(value: Any) -> str:
    """A JSON value in a few words, as Go's decoder says it: "string", "number 300"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return f"number {value}"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _enum(values: list[Any]) -> dict[str, Any]:
    schema: dict[str, Any] = {}
    kinds = {_SCALARS.get(type(v)) for v in values}
    if len(kinds) == 1 and None not in kinds:
        schema["type"] = kinds.pop()
    schema["enum"] = values
    return schema


def _description(metadata: tuple[Any, ...]) -> str:
    for item in metadata:
        if isinstance(item, str):
            return item
        text = getattr(item, "description", None)
        if isinstance(text, str):
            return text
    return ""


def _dataclass_fields(tp: Any) -> list[tuple[str, Any, bool]]:
    hints = typing.get_type_hints(tp, include_extras=True)
    return [
        (
            f.name,
            hints.get(f.name, Any),
            f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
        )
        for f in dataclasses.fields(tp)
        if f.init
    ]


def _is_pydantic(tp: Any) -> bool:
    return (
        isinstance(tp, type) and hasattr(tp, "model_json_schema") and hasattr(tp, "model_validate")
    )


def _name(tp: Any) -> str:
    return tp.__name__ if isinstance(tp, type) else str(tp).replace("typing.", "")


_SCALARS: dict[Any, str] = {str: "string", bool: "boolean", int: "integer", float: "number"}
_ARRAYS = (list, tuple, set, frozenset, collections.abc.Sequence, collections.abc.Set)
_MAPPINGS = (dict, collections.abc.Mapping)
