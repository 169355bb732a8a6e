"""AgentService over grpc.aio: a thin adapter between protobuf and the agent loop."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import grpc
from agentstream.v1 import agent_pb2 as pb
from agentstream.v1 import agent_pb2_grpc as pb_grpc

from ..agents import Agents
from ..core.driver import AgentRun, Emit
from ..core.errors import AgentError
from ..core.events import RunEvent, RunFailed
from .convert import prompt_request, tool_spec_pb
from .events import event_pb
from .status import STATUS_OF

logger = logging.getLogger(__name__)

PromptContext = grpc.aio.ServicerContext[pb.StreamPromptRequest, pb.StreamPromptResponse]
ListContext = grpc.aio.ServicerContext[pb.ListAgentsRequest, pb.ListAgentsResponse]
HooksContext = grpc.aio.ServicerContext[pb.HooksRequest, pb.HooksResponse]


class AgentServicer(pb_grpc.AgentServiceServicer):
    def __init__(self, agents: Agents) -> None:
        self._agents = agents

    # Writes with context.write rather than yielding: one less generator hop per token.
    async def StreamPrompt(  # type: ignore[override]
        self, request: pb.StreamPromptRequest, context: PromptContext
    ) -> None:
        try:
            spec = self._agents.build_run(prompt_request(request))
        except AgentError as error:
            failed = RunFailed(error, [])
            await context.write(event_pb(failed, request.run_id, 1, 0))
            _set_status(context, failed)
            return
        run = AgentRun(spec)
        emit = _emitter(context, run)
        try:
            outcome = await run.run(emit)
        except AgentError as error:  # raised while emitting the failure itself
            outcome = RunFailed(error, run.state.history)
        except Exception as error:  # a bug: report it to the caller, log it here
            logger.exception("run %s failed unexpectedly", spec.run_id)
            outcome = RunFailed(AgentError(f"internal error: {error}"), run.state.history)
            await emit(outcome)
        if isinstance(outcome, RunFailed):
            _set_status(context, outcome)

    async def ListAgents(
        self, request: pb.ListAgentsRequest, context: ListContext
    ) -> pb.ListAgentsResponse:
        default = self._agents.config.default_agent_name
        return pb.ListAgentsResponse(
            agents=[
                pb.AgentInfo(
                    name=agent.name,
                    provider=agent.provider,
                    model=agent.model,
                    max_turns=agent.max_turns,
                    tools=[tool_spec_pb(t.spec) for t in self._agents.server_tools(agent).values()],
                    is_default=agent.name == default,
                )
                for agent in self._agents.list()
            ]
        )

    async def Hooks(
        self,
        request_iterator: AsyncIterator[pb.HooksRequest],
        context: HooksContext,
    ) -> AsyncIterator[pb.HooksResponse]:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "Hooks is not implemented yet")
        yield pb.HooksResponse()  # pragma: no cover - makes this an async generator


def _emitter(context: PromptContext, run: AgentRun) -> Emit:
    run_id = run.spec.run_id
    seq = 0

    async def emit(event: RunEvent) -> None:
        nonlocal seq
        seq += 1
        await context.write(event_pb(event, run_id, seq, run.turn))

    return emit


def _set_status(context: PromptContext, failed: RunFailed) -> None:
    context.set_code(STATUS_OF[failed.error.code])
    context.set_details(failed.error.message)
