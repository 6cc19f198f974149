"""session_scope: a block's work reaches the database only if it all succeeded; read_scope only reads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from erp_db.engine import create_engine, create_sessionmaker
from erp_db.session import read_scope, session_scope

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


class NotesBase(DeclarativeBase):
    """Its own metadata: the table is the fixture's, not the project's."""


class Note(NotesBase):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[str]


async def test_a_read_scope_reads_then_hands_its_connection_back_without_a_commit(notes_database) -> None:
    sessionmaker, _ = notes_database
    engine = sessionmaker.kw["bind"]
    commits: list[object] = []

    def committed(connection: object) -> None:
        commits.append(connection)

    event.listen(engine.sync_engine, "commit", committed)
    try:
        async with read_scope(sessionmaker) as session:
            assert (await session.execute(text("SELECT count(*) FROM notes"))).scalar_one() == 0
            assert engine.pool.checkedout() == 1
    finally:
        event.remove(engine.sync_engine, "commit", committed)

    assert engine.pool.checkedout() == 0
    assert commits == []


@pytest.mark.parametrize("change", ["add", "modify", "delete"])
async def test_an_orm_change_in_a_read_scope_raises_and_writes_nothing(
    notes_database, open_connection, change: str
) -> None:
    sessionmaker, url = notes_database
    async with session_scope(sessionmaker) as session:
        await session.execute(INSERT, {"id": 1, "body": "stored"})

    async def handler() -> None:
        async with read_scope(sessionmaker) as session:
            if change == "add":
                session.add(Note(id=2, body="added"))
            else:
                note = await session.get_one(Note, 1)
                if change == "modify":
                    note.body = "modified"
                else:
                    await session.delete(note)

    with pytest.raises(RuntimeError, match="read-only unit of work changed ORM objects"):
        await handler()

    assert await bodies_seen_by_another_connection(open_connection, url) == ["stored"]
    assert sessionmaker.kw["bind"].pool.checkedout() == 0


async def test_a_read_scope_that_raises_lets_the_error_through(notes_database) -> None:
    sessionmaker, _ = notes_database

    async def handler() -> None:
        async with read_scope(sessionmaker) as session:
            await session.execute(text("SELECT 1"))
            raise LookupError("the handler failed")

    with pytest.raises(LookupError):
        await handler()
    assert sessionmaker.kw["bind"].pool.checkedout() == 0
