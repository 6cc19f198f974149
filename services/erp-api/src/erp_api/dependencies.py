"""Request dependencies, read from the lifespan state (``app_state``), as ``Annotated`` aliases.

Endpoints read like prose: ``async def create(thing: In, session: SessionDep)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from erp_api.lifespan import app_state
from erp_api.settings import ApiSettings
from erp_db import session_scope


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: :func:`erp_db.session_scope` on the lifespan's sessionmaker.

    Only :func:`get_db_session` declares it, always with ``scope="function"``:
    FastAPI (since 0.118) would otherwise run the code after ``yield`` once
    the response is already sent, so a failed commit could follow a 2xx.
    """
    async with session_scope(app_state(request)["sessionmaker"]) as session:
        yield session


async def get_db_session(
    session: Annotated[AsyncSession, Depends(_request_session, scope="function")],
) -> AsyncSession:
    """The request's session: committed before the response is sent, rolled back on any error.

    Safe however an endpoint declares it, ``session: SessionDep`` or
    ``session: AsyncSession = Depends(get_db_session)``: this function is not
    a generator, so its default scope cannot postpone the commit; the
    function-scoped dependency under it commits as soon as the endpoint
    returns. A failed commit is therefore an error answer (a 409 problem for
    a unique or foreign-key violation, else 5xx), never a 2xx, and an error
    raised by the endpoint rolls back (docs/contract.md §8). An endpoint
    that *returns* a 4xx response still commits: raise to roll back. A yield
    dependency that needs the session after its ``yield`` must be declared
    with ``scope="function"`` too, or the session is already closed then.
    """
    return session


def get_redis(request: Request) -> Redis:
    """The application's Redis client (one pool per process, opened by the lifespan)."""
    return app_state(request)["redis"]


def get_settings(request: Request) -> ApiSettings:
    return app_state(request)["settings"]


# Through get_db_session, so that overriding get_db_session (the documented
# name) reaches every route that declares SessionDep too.
SessionDep = Annotated[AsyncSession, Depends(get_db_session)]
RedisDep = Annotated[Redis, Depends(get_redis)]
SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
