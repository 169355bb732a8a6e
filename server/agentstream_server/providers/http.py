"""What the HTTP adapters share: one pooled client, retries, and error mapping.

An adapter supplies the request (path, headers, JSON body) and a fresh
`StreamInterpreter` per attempt; this module does the I/O: POST, map a bad
status to a `ProviderError`, frame the body as SSE and feed the interpreter.
A failed attempt is retried (with backoff, honouring `retry-after`) only while
nothing of the turn has been yielded, so the loop never sees a turn twice.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import random
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import Any, Protocol

import httpx

from ..config import HttpProviderConfig
from ..core.errors import ProviderError
from ..core.events import ModelEvent
from .errors import body_error, quote, retryable
from .sse import SSEDecoder, SSEEvent

# Read of an error body or of a page that is not an event stream; the rest is dropped.
MAX_ERROR_BODY = 64 * 1024


class StreamInterpreter(Protocol):
    """Turns one response's decoded SSE events into the core's events (pure, no I/O)."""

    def feed(self, event: SSEEvent) -> list[ModelEvent]:
        """Events for one SSE event; raises `ProviderError` for an error in the stream."""
        ...

    def finish(self) -> list[ModelEvent]:
        """Called at the end of the body; raises `ProviderError` when it was cut short."""
        ...


class RetryableStatus(ProviderError):
    """A retryable failure that may say when to try again."""

    def __init__(self, provider: str, message: str, retry_after: float | None) -> None:
        super().__init__(provider, message, retryable=True)
        self.retry_after = retry_after


class HttpProvider:
    """Base of the HTTP adapters: one `httpx.AsyncClient` (keep-alive pool) per provider."""

    def __init__(self, name: str, config: HttpProviderConfig) -> None:
        self.name = name
        self.config = config
        self.client = httpx.AsyncClient(
            base_url=config.base_url,
            headers=config.headers,
            timeout=httpx.Timeout(
                config.read_timeout_s, connect=config.connect_timeout_s, pool=None
            ),
        )
        # Responses being read right now, so tests can prove a cancelled run released its own.
        self.open_responses = 0
        # Told of each retry (the failure, the wait in seconds); set by the server's telemetry.
        self.on_retry: Callable[[ProviderError, float], None] | None = None

    async def aclose(self) -> None:
        await self.client.aclose()

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        """The adapter's authentication and version headers."""
        raise NotImplementedError

    def _api_key(self) -> str | None:
        """The key from the configured environment variable, read per call so it can rotate."""
        variable = self.config.api_key_env
        if not variable:
            return None
        key = os.environ.get(variable)
        if not key:
            message = f"environment variable {variable} (api_key_env) is not set"
            raise ProviderError(self.name, message, retryable=False)
        return key

    async def post_stream(
        self, path: str, body: dict[str, Any], interpreter: Callable[[], StreamInterpreter]
    ) -> AsyncGenerator[ModelEvent, None]:
        """Yields one turn's events; retries a failed attempt that yielded nothing."""
        content = json.dumps(body, ensure_ascii=False).encode()
        api_key = self._api_key()
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream",
            **self.auth_headers(api_key),
        }
        attempt = 0
        while True:
            yielded = False
            try:
                # aclosing: a cancelled run must close the response now, not at garbage collection.
                reads = self._attempt(path, headers, content, interpreter())
                async with aclosing(reads) as batches:
                    async for batch in batches:  # a read's events: one generator hop per read
                        yielded = True
                        for event in batch:
                            yield event
                return
            except ProviderError as error:
                if yielded or not error.retryable or attempt >= self.config.max_retries:
                    raise _without_secret(error, api_key) from None
                delay = self._retry_delay(attempt, getattr(error, "retry_after", None))
                if self.on_retry is not None:
                    self.on_retry(error, delay)
            attempt += 1
            await asyncio.sleep(delay)

    async def _attempt(
        self, path: str, headers: dict[str, str], content: bytes, interpreter: StreamInterpreter
    ) -> AsyncGenerator[list[ModelEvent], None]:
        """Yields the events of each read of the body, as a non-empty list."""
        try:
            async with self.client.stream("POST", path, content=content, headers=headers) as resp:
                self.open_responses += 1
                try:
                    if resp.status_code != 200:
                        raise await self._status_error(resp)
                    if not _is_event_stream(resp.headers.get("content-type")):
                        raise await self._not_a_stream(resp)
                    decoder = SSEDecoder()
                    # Read to the end even after the final event: a fully read response goes
                    # back to the keep-alive pool, a half-read one costs a new connection.
                    async for chunk in resp.aiter_bytes():
                        events, error = _interpret(decoder, interpreter, chunk)
                        if events:
                            yield events
                        if error is not None:
                            raise error
                    yield _finish(decoder, interpreter)
                finally:
                    self.open_responses -= 1
        except httpx.HTTPError as e:
            raise transport_error(self.name, e) from None
        except httpx.InvalidURL as e:  # not an HTTPError: a URL httpx cannot even build
            raise ProviderError(
                self.name, f"bad base_url: {quote(str(e))}", retryable=False
            ) from None

    async def _status_error(self, response: httpx.Response) -> ProviderError:
        body = await _read_capped(response)
        text, _, kind = body_error(body)
        message = f"HTTP {response.status_code}: {quote(text) or response.reason_phrase}"
        if retryable(response.status_code, kind):
            hint = retry_after(response.headers)
            if hint is None:
                hint = self.retry_hint(body)
            return RetryableStatus(self.name, message, hint)
        return ProviderError(self.name, message, retryable=False)

    async def _not_a_stream(self, response: httpx.Response) -> ProviderError:
        """A 200 that is not an event stream (a login page, a proxy's notice, a JSON answer
        to a server that ignored `stream`): the same request would get the same page."""
        content_type = response.headers.get("content-type", "")
        body = quote(await _read_capped(response))
        message = f"HTTP 200 with content-type {content_type!r}, not an event stream: {body}"
        return ProviderError(self.name, message, retryable=False)

    def retry_hint(self, body: str) -> float | None:
        """An adapter may read when to retry from an error body (Google's `retryDelay`)."""
        return None

    def _retry_delay(self, attempt: int, server_hint: float | None) -> float:
        """Exponential backoff with jitter; a server's `retry-after` wins when longer.
        Both are capped so a hostile header cannot park a run for hours."""
        base = self.config.retry_base_delay_s * (2.0**attempt) * (0.5 + random.random() / 2)
        return min(max(base, server_hint or 0.0), self.config.max_retry_delay_s)


