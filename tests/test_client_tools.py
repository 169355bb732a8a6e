"""The Python helper's client tools: the JSON schema and description derived from a
function's signature and docstring, arguments read back as the parameters' types (or a
clear error the model reads), the run() keyword check and the ErrorCode enum. A typed
tool over a real server is in test_python_client_e2e.py and the conformance suite."""

from __future__ import annotations

import dataclasses
import enum
from typing import Annotated, Any, Literal, TypedDict

import grpc
import pydantic
import pytest
from agentstream import AgentClient, ErrorCode, Progress, RunFailed, ToolArgumentsError, tool
from agentstream.tools import parse_docstring
from agentstream.v1 import agent_pb2 as pb


class Unit(enum.Enum):
    C = "C"
    F = "F"


@dataclasses.dataclass
class Place:
    lat: float
    lon: float = 0.0


class Options(TypedDict, total=False):
    hourly: bool


@tool
async def forecast(
    city: str,
    days: int = 1,
    unit: Unit = Unit.C,
    note: str | None = None,
    hours: list[int] | None = None,
    place: Place | None = None,
    scale: Literal[1, 2] = 1,
    extra: dict[str, float] | None = None,
    label: Annotated[str, "A label shown as is"] = "",
    options: Options | None = None,
    *,
    progress: Progress,
) -> str:
    """Weather forecast of a city.

    Args:
        city: City name, in English
            or as written locally.
        days (int): How many days ahead.

    Returns:
        The forecast, as text.
    """
    await progress("looking")
    return f"{city} {days} {unit} {note} {hours} {place} {scale} {extra} {label!r} {options}"


async def no_progress(message: str, fraction: float | None = None) -> None:
    pass


def test_the_schema_and_description_come_from_the_signature_and_docstring():
    assert forecast.name == "forecast"
    assert forecast.description == "Weather forecast of a city."
    nullable = [{"type": "null"}]
    assert forecast.parameters == {
        "type": "object",
        "properties": {
            "city": {
                "type": "string",
                "description": "City name, in English or as written locally.",
            },
            "days": {"type": "integer", "description": "How many days ahead.", "default": 1},
            "unit": {"type": "string", "enum": ["C", "F"], "default": "C"},
            "note": {"anyOf": [{"type": "string"}, *nullable], "default": None},
            "hours": {
                "anyOf": [{"type": "array", "items": {"type": "integer"}}, *nullable],
                "default": None,
            },
            "place": {
                "anyOf": [
                    {
                        "type": "object",
                        "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}},
                        "required": ["lat"],
                        "additionalProperties": False,
                    },
                    *nullable,
                ],
                "default": None,
            },
            "scale": {"type": "integer", "enum": [1, 2], "default": 1},
            "extra": {
                "anyOf": [
                    {"type": "object", "additionalProperties": {"type": "number"}},
                    *nullable,
                ],
                "default": None,
            },
            "label": {"type": "string", "description": "A label shown as is", "default": ""},
            "options": {
                "anyOf": [
                    {
                        "type": "object",
                        "properties": {"hourly": {"type": "boolean"}},
                        "additionalProperties": False,
                    },
                    *nullable,
                ],
                "default": None,
            },
        },
        "required": ["city"],
        "additionalProperties": False,
    }


async def test_arguments_arrive_as_the_parameters_types():
    arguments = {"city": "Oslo", "days": 3.0, "unit": "F", "hours": [6, 12], "place": {"lat": 59.9}}
    out = await forecast.invoke(arguments, no_progress)
    assert out == "Oslo 3 Unit.F None [6, 12] Place(lat=59.9, lon=0.0) 1 None '' None"


@pytest.mark.parametrize(
    ("arguments", "why"),
    [
        ({"city": 7}, "$.city: number 7 does not fit str"),
        ({"days": 2}, '$: missing field "city"'),
        ({"city": "Oslo", "country": "NO"}, '$: unknown field "country"'),
        ({"city": "Oslo", "days": "three"}, "$.days: string does not fit int"),
        ({"city": "Oslo", "days": 1.5}, "$.days: number 1.5 does not fit int"),
        ({"city": "Oslo", "unit": "K"}, "$.unit: string does not fit Unit"),
        ({"city": "Oslo", "hours": [6, "noon"]}, "$.hours[1]: string does not fit int"),
        ({"city": "Oslo", "place": {"lon": 1}}, '$.place: missing field "lat"'),
        ({"city": "Oslo", "scale": 3}, "$.scale: number 3 does not fit Literal[1, 2]"),
        (["Oslo"], "$: array does not fit an object"),
    ],
)
async def test_arguments_that_do_not_fit_name_the_path(arguments: Any, why: str):
    with pytest.raises(ToolArgumentsError) as raised:
        await forecast.invoke(arguments, no_progress)
    prefix = 'tool "forecast" not run: arguments do not fit its parameters: '
    assert str(raised.value) == prefix + why


