"""Who is calling: the ``CurrentUser`` dependency that every feature route declares (docs/contract.md §9).

``async def route(user: CurrentUser)`` refuses the request unless it carries
``Authorization: Bearer <access token>`` of an active user:

- no bearer token → 401 with ``WWW-Authenticate: Bearer``;
- a token that is malformed, forged, expired, of another issuer, or of a
  user deactivated or deleted since → 401 with
  ``WWW-Authenticate: Bearer error="invalid_token"``.

The user is read from the database on every request (one primary-key
``SELECT`` through the request's session), so deactivation takes effect at
once and the route gets a ``User`` attached to the session it writes with.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from erp_api.dependencies import SessionDep
from erp_api.errors import Forbidden, Unauthorized
from erp_api.features.identity.tokens import InvalidAccessToken, signing_key, user_id_from_access_token
from erp_api.settings import ApiSettings
from erp_db import User

# The token route's path under the default API_V1_PREFIX. FastAPI reads it
# only to document the OAuth2 flow; create_app documents the configured
# prefix.
TOKEN_PATH: Final = "/auth/token"  # noqa: S105 (a path, not a secret)

MISSING_TOKEN: Final = {"WWW-Authenticate": "Bearer"}
INVALID_TOKEN: Final = {"WWW-Authenticate": 'Bearer error="invalid_token"'}

# auto_error=False: the 401 is ours (a problem answer with the exact header);
# a missing header and another scheme (Basic …) both arrive here as None.
bearer_token = OAuth2PasswordBearer(tokenUrl="/api/v1" + TOKEN_PATH, auto_error=False)


async def current_user(
    request: Request,
    session: SessionDep,
    token: Annotated[str | None, Depends(bearer_token)],
) -> User:
    """The active user whose access token the request carries."""
    if not token:
        raise Unauthorized("Not authenticated", headers=MISSING_TOKEN)
    settings: ApiSettings = request.state.settings
    try:
        user_id = user_id_from_access_token(token, key=signing_key(settings), issuer=settings.app_name)
    except InvalidAccessToken:
        raise Unauthorized("The access token is invalid or expired", headers=INVALID_TOKEN) from None
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        raise Unauthorized("The access token is invalid or expired", headers=INVALID_TOKEN)
    return user


CurrentUser = Annotated[User, Depends(current_user)]


async def current_superuser(user: CurrentUser) -> User:
    """The current user, who must be a superuser (user administration only, no organisation access)."""
    if not user.is_superuser:
        raise Forbidden("Only a superuser may do this")
    return user


CurrentSuperuser = Annotated[User, Depends(current_superuser)]
