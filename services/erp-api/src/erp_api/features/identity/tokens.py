"""Access tokens: short-lived JWTs signed HS256 with ``JWT_SECRET_KEY`` (docs/contract.md §9).

Claims ``sub`` (the user id), ``iat``, ``exp``, ``jti`` and ``iss``
(``APP_NAME``). Decoding pins ``algorithms=["HS256"]`` (so ``alg: none`` and
an RSA/HMAC confusion are refused by PyJWT itself), checks ``iss``, requires
every claim and allows :data:`LEEWAY_S` of clock skew between replicas.

Every way a token can be bad ends in one :class:`InvalidAccessToken`, whose
message never holds the token: the caller answers the same 401 for all.
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
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            issuer=issuer,
            leeway=LEEWAY_S,
            options={"require": list(REQUIRED_CLAIMS)},
        )
        return uuid.UUID(claims["sub"])
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        # `from None`: PyJWT's messages may quote a claim; the class name is enough.
        raise InvalidAccessToken(type(exc).__name__) from None
