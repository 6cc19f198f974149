"""Request dependencies, read from the lifespan state (``app_state``), as ``Annotated`` aliases.

Endpoints read like prose: ``async def create(thing: In, session: SessionDep)``.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Annotated, Final

from fastapi import Depends, Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from erp_api.framework_internals import function_exit_stack
from erp_api.lifespan import app_state
from erp_api.settings import ApiSettings
from erp_db import read_scope, session_scope

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


def unit_of_work_stack(request: Request) -> AsyncExitStack:
    """The request's function-scoped exit stack: what is entered on it ends before the answer is sent.

    FastAPI's own (0.118+), read through :mod:`erp_api.framework_internals`:
    it closes when the endpoint returns or raises, inside the exception handlers.
    """
    return function_exit_stack(request.scope)


async def get_db_session(request: Request) -> AsyncSession:
    """The request's session: committed before the response is sent, rolled back on any error.

    The unit of work is :class:`erp_db.session_scope`, entered on FastAPI's
    function-scoped exit stack rather than through a generator dependency:
    it ends when the endpoint returns or raises, before the answer is sent,
    and its commit runs inside the exception handlers. So a failed commit
    is an error answer (a 409 problem for a unique or foreign-key
    violation, else 5xx), never a 2xx, and an error raised by the endpoint
    rolls back (docs/contract.md §8), however an endpoint declares it
    (``session: SessionDep`` or ``Depends(get_db_session)``). An endpoint
    that *returns* a 4xx response still commits: raise to roll back. Once
    per request: dependencies that ask for it share it.

    A safe method (``GET``, ``HEAD``, ``OPTIONS``) only reads, so its
    session runs in autocommit: no ``BEGIN`` and ``COMMIT`` round trips
    (except through PgBouncer, where the lifespan gives one sessionmaker
    for both), and it is closed, not committed (:class:`erp_db.read_scope`).
    Such a route must not write: HTTP says it is safe; here a Core write in
    it would commit at once, alone, and an ORM change is a 500 that writes
    nothing. A yield dependency that needs
    the session after its ``yield`` must be declared with
    ``scope="function"``, or the session is already closed then.
    """
    state = app_state(request)
    if request.method in SAFE_METHODS:
        scope: session_scope = read_scope(state["read_sessionmaker"])
    else:
        scope = session_scope(state["sessionmaker"])
    return await unit_of_work_stack(request).enter_async_context(scope)


# The dependencies here are `async def` though they never await: FastAPI runs
# a plain `def` dependency in a worker thread, a thread hand-off per request
# (tests/test_dependencies.py keeps every route's dependencies async).
async def get_redis(request: Request) -> Redis:
    """The application's Redis client (one pool per process, opened by the lifespan)."""
    return app_state(request)["redis"]


async def get_settings(request: Request) -> ApiSettings:
    return app_state(request)["settings"]


# Through get_db_session, so that overriding get_db_session (the documented
# name) reaches every route that declares SessionDep too.
SessionDep = Annotated[AsyncSession, Depends(get_db_session)]
RedisDep = Annotated[Redis, Depends(get_redis)]
SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
