"""The server's metrics, through the OpenTelemetry meter.

GenAI client metrics follow the conventions (`gen_ai.client.*`, `gen_ai.execute_tool.duration`);
run and hooks metrics are ours (`agentstream.*`). Every attribute has low cardinality:
agent, provider, model, tool name, outcome, error type; never a run id or content.
"""

from __future__ import annotations

from opentelemetry.metrics import Meter

from ..core.messages import Usage
from . import names as n

# Bucket boundaries the conventions advise for GenAI durations (seconds) and token counts.
_DURATION_BUCKETS = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
]  # fmt: skip
_TOKEN_BUCKETS = [
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
]  # fmt: skip
_TURN_BUCKETS = [1, 2, 3, 4, 6, 8, 12, 16, 32, 64, 128, 1000]

Attributes = dict[str, str | int | bool]


class RunMetrics:
    def __init__(self, meter: Meter) -> None:
        self.token_usage = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Tokens used per model call, by gen_ai.token.type (input or output)",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
        )
        self.operation_duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="Duration of one model call, from the request to the last event",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.time_to_first_chunk = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk",
            unit="s",
            description="Time from a model request to its first streamed event",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.tool_duration = meter.create_histogram(
            "gen_ai.execute_tool.duration",
            unit="s",
            description="Duration of one tool call (server or client side), by tool and outcome",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.runs_started = meter.create_counter(
            "agentstream.runs.started", unit="{run}", description="Runs started, by agent"
        )
        self.runs_finished = meter.create_counter(
            "agentstream.runs.finished",
            unit="{run}",
            description="Runs finished, by agent and outcome (completed, failed, cancelled, "
            "abandoned) and error.type",
        )
        self.runs_active = meter.create_up_down_counter(
            "agentstream.runs.active", unit="{run}", description="Runs running now, by agent"
        )
        self.run_turns = meter.create_histogram(
            "agentstream.run.turns",
            unit="{turn}",
            description="Model calls per finished run",
            explicit_bucket_boundaries_advisory=_TURN_BUCKETS,
        )
        self.hook_round_trip = meter.create_histogram(
            "agentstream.hooks.round_trip",
            unit="s",
            description="From a blocking hooks event (or client tool call) to the client's reply",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.provider_retries = meter.create_counter(
            "agentstream.provider.retries",
            unit="{retry}",
            description="Model requests retried after a retryable failure, by provider",
        )

    def record_usage(self, usage: Usage, attributes: Attributes) -> None:
        self.token_usage.record(usage.input_tokens, {**attributes, n.TOKEN_TYPE: "input"})
        self.token_usage.record(usage.output_tokens, {**attributes, n.TOKEN_TYPE: "output"})
