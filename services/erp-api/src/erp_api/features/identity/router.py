"""The identity routes (docs/contract.md §9), read top-down: tokens, then users.

``POST /auth/token`` is the OAuth2 password grant (``/docs`` "Authorize"
uses it); ``/auth/refresh`` rotates a refresh token; ``/auth/logout``
revokes its family. ``/users/me`` reads and changes one's own profile;
``POST /users`` and ``GET /users/{user_id}`` are for superusers.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request, Response, status
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from erp_api.answers import answer, path_for
from erp_api.dependencies import RedisDep, SessionDep, SettingsDep
from erp_api.errors import BadRequest, Conflict, Forbidden, NotFound, TooManyRequests, Unauthorized
from erp_api.features.identity import passwords, refresh_tokens, users
from erp_api.features.identity.audit_hook import record_user_event
from erp_api.features.identity.dependencies import (
    INVALID_TOKEN,
    MISSING_TOKEN,
    Caller,
    CurrentSuperuser,
    CurrentUser,
    LogoutCaller,
)
from erp_api.features.identity.schemas import (
    PasswordForm,
    ProfilePatch,
    RefreshRequest,
    TokenPair,
    UserCreate,
    UserOut,
)
from erp_api.features.identity.throttle import PasswordThrottle
from erp_api.features.identity.tokens import issue_access_token, signing_key
from erp_api.metrics import record_login
from erp_api.routes.feature_router import FeatureRouter
from erp_api.settings import ApiSettings
from erp_db import User

router = FeatureRouter()

# One answer for a wrong password, an unknown email and an inactive user.
BAD_CREDENTIALS = "Incorrect email or password"
BAD_REFRESH_TOKEN = "The refresh token is invalid, expired or already used"  # noqa: S105 (a message)


@router.post("/auth/token", tags=["auth"])
async def issue_tokens(
    form: PasswordForm, session: SessionDep, redis: RedisDep, settings: SettingsDep
) -> TokenPair:
    """Log in with email and password: an access token and a refresh token."""
    email = form.username
    throttle = _password_throttle(redis, settings)
    reservation = await throttle.reserve(email)
    if reservation.retry_after_s is not None:
        record_login("throttled")
        raise _throttled(
            reservation.retry_after_s, "Too many failed logins for this account; try again later"
        )

    user = await users.user_by_email(session, email)
    if user is None:
        await passwords.verify_against_dummy(form.password)
        matches, new_hash = False, None
    else:
        matches, new_hash = await passwords.verify_password(form.password, user.password_hash)
    if user is None or not matches or not user.is_active:
        record_login("failure")  # the reservation stays: it is this failure's count
        raise Unauthorized(BAD_CREDENTIALS, headers=MISSING_TOKEN)

    await throttle.release(email, reservation)
    if new_hash is not None:  # hashed with older parameters: upgrade now that we know the password
        user.password_hash = new_hash
    pair = await _token_pair(session, settings, user.id, family_id=uuid.uuid4())
    record_login("success")
    return pair


@router.post("/auth/refresh", tags=["auth"])
async def rotate_tokens(body: RefreshRequest, session: SessionDep, settings: SettingsDep) -> TokenPair:
    """Spend a refresh token for a new pair; presenting a spent one revokes its whole family."""
    try:
        spent = await refresh_tokens.spend_refresh_token(session, body.refresh_token)
    except refresh_tokens.RefreshRefused as refused:
        if refused.reason is refresh_tokens.Refusal.REUSED:
            await session.commit()  # keep the family's revocation: raising rolls back
        raise Unauthorized(BAD_REFRESH_TOKEN, headers=INVALID_TOKEN) from None
    user = await session.get(User, spent.user_id)
    if user is None or not user.is_active:
        raise Unauthorized(BAD_REFRESH_TOKEN, headers=INVALID_TOKEN)
    return await _token_pair(session, settings, user.id, family_id=spent.family_id)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"])
async def logout(body: RefreshRequest, caller: LogoutCaller, session: SessionDep) -> None:
    """Revoke the refresh token's family; an unknown, spent or revoked token is fine too (idempotent).

    The refresh token is the credential: a client whose access token has
    expired can still log out (an invalid or expired access token counts as
    none). A caller who also sends a valid access token may only log out
    their own sessions.
    """
    owner = await refresh_tokens.lock_token_owner(session, body.refresh_token)
    if owner is None:
        return
    owner_id, family_id = owner
    if caller is not None and owner_id != caller:
        raise Forbidden("The refresh token belongs to another user")
    await refresh_tokens.revoke_family(session, family_id)


@router.get("/users/me", tags=["users"], response_model=UserOut)
async def read_me(caller: Caller) -> Response:
    """One's own profile: the caller's row, typed already, serialised once."""
    return answer(
        UserOut.model_construct(
            id=caller.id,
            email=caller.email,
            full_name=caller.full_name,
            is_superuser=caller.is_superuser,
            created_at=caller.created_at,
        )
    )


@router.patch("/users/me", tags=["users"])
async def update_me(
    patch: ProfilePatch, user: CurrentUser, session: SessionDep, redis: RedisDep, settings: SettingsDep
) -> UserOut:
    """Change one's name or password; a new password revokes every refresh token of the user.

    ``current_password`` is a guess at the account's password like a login,
    and counts against the same throttle: a stolen access token is no
    password oracle.
    """
    changes: dict[str, tuple[Any, Any]] = {}
    if patch.password is not None:
        if patch.current_password is None:
            raise BadRequest("Changing the password needs current_password", loc=("body", "current_password"))
        throttle = _password_throttle(redis, settings)
        reservation = await throttle.reserve(user.email)
        if reservation.retry_after_s is not None:
            raise _throttled(
                reservation.retry_after_s, "Too many wrong passwords for this account; try again later"
            )
        matches, _ = await passwords.verify_password(patch.current_password, user.password_hash)
        if not matches:
            # Raising would roll back nothing worth keeping; the count lives in Redis.
            raise BadRequest("current_password is not the current password", loc=("body", "current_password"))
        await throttle.release(user.email, reservation)
        user.password_hash = await passwords.hash_password(patch.password)
        await refresh_tokens.revoke_all_of_user(session, user.id)
        changes["password"] = ("changed", "changed")
    if patch.full_name is not None and patch.full_name != user.full_name:
        changes["full_name"] = (user.full_name, patch.full_name)
        user.full_name = patch.full_name
    if changes:
        await session.flush()
        await record_user_event(
            session, action="user.updated", actor_user_id=user.id, user_id=user.id, changes=changes
        )
    return UserOut.model_validate(user)


@router.post("/users", status_code=status.HTTP_201_CREATED, tags=["users"])
async def create_user(
    new: UserCreate, admin: CurrentSuperuser, session: SessionDep, request: Request, response: Response
) -> UserOut:
    """Create an account (superusers only); a taken email, in any letter case, is a 409."""
    user = await users.create_user(
        session,
        email=new.email,
        password_hash=await passwords.hash_password(new.password),
        full_name=new.full_name,
        is_superuser=new.is_superuser,
    )
    if user is None:
        raise Conflict("A user with this email exists", loc=("body", "email"))
    await record_user_event(
        session,
        action="user.created",
        actor_user_id=admin.id,
        user_id=user.id,
        changes={
            "email": (None, user.email),
            "full_name": (None, user.full_name),
            "is_superuser": (None, user.is_superuser),
        },
    )
    response.headers["Location"] = path_for(request, "read_user", user_id=str(user.id))
    return UserOut.model_validate(user)


@router.get("/users/{user_id}", tags=["users"])
async def read_user(user_id: uuid.UUID, admin: CurrentSuperuser, session: SessionDep) -> UserOut:
    """One user's profile (superusers only), where ``POST /users`` points its ``Location``."""
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("No such user")
    return UserOut.model_validate(user)


def _password_throttle(redis: Redis, settings: ApiSettings) -> PasswordThrottle:
    return PasswordThrottle(
        redis,
        key_prefix=settings.app_name,
        max_failures=settings.login_max_failures,
        window_s=settings.login_failure_window_s,
    )


def _throttled(retry_after_s: int, detail: str) -> TooManyRequests:
    return TooManyRequests(detail, headers={"Retry-After": str(retry_after_s)})


async def _token_pair(
    session: AsyncSession, settings: ApiSettings, user_id: uuid.UUID, *, family_id: uuid.UUID
) -> TokenPair:
    refresh = await refresh_tokens.issue_refresh_token(
        session, user_id=user_id, family_id=family_id, ttl_s=settings.refresh_token_ttl_s
    )
    access = issue_access_token(
        user_id, key=signing_key(settings), issuer=settings.app_name, ttl_s=settings.access_token_ttl_s
    )
    return TokenPair(access_token=access, expires_in=settings.access_token_ttl_s, refresh_token=refresh)