def _interpret(
    decoder: SSEDecoder, interpreter: StreamInterpreter, chunk: bytes
) -> tuple[list[ModelEvent], ProviderError | None]:
    """One read's events, and the error the stream reported in it if any (the events
    before the error still count)."""
    events: list[ModelEvent] = []
    try:
        for frame in decoder.feed(chunk):
            events += interpreter.feed(frame)
    except ProviderError as error:
        return events, error
    return events, None


def _finish(decoder: SSEDecoder, interpreter: StreamInterpreter) -> list[ModelEvent]:
    events = [event for frame in decoder.flush() for event in interpreter.feed(frame)]
    return events + interpreter.finish()


def error_message(body: str) -> str:
    """The human part of an API error body, redacted and capped (see `errors.body_error`)."""
    return quote(body_error(body)[0])


# httpx's exceptions, most specific first: what each means for the caller, and whether
# the same request may pass later. Anything else httpx raises is a transient failure.
_TRANSPORT_ERRORS: list[tuple[type[httpx.HTTPError], str, bool]] = [
    (httpx.TimeoutException, "timed out", True),
    (httpx.UnsupportedProtocol, "bad base_url", False),
    (httpx.ProxyError, "proxy failed", True),
    (httpx.TransportError, "connection failed", True),
    (httpx.DecodingError, "could not decode the response body", True),
    (httpx.TooManyRedirects, "too many redirects", False),
    (httpx.HTTPError, "HTTP failure", True),
]


def transport_error(provider: str, error: httpx.HTTPError) -> ProviderError:
    for kind, meaning, may_pass in _TRANSPORT_ERRORS:
        if isinstance(error, kind):
            return ProviderError(provider, f"{meaning}: {_describe(error)}", retryable=may_pass)
    raise AssertionError("httpx.HTTPError is the last row")  # pragma: no cover


def _is_event_stream(content_type: str | None) -> bool:
    # A server that sends no content-type is given the benefit of the doubt.
    return content_type is None or content_type.split(";")[0].strip().lower() == "text/event-stream"


async def _read_capped(response: httpx.Response) -> str:
    """Up to MAX_ERROR_BODY bytes of a body that is an error, not a stream."""
    data = bytearray()
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) >= MAX_ERROR_BODY:
            break
    return bytes(data[:MAX_ERROR_BODY]).decode("utf-8", "replace")


def _without_secret(error: ProviderError, secret: str | None) -> ProviderError:
    """The error as the caller may see it: our own key never appears in it."""
    if not secret or secret not in error.message:
        return error
    prefix = f"{error.provider}: "
    text = quote(error.message.removeprefix(prefix), secret)
    return ProviderError(error.provider, text, retryable=error.retryable)


def retry_after(headers: httpx.Headers) -> float | None:
    """Seconds from `retry-after-ms`, or `retry-after` as seconds or an HTTP date."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) * scale)
        except ValueError:
            pass
        when = email.utils.parsedate_tz(value)
        if when is not None:
            return max(0.0, email.utils.mktime_tz(when) - time.time())
    return None


def _describe(error: httpx.HTTPError) -> str:
    return f"{type(error).__name__}: {quote(str(error))}" if str(error) else type(error).__name__
