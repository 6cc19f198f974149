"""Access tokens: short-lived JWTs signed HS256 with ``JWT_SECRET_KEY`` (docs/contract.md §9).

Claims ``sub`` (the user id), ``iat``, ``exp``, ``jti`` and ``iss``
(``APP_NAME``). Decoding pins ``algorithms=["HS256"]`` (so ``alg: none`` and
an RSA/HMAC confusion are refused by PyJWT itself), checks ``iss``, requires
every claim and allows :data:`LEEWAY_S` of clock skew between replicas.

Every way a token can be bad ends in one :class:`InvalidAccessToken`, whose
message never holds the token: the caller answers the same 401 for all.

A client sends the same token with every request for its lifetime, and
PyJWT's checks (base64, JSON, HMAC, claims) cost about 65 µs each time,
a few per cent of a read. The last :data:`VERIFIED_TOKENS` tokens that
passed them are remembered (``functools.lru_cache``, keyed by the token,
key and issuer), with their user and expiry; a remembered token is only
checked against the clock. Nothing that failed is remembered, and what a
token grants is still read from the database on every request.
"""

from __future__ import annotations

import functools
import logging
import secrets
import time
import uuid
from typing import Final

import jwt

from erp_api.settings import ApiSettings

logger = logging.getLogger(__name__)

ALGORITHM: Final = "HS256"
LEEWAY_S: Final = 10
REQUIRED_CLAIMS: Final = ("sub", "iat", "exp", "jti", "iss")
# A token of ours is ~250 bytes; anything far longer is refused before any
# base64 or JSON work (a 10 kB header costs nothing but this comparison).
MAX_TOKEN_LENGTH: Final = 2048
VERIFIED_TOKENS: Final = 4096  # at most ~2 MB of remembered tokens


class InvalidAccessToken(Exception):
    """The presented access token is malformed, forged, of another issuer or expired."""


def signing_key(settings: ApiSettings) -> bytes:
    """``JWT_SECRET_KEY``, or (development and test only) this process's random key."""
    if settings.jwt_secret_key is not None:
        return settings.jwt_secret_key.get_secret_value().encode()
    return _process_key()


@functools.cache
def _process_key() -> bytes:
    # Settings refuse a missing key in staging and production; elsewhere one
    # random key per process keeps a developer's setup to zero steps.
    logger.warning(
        "JWT_SECRET_KEY is not set: access tokens are signed with a random key of this process "
        "and stop working when it exits"
    )
    return secrets.token_bytes(32)


def issue_access_token(user_id: uuid.UUID, *, key: bytes, issuer: str, ttl_s: int) -> str:
    now = int(time.time())
    claims = {
        "sub": str(user_id),
        "iat": now,
        "exp": now + ttl_s,
        "jti": uuid.uuid4().hex,
        "iss": issuer,
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def user_id_from_access_token(token: str, *, key: bytes, issuer: str) -> uuid.UUID:
    """The ``sub`` of a valid token; :class:`InvalidAccessToken` for anything else."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidAccessToken("too long")
    try:
        user_id, expires = _verified(token, key, issuer)
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        # `from None`: PyJWT's messages may quote a claim; the class name is enough.
        raise InvalidAccessToken(type(exc).__name__) from None
    if time.time() >= expires + LEEWAY_S:  # PyJWT's own rule, for a token it passed earlier
        raise InvalidAccessToken(jwt.ExpiredSignatureError.__name__)
    return user_id


@functools.lru_cache(maxsize=VERIFIED_TOKENS)
def _verified(token: str, key: bytes, issuer: str) -> tuple[uuid.UUID, int]:
    """The user and expiry of a token PyJWT accepts; an exception (never remembered) for any other."""
    claims = jwt.decode(
        token,
        key,
        algorithms=[ALGORITHM],
        issuer=issuer,
        leeway=LEEWAY_S,
        options={"require": list(REQUIRED_CLAIMS)},
    )
    return uuid.UUID(claims["sub"]), int(claims["exp"])
