"""``session_scope``: one unit of work that commits only if everything in it succeeded.

The service's request-scoped dependency is ``async with session_scope(sm) as
session: yield session``, so the commit happens before the response is sent
and any error (a raised ``HTTPException`` included) rolls back (docs/contract.md §8).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


@contextlib.asynccontextmanager
async def session_scope(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session that commits when the block ends normally and rolls back on any exception.

    "Any" includes ``BaseException``: a cancelled request (client gone,
    shutdown) must not commit half its work. A failed commit rolls back and
    re-raises, so the caller answers with an error, never a success. The
    session is closed in every case; SQLAlchemy runs that close to completion
    even when the task is being cancelled, and closing rolls back whatever a
    cancelled ``rollback()`` left open.
    """
    async with sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
