"""Attribute, span and metric names: the OpenTelemetry GenAI semantic conventions
(semantic-conventions-genai, `gen_ai.*`), plus our own under `agentstream.*` where
the conventions have nothing (run id, outcome, which side ran a tool)."""

from __future__ import annotations

from typing import Final

OPERATION: Final = "gen_ai.operation.name"
PROVIDER: Final = "gen_ai.provider.name"
AGENT_NAME: Final = "gen_ai.agent.name"
REQUEST_MODEL: Final = "gen_ai.request.model"
REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
REQUEST_STREAM: Final = "gen_ai.request.stream"
RESPONSE_MODEL: Final = "gen_ai.response.model"
RESPONSE_ID: Final = "gen_ai.response.id"
FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
CACHE_READ_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
CACHE_CREATION_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
REASONING_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
TOKEN_TYPE: Final = "gen_ai.token.type"
TOOL_NAME: Final = "gen_ai.tool.name"
TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
TOOL_TYPE: Final = "gen_ai.tool.type"
TOOL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"  # opt-in content
TOOL_RESULT: Final = "gen_ai.tool.call.result"  # opt-in content
INPUT_MESSAGES: Final = "gen_ai.input.messages"  # opt-in content
OUTPUT_MESSAGES: Final = "gen_ai.output.messages"  # opt-in content
SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"  # opt-in content
ERROR_TYPE: Final = "error.type"
RPC_GRPC_STATUS_CODE: Final = "rpc.grpc.status_code"

RUN_ID: Final = "agentstream.run.id"
RUN_OUTCOME: Final = "agentstream.run.outcome"
RUN_TURNS: Final = "agentstream.run.turns"
TURN: Final = "agentstream.turn"
TOOL_SIDE: Final = "agentstream.tool.side"  # "server" or "client"
TOOL_IS_ERROR: Final = "agentstream.tool.is_error"
HOOK_EVENT: Final = "agentstream.hook.event"

INVOKE_AGENT: Final = "invoke_agent"
CHAT: Final = "chat"
EXECUTE_TOOL: Final = "execute_tool"

# `gen_ai.provider.name` by provider type: well-known values where one applies.
PROVIDER_NAMES: Final = {
    "openai": "openai",
    "openai_responses": "openai",
    "anthropic": "anthropic",
    "gemini": "gcp.gemini",
    "offline": "agentstream.offline",
}
