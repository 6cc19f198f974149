"""Request dependencies, read from the lifespan state, as ``Annotated`` aliases.

Endpoints read like prose: ``async def create(thing: In, session: SessionDep)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from erp_api.settings import ApiSettings
from erp_cache import redis_from_state
from erp_db.session import session_scope


async def get_db_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session that commits before the response is sent and rolls back on any error.

    ``SessionDep`` declares it with ``scope="function"``: FastAPI (since 0.118)
    would otherwise run the code after ``yield`` once the response is already
    sent, so a failed commit could follow a 2xx. With it, a failed commit is a
    5xx problem answer, and an ``HTTPException`` raised by the endpoint rolls
    back. Any yield dependency built on this one must be function-scoped too,
    or FastAPI raises ``DependencyScopeError``. An endpoint that *returns* a
    4xx response still commits: raise to roll back.
    """
    async with session_scope(request.state.sessionmaker) as session:
        yield session


def get_redis(request: Request) -> Redis:
    """The application's Redis client (one pool per process, opened by the lifespan)."""
    return redis_from_state(request.scope["state"])


def get_settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.state.settings
    return settings


SessionDep = Annotated[AsyncSession, Depends(get_db_session, scope="function")]
RedisDep = Annotated[Redis, Depends(get_redis)]
SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
