"""Run ids the server makes: the one place they come from."""

from __future__ import annotations

import secrets


def new_run_id() -> str:
    """128 random bits from `secrets`, hex: unguessable, so an id alone reaches nothing."""
    return secrets.token_hex(16)
