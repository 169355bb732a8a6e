"""How every HTTP adapter reads a provider's error: one table, one quoting rule.

A provider says what went wrong with an HTTP status, a status inside a streamed
error (`status_code`, a numeric `code`), or a word (`type`, a string `code`,
Google's `status`). Whatever it sends, the same rule decides whether the same
request may pass later (`PROVIDER_UNAVAILABLE`, retried while nothing was
streamed) or not (`PROVIDER_REJECTED`): a status wins; without one, the word is
looked up; an unknown word counts as transient, as an error inside a stream
usually is. A word that says the account or request is at fault overrides a
retryable status (OpenAI's 429 `insufficient_quota` will not pass by waiting).

What we quote of an error body is redacted and capped, because proxies echo
request headers (the API key among them) into their error pages.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..core.errors import ProviderError

# Statuses worth another attempt: timeouts, rate limits, overload and server faults.
RETRYABLE_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))

# Error words of the providers (OpenAI `type`/`code`, Anthropic `type`, Google `status`,
# Groq and OpenRouter codes), and whether the same request may pass later.
ERROR_KINDS: dict[str, bool] = {
    # transient
    "rate_limit_error": True,
    "rate_limit_exceeded": True,
    "overloaded_error": True,
    "api_error": True,
    "timeout_error": True,
    "server_error": True,
    "service_unavailable": True,
    "internal_error": True,
    "RESOURCE_EXHAUSTED": True,
    "UNAVAILABLE": True,
    "INTERNAL": True,
    "DEADLINE_EXCEEDED": True,
    "ABORTED": True,
    # the request, the key or the account is the problem
    "invalid_request_error": False,
    "authentication_error": False,
    "permission_error": False,
    "not_found_error": False,
    "request_too_large": False,
    "billing_error": False,
    "insufficient_quota": False,
    "invalid_api_key": False,
    "model_not_found": False,
    "context_length_exceeded": False,
    "invalid_prompt": False,
    "tool_use_failed": False,
    "INVALID_ARGUMENT": False,
    "FAILED_PRECONDITION": False,
    "PERMISSION_DENIED": False,
    "UNAUTHENTICATED": False,
    "NOT_FOUND": False,
    "OUT_OF_RANGE": False,
    "UNIMPLEMENTED": False,
}

MAX_QUOTED = 500  # characters of a provider's own error text that reach the caller

_REDACTED = "[redacted]"
# Credentials as proxies and hosts echo them: auth headers, key parameters, and the
# shapes of OpenAI, Anthropic and Google keys wherever they appear.
_SECRETS = [
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(
        r"(?i)((?:authorization|proxy-authorization|x-api-key|x-goog-api-key|api[_-]?key|"
        r"access[_-]?token|token|secret)[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic)\s+)?)"
        r"[^\s\"',;&}]{4,}"
    ),
    re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"),
    re.compile(r"\bAIza[0-9A-Za-z_-]{20,}"),
]


def retryable(status: int | None = None, kind: str | None = None) -> bool:
    """The one rule: a client-error status rejects; a word known to reject rejects;
    otherwise a status, else a known word, decides, and the unknown is transient."""
    word = ERROR_KINDS.get(kind) if kind is not None else None
    if status is not None:
        status_may_pass = status in RETRYABLE_STATUSES or not 400 <= status < 500
        return status_may_pass and word is not False
    return word is not False


def redact(text: str, secret: str | None = None) -> str:
    """Text with credentials replaced; `secret` (our own key) is removed wherever it is."""
    if secret and len(secret) >= 4:
        text = text.replace(secret, _REDACTED)
    for pattern in _SECRETS:
        text = pattern.sub(_redacted_match, text)
    return text


def _redacted_match(match: re.Match[str]) -> str:
    # Keep a `name: ` prefix when the pattern captured one, so the message stays readable.
    prefix = match.group(1) if match.re.groups else ""
    if prefix and prefix.lower() in ("bearer", "basic"):
        return f"{prefix} {_REDACTED}"
    return f"{prefix}{_REDACTED}"


def quote(text: str, secret: str | None = None) -> str:
    """A provider's text made fit to show a caller: redacted, one line-ish, capped."""
    text = redact(text.strip(), secret)
    return text if len(text) <= MAX_QUOTED else text[:MAX_QUOTED] + "…"


def error_status(error: dict[str, Any]) -> int | None:
    """A numeric status from an error object: `status_code`, `status`, or a numeric `code`."""
    for key in ("status_code", "status", "code"):
        value = error.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) == 3:
            return int(value)
    return None


def error_kind(error: dict[str, Any]) -> str | None:
    """The error's word: `type`, a string `code`, or Google's `status`, first one known."""
    words = [error.get(key) for key in ("type", "code", "status")]
    named = [w for w in words if isinstance(w, str) and w and not w.isdigit()]
    for word in named:
        if word in ERROR_KINDS:
            return word
    return named[0] if named else None


def body_error(body: str) -> tuple[str, int | None, str | None]:
    """Message, status and word of an error body: `{"error": {...}}` (OpenAI, Anthropic,
    Google), a bare `{"message": ...}`, a JSON list of those (Google, on some paths), or
    text. The message is not yet quoted."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip(), None, None
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, str):
            return error, None, None
        if isinstance(error, dict) and error.get("message"):
            kind = error_kind(error)
            label = kind or error.get("code")
            message = str(error["message"])
            return (f"{message} ({label})" if label else message), error_status(error), kind
    return body.strip(), None, None


def stream_error(provider: str, error: Any, secret: str | None = None) -> ProviderError:
    """An error object that arrived inside an HTTP 200 stream."""
    if not isinstance(error, dict):
        message = f"error in stream: {quote(str(error), secret)}"
        return ProviderError(provider, message, retryable=True)
    status = error_status(error)
    kind = error_kind(error)
    message = quote(str(error.get("message") or "unknown error"), secret)
    labels = [str(label) for label in (status, kind) if label is not None]
    label = f" ({', '.join(labels)})" if labels else ""
    return ProviderError(
        provider, f"error in stream{label}: {message}", retryable=retryable(status, kind)
    )
