"""``session_scope``: one unit of work that commits only if everything in it succeeded; ``read_scope``.

The service's request-scoped dependency is ``async with session_scope(sm) as
session: yield session``, so the commit happens before the response is sent
and any error (a raised ``HTTPException`` included) rolls back (docs/contract.md §8).
"""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


class session_scope:  # lower case: a context manager used like the function it replaced
    """A session that commits when the block ends normally and rolls back on any exception.

    "Any" includes ``BaseException``: a cancelled request (client gone,
    shutdown) must not commit half its work. A failed commit rolls back and
    re-raises, so the caller answers with an error, never a success. The
    session is closed in every case; SQLAlchemy runs that close to completion
    even when the task is being cancelled, and closing rolls back whatever a
    cancelled ``rollback()`` left open.

    A class rather than ``@contextlib.asynccontextmanager``: it is entered on
    every request, and the generator machinery is a measurable share of an
    authenticated read (callgrind: ``nox -s instructions``).
    """

    __slots__ = ("_session",)

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._session = sessionmaker()

    async def __aenter__(self) -> AsyncSession:
        return self._session

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            await self._abandon(exc_type, exc, tb)
            return
        try:
            await self._session.commit()
        except BaseException as error:
            await self._abandon(type(error), error, error.__traceback__)
            raise
        # After a commit there is nothing to undo: closing hands the connection
        # back to the pool without a round trip, so no cancellation can cut it
        # short, and it needs no shielded task of its own.
        await self._session.close()

    async def _abandon(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self._session.rollback()
        finally:
            await self._session.__aexit__(exc_type, exc, tb)  # close(), run to completion even if cancelled


class read_scope(session_scope):
    """A session for work that only reads: closed at the end, never committed.

    Closing ends the read (an autocommit session has no transaction; a
    transactional one, through PgBouncer, rolls back its snapshot) and hands
    the connection back. A commit would do the same after SQLAlchemy's
    commit bookkeeping, a few per cent of a read request's CPU. An ORM
    change left in the session is a bug, not a lost write: the block raises
    ``RuntimeError`` naming it, and nothing is flushed. (A Core ``INSERT`` or
    ``UPDATE`` executed in an autocommit session has taken effect already:
    reads only.)
    """

    __slots__ = ()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        session = self._session
        if exc_type is None and (session.new or session.dirty or session.deleted):
            error = RuntimeError("a read-only unit of work changed ORM objects; nothing was written")
            await self._abandon(type(error), error, None)
            raise error
        if exc_type is not None:
            await self._abandon(exc_type, exc, tb)
            return
        await session.close()
