"""Who is calling, decided once per RPC by one server interceptor, and who may address a run.

`current_principal()` is the caller of the RPC being handled (ANONYMOUS when
authentication is off); limits, logs and run ownership read it from here. A run is
known by its `RunKey` (owner, run_id), so two callers may both name a run `demo-1`;
`addressed_run` is the run a run-addressed RPC names, and `may_address` says whether a
caller may reach another's run (only an admin may).
"""

from __future__ import annotations

import contextvars
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeAlias

import grpc

from ..credentials import ANONYMOUS, Principal, TokenVerifier

_PRINCIPAL: contextvars.ContextVar[Principal] = contextvars.ContextVar(
    "agentstream_principal", default=ANONYMOUS
)

# Open to anyone who can reach the port: load balancers probe health, tools read the schema.
OPEN_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.")

MISSING = "authentication required: send 'authorization: Bearer <token>'"
INVALID = "invalid token"


def current_principal() -> Principal:
    """The caller of the RPC this task is handling; ANONYMOUS when authentication is off."""
    return _PRINCIPAL.get()


class RunKey(NamedTuple):
    """How a run is known: client-chosen ids are scoped to the principal that started it."""

    owner: str
    run_id: str


def run_key(principal: Principal, run_id: str) -> RunKey:
    return RunKey(principal.name, run_id)


def may_address(principal: Principal, owner: str) -> bool:
    """Whether `principal` may watch, answer or cancel a run that `owner` started. When
    it may not, the caller must get the same NOT_FOUND as for a run that does not exist."""
    return principal.name == owner or principal.is_admin


# An admin reaches another principal's run by naming its owner in this metadata key.
OWNER_METADATA = "agentstream-run-owner"


def addressed_run(context: grpc.aio.ServicerContext[Any, Any], run_id: str) -> RunKey:
    """The run a run-addressed RPC names: the caller's own run with that id, or, for an
    admin that names an owner in `agentstream-run-owner` metadata, that owner's."""
    principal = current_principal()
    owner = metadata_value(context, OWNER_METADATA)
    if owner and may_address(principal, owner):
        return RunKey(owner, run_id)
    return run_key(principal, run_id)


def metadata_value(context: grpc.aio.ServicerContext[Any, Any], name: str) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == name:
            return value if isinstance(value, str) else value.decode(errors="replace")
    return ""


@dataclass(frozen=True, slots=True)
class Authentication:
    """How callers prove who they are: bearer tokens, client certificates, or both."""

    tokens: TokenVerifier | None  # None: tokens are not checked (auth is off)
    certificates: bool  # mTLS: the verified certificate's subject is a principal

    async def principal(self, context: grpc.aio.ServicerContext[Any, Any]) -> Principal:
        """The caller, or the RPC is aborted with UNAUTHENTICATED."""
        token = _bearer_token(context.invocation_metadata())
        if self.tokens is not None and token is not None:
            principal = self.tokens.identify(token) if token else None
            if principal is None:
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, INVALID)
            return principal
        if self.certificates:
            subject = certificate_subject(context)
            if subject:
                return Principal(subject)
        if self.tokens is not None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, MISSING)
        return ANONYMOUS


def _bearer_token(metadata: Any) -> str | None:
    """The token of `authorization: Bearer <token>`; "" when the header is malformed."""
    for key, value in metadata or ():
        if key == "authorization":  # gRPC metadata keys arrive lower-cased
            text = value.decode(errors="replace") if isinstance(value, bytes) else value
            scheme, _, token = text.partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return None


def certificate_subject(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    """The subject of the client's verified certificate (e.g. "CN=alice,O=Acme"), or ""."""
    subjects = list(context.auth_context().get("x509_subject", []))
    return subjects[0].decode(errors="replace") if subjects else ""


Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"


class AuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Sets the caller's principal for every RPC but health and reflection, before the
    servicer sees the call; refuses calls without a valid credential."""

    def __init__(self, authentication: Authentication) -> None:
        self._authentication = authentication

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        details: grpc.HandlerCallDetails,
    ) -> Handler:
        handler = await continuation(details)
        if handler is None or details.method.startswith(OPEN_SERVICES):
            return handler
        return _authenticated(handler, self._authentication.principal)


Identify = Callable[[grpc.aio.ServicerContext[Any, Any]], Awaitable[Principal]]


def _authenticated(handler: Any, identify: Identify) -> Handler:
    """`handler` with its behaviour run after `identify`, in the principal's context."""
    codec = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary:
        inner = handler.unary_unary

        async def unary_unary(request: Any, context: Any) -> Any:
            _PRINCIPAL.set(await identify(context))
            return await inner(request, context)

        return grpc.unary_unary_rpc_method_handler(unary_unary, **codec)
    if handler.stream_unary:
        inner = handler.stream_unary

        async def stream_unary(requests: Any, context: Any) -> Any:
            _PRINCIPAL.set(await identify(context))
            return await inner(requests, context)

        return grpc.stream_unary_rpc_method_handler(stream_unary, **codec)
    streaming = handler.unary_stream or handler.stream_stream

    async def streamed(request: Any, context: Any) -> AsyncIterator[Any]:
        _PRINCIPAL.set(await identify(context))
        responses = streaming(request, context)
        if inspect.isawaitable(responses):  # a handler that writes with context.write
            await responses
            return
        async for response in responses:
            yield response

    make = (
        grpc.unary_stream_rpc_method_handler
        if handler.unary_stream
        else grpc.stream_stream_rpc_method_handler
    )
    return make(streamed, **codec)
