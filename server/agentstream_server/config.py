"""The server's configuration file: providers, agents and server settings, validated at start."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from .limits import Limits

NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
MCP_PREFIX = "mcp:"  # an agent's tools entry naming an MCP server


class ConfigError(Exception):
    """A bad config file; the message names the file and the bad field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OfflineProviderConfig(_Strict):
    type: Literal["offline"]


class HttpProviderConfig(_Strict):
    base_url: str
    # Name of the environment variable holding the API key (never the key itself).
    api_key_env: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    connect_timeout_s: float = Field(10.0, gt=0)
    read_timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(2, ge=0, le=10)
    retry_base_delay_s: float = Field(0.5, ge=0)
    # Upper bound of one wait between attempts, whatever a retry-after header asks for.
    max_retry_delay_s: float = Field(30.0, ge=0)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        """Checked here, so a bad URL stops the server at start instead of failing runs."""
        try:
            url = httpx.URL(value)
            port = url.port
        except (httpx.InvalidURL, ValueError) as e:
            raise ValueError(f"not a URL ({e})") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"{value!r}: must be http or https with a host")
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"{value!r}: port out of range")
        return value


class OpenAIProviderConfig(HttpProviderConfig):
    type: Literal["openai"]
    base_url: str = "https://api.openai.com/v1"
    # The body field for max_tokens: "auto" sends `max_completion_tokens` to OpenAI's
    # reasoning models (o1, o3, o4, gpt-5...) and `max_tokens` to the rest.
    max_tokens_field: Literal["auto", "max_tokens", "max_completion_tokens"] = "auto"


class AnthropicProviderConfig(HttpProviderConfig):
    type: Literal["anthropic"]
    base_url: str = "https://api.anthropic.com"
    api_version: str = "2023-06-01"


class OpenAIResponsesProviderConfig(HttpProviderConfig):
    type: Literal["openai_responses"]
    base_url: str = "https://api.openai.com/v1"
    # false: nothing is kept by OpenAI; reasoning comes back encrypted and is sent back.
    store: bool = False
    # With store: true, continue from the previous response (`previous_response_id`)
    # and send only what is new, instead of the whole history.
    previous_response_id: bool = False
    # Function tools with `strict: true` must list every property as required.
    strict_tools: bool = False

    @model_validator(mode="after")
    def _chaining_needs_store(self) -> OpenAIResponsesProviderConfig:
        if self.previous_response_id and not self.store:
            raise ValueError("previous_response_id: needs store: true (nothing to chain to)")
        return self


class GeminiProviderConfig(HttpProviderConfig):
    type: Literal["gemini"]
    base_url: str = "https://generativelanguage.googleapis.com/v1beta"


ProviderConfig = Annotated[
    OfflineProviderConfig
    | OpenAIProviderConfig
    | AnthropicProviderConfig
    | OpenAIResponsesProviderConfig
    | GeminiProviderConfig,
    Field(discriminator="type"),
]


def _offline_only() -> dict[str, ProviderConfig]:
    return {"offline": OfflineProviderConfig(type="offline")}


class McpServerConfig(_Strict):
    """An MCP server: a command run over stdio, or a streamable HTTP `url`."""

    command: list[str] | None = Field(None, min_length=1)
    env: dict[str, str] = Field(default_factory=dict)  # added to a safe default environment
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    # A required server must be up before the agentstream server serves; another one's
    # tools appear once it is up.
    required: bool = True
    startup_timeout_s: float = Field(30.0, gt=0)
    # How often a running server is checked (a tools listing); a dead one is restarted.
    check_interval_s: float = Field(10.0, gt=0)
    # Upper bound of the wait between restarts (exponential backoff from 0.5 s).
    max_restart_delay_s: float = Field(30.0, gt=0)
    timeout_s: float | None = Field(None, gt=0)  # per call; default: the agent's tool_timeout_s

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerConfig:
        if (self.command is None) == (self.url is None):
            raise ValueError("set either command (stdio) or url (streamable HTTP)")
        if self.url is not None and (self.env or self.cwd):
            raise ValueError("env and cwd are for command (stdio) servers")
        if self.command is not None and self.headers:
            raise ValueError("headers are for url (streamable HTTP) servers")
        return self

    @property
    def transport(self) -> str:
        return "stdio" if self.command is not None else "http"


