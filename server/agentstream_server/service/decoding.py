"""A request that cannot be decoded is the caller's mistake, not a server bug.

gRPC decodes a request before any handler runs; a DecodeError there (invalid UTF-8 in a
string, a Struct nested past protobuf's recursion limit, corrupt bytes) would end the
call with UNKNOWN and log an ERROR with a traceback. This interceptor decodes leniently
instead and answers INVALID_ARGUMENT naming the message type.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from ..core.errors import InvalidRequest

Context = grpc.aio.ServicerContext[Any, Any]
Handler = Any  # grpc.RpcMethodHandler: its stubs do not describe async handlers
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[Handler]]


class Undecodable:
    """Stands in for a request that failed to decode."""

    __slots__ = ("problem",)

    def __init__(self, problem: str) -> None:
        self.problem = problem


def _lenient(deserialize: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def decode(data: bytes) -> Any:
        try:
            return deserialize(data)
        except (DecodeError, RecursionError, UnicodeDecodeError) as error:
            return Undecodable(str(error) or type(error).__name__)

    return decode


def undecodable_error(request: Undecodable) -> InvalidRequest:
    # The decoder's message names the type and the problem, never the bytes.
    return InvalidRequest("request", f"cannot be decoded: {request.problem[:200]}")


async def _checked(
    requests: AsyncIterator[Any],
) -> AsyncIterator[Any]:
    async for request in requests:
        if isinstance(request, Undecodable):
            raise undecodable_error(request)
        yield request


class DecodeInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> Handler:
        handler = await continuation(details)
        if handler is None or handler.request_deserializer is None:
            return handler
        lenient = _lenient(handler.request_deserializer)
        if handler.unary_stream is not None:
            return handler._replace(
                request_deserializer=lenient, unary_stream=_unary_stream(handler.unary_stream)
            )
        if handler.unary_unary is not None:
            return handler._replace(
                request_deserializer=lenient, unary_unary=_unary_unary(handler.unary_unary)
            )
        if handler.stream_stream is not None:
            return handler._replace(
                request_deserializer=lenient, stream_stream=_stream_stream(handler.stream_stream)
            )
        return handler


# gRPC tells streaming handlers apart by whether they are async generator functions, so the
# wrappers are too.
def _unary_stream(inner: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
    async def behavior(request: Any, context: Context) -> AsyncIterator[Any]:
        if isinstance(request, Undecodable):
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, undecodable_error(request).message
            )
        async for response in inner(request, context):
            yield response

    return behavior


def _stream_stream(inner: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
    # The handler meets a bad message as an InvalidRequest raised by its request iterator.
    async def behavior(requests: AsyncIterator[Any], context: Context) -> AsyncIterator[Any]:
        async for response in inner(_checked(requests), context):
            yield response

    return behavior


def _unary_unary(inner: Callable[..., Any]) -> Callable[..., Any]:
    async def behavior(request: Any, context: Context) -> Any:
        if isinstance(request, Undecodable):
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, undecodable_error(request).message
            )
        return await inner(request, context)

    return behavior
