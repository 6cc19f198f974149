"""Who is calling: the ``Caller`` and ``CurrentUser`` dependencies of signed-in routes (docs/contract.md §9).

``async def route(caller: Caller)`` (or ``user: CurrentUser``) refuses the
request unless it carries ``Authorization: Bearer <access token>`` of an
active user:

- no bearer token → 401 with ``WWW-Authenticate: Bearer``;
- a token that is malformed, forged, expired, of another issuer, or of a
  user deactivated or deleted since → 401 with
  ``WWW-Authenticate: Bearer error="invalid_token"``.

The user is read from the database on every request (one primary-key
``SELECT`` through the request's session), so deactivation takes effect at
once. Two shapes of the same read:

- ``Caller``: the user's columns as a frozen :class:`CallerRow`, read with
  a Core statement built once. For routes that read who calls (nearly all):
  no ORM object, no identity map, no flush.
- ``CurrentUser``: the ORM ``User``, attached to the session, for routes
  that change the user themselves (``PATCH /users/me``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import Depends, FastAPI, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Table, bindparam, select

from erp_api.dependencies import SessionDep
from erp_api.errors import Forbidden, Unauthorized
from erp_api.features.identity.tokens import InvalidAccessToken, signing_key, user_id_from_access_token
from erp_api.lifespan import app_state
from erp_db import User

TOKEN_PATH: Final = "/auth/token"  # noqa: S105 (a path, not a secret)

MISSING_TOKEN: Final = {"WWW-Authenticate": "Bearer"}
INVALID_TOKEN: Final = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
INVALID_OR_EXPIRED: Final = "The access token is invalid or expired"

# auto_error=False: the 401 is ours (a problem answer with the exact header);
# a missing header and another scheme (Basic …) both arrive here as None.
# FastAPI reads tokenUrl only to document the OAuth2 flow, when dependencies
# are declared, before any prefix is known: document_token_url() puts the
# application's own API_V1_PREFIX into the document.
bearer_token = OAuth2PasswordBearer(tokenUrl="/api/v1" + TOKEN_PATH, auto_error=False)


def document_token_url(app: FastAPI, api_prefix: str) -> None:
    """Make the OpenAPI document's password flow point at ``api_prefix`` + ``/auth/token``.

    So "Authorize" on ``/docs`` works under any ``API_V1_PREFIX``. Wraps
    ``app.openapi`` (call it after anything else that replaces it).
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        schemes = schema.get("components", {}).get("securitySchemes", {})
        password_flow = schemes.get(bearer_token.scheme_name, {}).get("flows", {}).get("password")
        if password_flow is not None:
            password_flow["tokenUrl"] = api_prefix + TOKEN_PATH
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def caller_id(request: Request, token: str | None) -> uuid.UUID:
    """The user id of the request's access token; 401 when there is none or it is not valid.

    Whether that user still exists and is active is the caller's to check,
    in the statement that reads them (:func:`current_user`, or the
    organisation access of :mod:`erp_api.tenancy`, which reads the user, the
    membership and the row in one statement).
    """
    if not token:
        raise Unauthorized("Not authenticated", headers=MISSING_TOKEN)
    settings = app_state(request)["settings"]
    try:
        return user_id_from_access_token(token, key=signing_key(settings), issuer=settings.app_name)
    except InvalidAccessToken:
        raise Unauthorized(INVALID_OR_EXPIRED, headers=INVALID_TOKEN) from None


async def current_user(
    request: Request,
    session: SessionDep,
    token: Annotated[str | None, Depends(bearer_token)],
) -> User:
    """The active user whose access token the request carries."""
    user = await session.get(User, caller_id(request, token))
    if user is None or not user.is_active:
        raise Unauthorized(INVALID_OR_EXPIRED, headers=INVALID_TOKEN)
    return user


CurrentUser = Annotated[User, Depends(current_user)]


@dataclass(frozen=True, slots=True)
class CallerRow:
    """The signed-in user as the request found them: read-only, attached to no session."""

    id: uuid.UUID
    email: str
    email_canonical: str
    full_name: str
    is_superuser: bool
    created_at: datetime


_users: Final[Table] = User.__table__  # type: ignore[assignment]
_CALLER: Final = select(*(_users.c[field.name] for field in fields(CallerRow))).where(
    _users.c.id == bindparam("user_id"), _users.c.is_active
)


async def caller(
    request: Request,
    session: SessionDep,
    token: Annotated[str | None, Depends(bearer_token)],
) -> CallerRow:
    """The active user whose access token the request carries, as a :class:`CallerRow`."""
    row = (await session.execute(_CALLER, {"user_id": caller_id(request, token)})).one_or_none()
    if row is None:
        raise Unauthorized(INVALID_OR_EXPIRED, headers=INVALID_TOKEN)
    return CallerRow(*row)


Caller = Annotated[CallerRow, Depends(caller)]


async def logout_caller(
    request: Request, token: Annotated[str | None, Depends(bearer_token)]
) -> uuid.UUID | None:
    """The user id of a valid access token sent with ``/auth/logout``, else ``None``.

    The refresh token authorises a logout by itself (docs/contract.md §9), so
    an expired, forged or malformed access token counts as none rather than
    refusing the logout; a valid one restricts the logout to its user's own
    refresh tokens. ``async`` though it never awaits: FastAPI runs a plain
    ``def`` dependency in a worker thread.
    """
    if not token:
        return None
    settings = app_state(request)["settings"]
    try:
        return user_id_from_access_token(token, key=signing_key(settings), issuer=settings.app_name)
    except InvalidAccessToken:
        return None


LogoutCaller = Annotated[uuid.UUID | None, Depends(logout_caller)]


async def current_superuser(user: CurrentUser) -> User:
    """The current user, who must be a superuser (user administration only, no organisation access)."""
    if not user.is_superuser:
        raise Forbidden("Only a superuser may do this")
    return user


CurrentSuperuser = Annotated[User, Depends(current_superuser)]
