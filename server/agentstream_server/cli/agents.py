"""`agentstream agents`: the server's agents and their tools."""

from __future__ import annotations

import asyncio

import click
import grpc
from agentstream.v1 import agent_pb2 as pb
from google.protobuf import json_format
from rich.console import Console
from rich.table import Table

from .errors import call_failed
from .options import Connection, connection_options, json_option


@click.command(short_help="List the server's agents and their tools.")
@connection_options
@json_option("the ListAgents response in proto JSON")
def agents(connection: Connection, as_json: bool) -> None:
    """List the server's agents: provider, model, turn budget and tools (* = default)."""
    listed = asyncio.run(_list(connection))
    if as_json:
        click.echo(
            json_format.MessageToJson(
                pb.ListAgentsResponse(agents=listed), indent=2, preserving_proto_field_name=True
            )
        )
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("agent", "provider", "model", "max turns", "tools"):
        table.add_column(column)
    for agent in listed:
        table.add_row(
            agent.name + (" *" if agent.is_default else ""),
            agent.provider,
            agent.model,
            str(agent.max_turns),
            ", ".join(t.name for t in agent.tools) or "-",
        )
    Console(highlight=False).print(table)


async def _list(connection: Connection) -> list[pb.AgentInfo]:
    async with connection.client() as client:
        try:
            return await client.list_agents()
        except grpc.aio.AioRpcError as e:
            call_failed(e.code(), e.details() or "", connection.server)
