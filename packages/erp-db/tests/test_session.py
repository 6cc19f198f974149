"""session_scope: the work of a block reaches the database only if the whole block succeeded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from erp_db.engine import create_engine, create_sessionmaker
from erp_db.session import session_scope

INSERT = text("INSERT INTO notes (id, body) VALUES (:id, :body)")


@pytest.fixture
async def notes_database(empty_database: str) -> AsyncIterator[tuple[async_sessionmaker[AsyncSession], str]]:
    """A sessionmaker on a scratch database with a ``notes`` table (not the shared migrated one).

    The key is checked at commit, so a duplicate makes ``commit()`` itself fail.
    """
    engine = create_engine(empty_database, application_name="erp-db-session-test")
    async with engine.begin() as connection:
        await connection.execute(
            text("CREATE TABLE notes (id int PRIMARY KEY DEFERRABLE INITIALLY DEFERRED, body text NOT NULL)")
        )
    yield create_sessionmaker(engine), empty_database
    await engine.dispose()


async def bodies_seen_by_another_connection(open_connection, url: str) -> list[str]:
    connection = await open_connection(url)
    return list(await connection.scalars(text("SELECT body FROM notes ORDER BY id")))


async def test_the_block_is_committed_when_it_succeeds(notes_database, open_connection) -> None:
    sessionmaker, url = notes_database

    async with session_scope(sessionmaker) as session:
        await session.execute(INSERT, {"id": 1, "body": "kept"})

    assert await bodies_seen_by_another_connection(open_connection, url) == ["kept"]


async def test_the_block_is_rolled_back_when_it_raises(notes_database, open_connection) -> None:
    sessionmaker, url = notes_database

    async def handler() -> None:
        async with session_scope(sessionmaker) as session:
            await session.execute(INSERT, {"id": 1, "body": "discarded"})
            raise LookupError("the handler failed after writing")

    with pytest.raises(LookupError):
        await handler()

    assert await bodies_seen_by_another_connection(open_connection, url) == []


async def test_the_block_is_rolled_back_when_its_task_is_cancelled(notes_database, open_connection) -> None:
    sessionmaker, url = notes_database
    written = asyncio.Event()

    async def handler() -> None:
        async with session_scope(sessionmaker) as session:
            await session.execute(INSERT, {"id": 1, "body": "discarded"})
            written.set()
            await asyncio.sleep(60)  # the client goes away meanwhile

    task = asyncio.create_task(handler())
    await written.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert await bodies_seen_by_another_connection(open_connection, url) == []


async def test_a_failed_commit_raises_and_leaves_nothing_behind(notes_database, open_connection) -> None:
    sessionmaker, url = notes_database
    connection = await open_connection(url)
    await connection.execute(INSERT, {"id": 2, "body": "already there"})

    async def handler() -> None:
        async with session_scope(sessionmaker) as session:
            await session.execute(INSERT, {"id": 1, "body": "discarded"})
            await session.execute(INSERT, {"id": 2, "body": "duplicate"})  # deferred: fails at COMMIT

    with pytest.raises(IntegrityError):
        await handler()

    assert await bodies_seen_by_another_connection(open_connection, url) == ["already there"]
