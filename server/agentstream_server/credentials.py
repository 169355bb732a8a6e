"""Who a bearer token belongs to: static API keys (stored as sha256 digests) and JWTs
verified against a local JWKS file. No gRPC here; `service/auth.py` calls `identify`.

A token that does not check out gives None and nothing else: why it failed is never
told to the caller, and the token itself is never logged.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .config import AuthConfig, ConfigError, JwtConfig

logger = logging.getLogger(__name__)

ADMIN_ROLE = "admin"
_SHA256_HEX = r"^[0-9a-f]{64}$"
_NAME = r"^[^\x00-\x1f\x7f]{1,256}$"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: its name owns runs; roles grant more (`admin`)."""

    name: str
    roles: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles


# Every caller when authentication is off: they all share one namespace of runs. Its
# name is empty, which no configured principal can have.
ANONYMOUS = Principal("")


class _KeyEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    sha256: str = Field(pattern=_SHA256_HEX)
    principal: str = Field(pattern=_NAME)
    roles: list[str] = Field(default_factory=list)


class _KeysFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    keys: list[_KeyEntry]


def key_digest(key: str) -> str:
    """What the API keys file stores for `key`: the hex sha256 of its UTF-8 bytes."""
    return hashlib.sha256(key.encode()).hexdigest()


def load_api_keys(path: str) -> dict[str, Principal]:
    """The keys file as digest -> principal; a bad file is a ConfigError naming the entry."""
    data = _read(path, yaml.safe_load)
    try:
        parsed = _KeysFile.model_validate(data)
    except ValidationError as e:
        item = e.errors()[0]
        where = ".".join(str(p) for p in item["loc"])
        # The message only, never the input: a mistaken file might hold a raw key.
        raise ConfigError(f"{path}: {where}: {item['msg']}") from None
    keys: dict[str, Principal] = {}
    for i, entry in enumerate(parsed.keys):
        if entry.sha256 in keys:
            raise ConfigError(f"{path}: keys.{i}.sha256: the same key is listed twice")
        keys[entry.sha256] = Principal(entry.principal, frozenset(entry.roles))
    return keys


class JwtVerifier:
    """Checks a JWT's signature against the JWKS file, then issuer, audience and expiry."""

    def __init__(self, config: JwtConfig) -> None:
        self._config = config
        data = _read(config.jwks_file, json.loads)
        try:
            keys = jwt.PyJWKSet.from_dict(data).keys
        except (jwt.PyJWTError, TypeError, AttributeError) as e:
            raise ConfigError(f"{config.jwks_file}: not a usable JWKS: {e}") from None
        self._keys = {key.key_id: key for key in keys}

    def verify(self, token: str) -> Principal | None:
        config = self._config
        try:
            key = self._key_for(jwt.get_unverified_header(token).get("kid"))
            if key is None:
                return None
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=list(config.algorithms),
                audience=config.audience,
                issuer=config.issuer,
                leeway=config.leeway_s,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError:
            return None
        return _principal_from_claims(claims, config)

    def _key_for(self, kid: object) -> jwt.PyJWK | None:
        if isinstance(kid, str):
            return self._keys.get(kid)
        # A token without `kid` is accepted only when the set has a single key.
        return next(iter(self._keys.values())) if len(self._keys) == 1 else None


def _principal_from_claims(claims: dict[str, Any], config: JwtConfig) -> Principal | None:
    name = claims.get(config.principal_claim)
    if not isinstance(name, str) or not name:
        return None
    roles = claims.get(config.roles_claim, [])
    if not isinstance(roles, list):
        return None
    return Principal(name, frozenset(r for r in roles if isinstance(r, str)))


class TokenVerifier:
    """A bearer token's principal: an API key first, then a JWT; None when neither."""

    def __init__(self, config: AuthConfig) -> None:
        self._config = config
        self._api_keys: dict[str, Principal] = {}
        self._jwt: JwtVerifier | None = None
        self.reload()

    def reload(self) -> None:
        """Re-reads the keys and JWKS files (SIGHUP); a bad file raises and changes nothing."""
        config = self._config
        api_keys = load_api_keys(config.api_keys_file) if config.api_keys_file else {}
        verifier = JwtVerifier(config.jwt) if config.jwt else None
        self._api_keys, self._jwt = api_keys, verifier

    def identify(self, token: str) -> Principal | None:
        # A dict lookup by digest leaks no timing an attacker can use: they would need
        # keys whose digests share prefixes with a real key's, which sha256 rules out.
        principal = self._api_keys.get(key_digest(token))
        if principal is None and self._jwt is not None and token.count(".") == 2:
            principal = self._jwt.verify(token)
        return principal


def _read(path: str, parse: Any) -> Any:
    try:
        return parse(Path(path).read_text())
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    except (ValueError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: cannot parse: {type(e).__name__}") from None