async def test_a_function_of_the_whole_arguments_object_keeps_working():
    @tool("lookup", "Looks a key up", {"type": "object", "properties": {"key": {"type": "string"}}})
    async def lookup(arguments: dict[str, Any]) -> str:
        return arguments["key"]

    async def with_progress(args, progress):  # unannotated: the form before typed tools
        await progress("half", 0.5)
        return args

    assert await lookup.invoke({"key": "x"}, no_progress) == "x"
    plain = tool(with_progress)
    assert plain.parameters == {"type": "object", "properties": {}}
    assert await plain.invoke({"a": 1}, no_progress) == {"a": 1}


def test_a_parameter_type_without_a_schema_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="tool 'f': parameter 'when': type object has no JSON"):

        @tool
        async def f(when: object) -> str:
            return ""


def test_numpy_style_parameters_and_sections_that_end_the_description():
    summary, params = parse_docstring(
        "Adds two numbers.\n\nParameters\n----------\na : int\n    The first,\n    really."
        "\nb : int\n    The second.\n\nReturns\n-------\nint\n    The sum."
    )
    assert summary == "Adds two numbers."
    assert params == {"a": "The first, really.", "b": "The second."}


async def test_run_refuses_an_unknown_keyword_naming_the_valid_ones():
    client = AgentClient("localhost:1")
    with pytest.raises(TypeError) as raised:
        client.run("hi", detatch=True)
    message = str(raised.value)
    assert "unexpected keyword argument 'detatch'" in message
    assert "detach" in message and "temperature" in message and "delivery" in message
    run = client.run("hi", detach=True, temperature=0.5)  # real fields still pass
    assert run._request.detach and run._request.temperature == 0.5
    await client.close()


def test_error_codes_are_an_int_enum_that_follows_the_proto():
    proto = {v.name.removeprefix("ERROR_CODE_"): v.number for v in pb.ErrorCode.DESCRIPTOR.values}
    members = {m.name: m.value for m in ErrorCode}
    assert members == proto, "add the proto's new codes to agentstream/_codes.py"
    failed = RunFailed(grpc.StatusCode.RESOURCE_EXHAUSTED, "", pb.RunError(code=3))
    assert failed.error_code is ErrorCode.MAX_TURNS_EXCEEDED
    assert failed.error_code == pb.ERROR_CODE_MAX_TURNS_EXCEEDED
    assert failed.error_code_name == "ERROR_CODE_MAX_TURNS_EXCEEDED"
    newer = RunFailed(grpc.StatusCode.UNKNOWN, "", pb.RunError(code=999))
    assert newer.error_code == 999 and newer.error_code_name == "ERROR_CODE_UNKNOWN_999"


class Address(pydantic.BaseModel):
    street: str
    zip_code: str = pydantic.Field(description="Five digits")

    @pydantic.field_validator("zip_code")
    @classmethod
    def five_digits(cls, value: str) -> str:
        if not (value.isdigit() and len(value) == 5):
            raise ValueError("a zip code is five digits")
        return value


class Order(pydantic.BaseModel):
    id: str
    ship_to: Address


async def test_pydantic_models_bring_their_schema_and_validation():
    @tool
    async def ship(order: Order, express: bool = False) -> str:
        """Ships an order."""
        return f"{order.id} to {order.ship_to.zip_code} express={express}"

    schema = ship.parameters
    assert schema["properties"]["order"] == {
        "type": "object",
        "title": "Order",
        "properties": {
            "id": {"type": "string", "title": "Id"},
            "ship_to": {"$ref": "#/$defs/Address"},
        },
        "required": ["id", "ship_to"],
    }
    assert schema["$defs"]["Address"]["properties"]["zip_code"]["description"] == "Five digits"
    order = {"id": "A-7", "ship_to": {"street": "Rue 1", "zip_code": "69001"}}
    assert await ship.invoke({"order": order}, no_progress) == "A-7 to 69001 express=False"
    order["ship_to"]["zip_code"] = "lyon"
    with pytest.raises(ToolArgumentsError) as raised:
        await ship.invoke({"order": order}, no_progress)
    assert str(raised.value).endswith(
        "$.order.ship_to.zip_code: Value error, a zip code is five digits"
    )
