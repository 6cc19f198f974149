"""Users and credentials for tests of routes behind ``CurrentUser`` (docs/contract.md §9).

:func:`insert_user` writes a user straight into the database, through the
test's session (the transactional ``client`` sees it, and it is rolled back
with the test) or committed through an engine (for ``committing_client`` and
other connections); :func:`bearer_headers` mints the
access token that ``POST /auth/token`` would hand out for that user, signed
with the application's settings, without the cost of a login (an argon2id
hash per user). Tests of the login itself use the route.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from erp_api.features.identity.passwords import hash_password
from erp_api.features.identity.tokens import issue_access_token, signing_key
from erp_api.settings import ApiSettings
from erp_db import User

# Stands in for a password hash when a test never logs in: no password verifies against it.
NO_PASSWORD = "!no-password"  # noqa: S105 (not a hash: nothing verifies against it)


def unique_email(label: str = "user") -> str:
    return f"{label}-{uuid.uuid4().hex[:12]}@example.org"


async def insert_user(
    bind: AsyncEngine | AsyncSession,
    *,
    email: str | None = None,
    password: str | None = None,
    full_name: str = "",
    is_superuser: bool = False,
    is_active: bool = True,
) -> User:
    """A new user; with ``password`` its real argon2id hash (so it can log in), else none.

    ``bind`` is an engine (the user is committed on a connection of its own)
    or the test's session (the user is written in its transaction and then
    detached, so the application's next read of it is a real ``SELECT``, as
    on a fresh request session).
    """
    user = User(
        id=uuid.uuid4(),
        email=email or unique_email(),
        full_name=full_name,
        is_superuser=is_superuser,
        is_active=is_active,
        password_hash=await hash_password(password) if password is not None else NO_PASSWORD,
    )
    if isinstance(bind, AsyncSession):
        bind.add(user)
        await bind.commit()
        await bind.refresh(user)
        bind.expunge(user)
        return user
    async with AsyncSession(bind, expire_on_commit=False) as session:
        session.add(user)
        await session.commit()
        await session.refresh(user)
    return user


def bearer_headers(settings: ApiSettings, user_id: uuid.UUID) -> dict[str, str]:
    """``Authorization: Bearer <access token>`` for ``user_id``, as the token route would issue it."""
    token = issue_access_token(
        user_id, key=signing_key(settings), issuer=settings.app_name, ttl_s=settings.access_token_ttl_s
    )
    return {"Authorization": f"Bearer {token}"}