class AgentConfig(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    provider: str
    model: str = Field(min_length=1)
    preamble: str = ""
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, gt=0)
    max_turns: int = Field(8, ge=1, le=1000)
    tool_concurrency: int = Field(4, ge=1, le=256)
    # How long a server tool may run when it sets no timeout_s of its own.
    tool_timeout_s: float = Field(60.0, gt=0, le=86_400)
    # Built-in names, `module.path:object` or `module.path` (Python), `mcp:<server>` or
    # `mcp:<server>/<tool>`.
    tools: list[str] = Field(default_factory=list)
    # Provider-specific request parameters sent on every call (a request's extra_params win).
    extra_params: dict[str, Any] = Field(default_factory=dict)


class TlsConfig(_Strict):
    """TLS for the server; with `client_ca_file`, clients must present a certificate
    signed by that CA (mTLS) and its subject becomes their principal."""

    cert_file: str = Field(min_length=1)
    key_file: str = Field(min_length=1)
    client_ca_file: str | None = None


JwtAlgorithm = Literal["RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "EdDSA"]


class JwtConfig(_Strict):
    """Bearer JWTs verified against a local JWKS file (never fetched over the network)."""

    jwks_file: str = Field(min_length=1)
    issuer: str = Field(min_length=1)
    audience: str = Field(min_length=1)
    principal_claim: str = "sub"
    # A claim holding a list of role names (e.g. ["admin"]); absent means no roles.
    roles_claim: str = "roles"
    # Asymmetric algorithms only: a shared secret has no place in a public key set.
    algorithms: tuple[JwtAlgorithm, ...] = Field(("RS256", "ES256"), min_length=1)
    leeway_s: float = Field(30.0, ge=0, le=600)


class AuthConfig(_Strict):
    """Callers must authenticate (every RPC but health and reflection) with a bearer
    token: an API key from `api_keys_file` or a JWT checked with `jwt`."""

    # YAML: {keys: [{sha256: <hex of sha256(key)>, principal: name, roles: [admin]}]}
    api_keys_file: str | None = None
    jwt: JwtConfig | None = None

    @model_validator(mode="after")
    def _some_credential(self) -> AuthConfig:
        if self.api_keys_file is None and self.jwt is None:
            raise ValueError("auth: set api_keys_file, jwt or both")
        return self


class ServerConfig(_Strict):
    # How long SIGTERM waits for running streams before cancelling them.
    grace_period_s: float = Field(10.0, ge=0)
    hooks_attach_timeout_ms: int = Field(10_000, ge=1)
    hooks_reply_timeout_ms: int = Field(30_000, ge=1)
    # Events a slow observe-only hooks client may lag behind before deltas are merged.
    hooks_buffer_events: int = Field(256, ge=8)
    # Observe-only deltas are merged over this window (0 = one message per delta).
    hooks_observer_flush_ms: float = Field(2.0, ge=0, le=1000)
    # Coalesced delivery for requests that do not say (StreamPromptRequest.delivery): the
    # longest a delta is held to join the next ones; 0 = one message per delta.
    delivery_max_delay_ms: float = Field(0.0, ge=0, le=1000)
    # OpenTelemetry traces and metrics, set up from the OTEL_* environment variables.
    telemetry: bool = False
    # Record prompts, outputs and tool arguments/results on spans (private: off by default).
    telemetry_content: bool = False
    # host:port of a Prometheus scrape endpoint (/metrics) for the same metrics; empty = none.
    metrics_addr: str = Field("", pattern=r"^$|^[^:]*:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$")
    # Plaintext when absent (fine on localhost; use TLS anywhere else).
    tls: TlsConfig | None = None


class MemoryBusConfig(_Strict):
    """The run bus inside this process: nothing to run, one process only."""

    type: Literal["memory"] = "memory"
    # How long a finished run stays watchable (WatchRun, GetRun).
    retention_s: float = Field(900.0, gt=0)
    # Events kept per run; a watcher asking for older ones gets OUT_OF_RANGE.
    max_events_per_run: int = Field(100_000, ge=100)


class RedisBusConfig(MemoryBusConfig):
    """The run bus in Redis: replicas share runs, and logs outlive a replica."""

    type: Literal["redis"]  # type: ignore[assignment]
    url: str = Field(pattern=r"^(redis|rediss|unix)://")
    key_prefix: str = Field("agentstream", pattern=NAME_PATTERN)
    # The owner of a running run renews its lease every lease_s / 3; a lease not renewed
    # for lease_s means the owner is gone and the run is ended as lost.
    lease_s: float = Field(10.0, ge=1)
    # How long appends are retried while Redis is unreachable before events are given up.
    write_retry_s: float = Field(5.0, ge=0)
    # Appends are gathered this long into one batch of writes (watchers on the bus see
    # events up to this much later; the run's own caller is not delayed).
    flush_ms: float = Field(5.0, ge=0, le=1000)


def _bus_type(value: Any) -> str:
    """`type` may be left out: the in-memory bus is the default."""
    if isinstance(value, dict):
        return str(value.get("type", "memory"))
    return str(getattr(value, "type", "memory"))


BusConfig = Annotated[
    Annotated[MemoryBusConfig, Tag("memory")] | Annotated[RedisBusConfig, Tag("redis")],
    Discriminator(_bus_type),
]


class Config(_Strict):
    providers: dict[str, ProviderConfig] = Field(default_factory=_offline_only)
    agents: list[AgentConfig] = Field(min_length=1)
    # Empty means the first agent.
    default_agent: str = ""
    server: ServerConfig = ServerConfig()
    bus: BusConfig = MemoryBusConfig()
    limits: Limits = Limits()
    mcp_servers: dict[str, McpServerConfig] = Field(default_factory=dict)
    # Absent: no authentication (every caller is the same anonymous principal).
    auth: AuthConfig | None = None

    @model_validator(mode="after")
    def _check_references(self) -> Config:
        names = [a.name for a in self.agents]
        for i, agent in enumerate(self.agents):
            if names.index(agent.name) != i:
                raise ValueError(f"agents[{i}].name: duplicate agent name {agent.name!r}")
            if agent.provider not in self.providers:
                raise ValueError(
                    f"agents[{i}].provider: no provider named {agent.provider!r} "
                    f"(configured: {', '.join(sorted(self.providers))})"
                )
            self._check_mcp_references(i, agent)
        if self.default_agent and self.default_agent not in names:
            raise ValueError(f"default_agent: no agent named {self.default_agent!r}")
        return self

    @model_validator(mode="after")
    def _check_mcp_names(self) -> Config:
        for name in self.mcp_servers:
            if not re.match(NAME_PATTERN, name):
                raise ValueError(f"mcp_servers.{name}: a name is 1-64 of A-Z a-z 0-9 _ . -")
        return self

    def _check_mcp_references(self, i: int, agent: AgentConfig) -> None:
        for j, entry in enumerate(agent.tools):
            if not entry.startswith(MCP_PREFIX):
                continue
            server, _, tool = entry.removeprefix(MCP_PREFIX).partition("/")
            if server not in self.mcp_servers:
                configured = ", ".join(sorted(self.mcp_servers)) or "none"
                raise ValueError(
                    f"agents[{i}].tools[{j}]: no MCP server named {server!r} "
                    f"(mcp_servers: {configured})"
                )
            if "/" in entry.removeprefix(MCP_PREFIX) and not tool:
                raise ValueError(f"agents[{i}].tools[{j}]: name a tool after {server!r}/")

    @property
    def default_agent_name(self) -> str:
        return self.default_agent or self.agents[0].name


def parse_config(data: Any, source: str = "config") -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        raise ConfigError(f"{source}: {_describe(e)}") from None


# Shipped inside the package, so a server installed anywhere has agents to serve.
DEFAULT_CONFIG_NAME = "built-in default config"


def load_config(path: str | Path | None = None) -> Config:
    """Loads `path`, or the built-in default config when `path` is None."""
    if path is None:
        text = resources.files(__package__).joinpath("default_config.yaml").read_text()
        return _parse_yaml(text, DEFAULT_CONFIG_NAME)
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    return _parse_yaml(text, str(path))


def _parse_yaml(text: str, source: str) -> Config:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: not valid YAML: {e}") from None
    return parse_config(data, source)


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        location = ".".join(str(p) for p in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        problems.append(f"{location}: {message}" if location else message)
    return "; ".join(problems)
