"""Test support for code built on erp-db: throwaway databases and pytest fixtures.

Install with the ``testing`` extra (``erp-db[testing]``): this module imports
pytest and pytest-asyncio, which the library itself never needs. The plain
helpers (:func:`temporary_database` and friends) suit any test runner; the
fixtures are enabled by a top-level ``conftest.py``::

    pytest_plugins = ["erp_db.testing"]

``erp_db_url`` creates one database per test session on the server named by
``TEST_DATABASE_URL`` (default :data:`DEFAULT_TEST_DATABASE_URL`), migrates it
with the real migrations and drops it at the end. The async fixtures run in
the session's event loop, so tests that use them must too
(``asyncio_default_test_loop_scope = "session"``). An unreachable server
fails the tests that need it, loudly: a skipped database test proves nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
import uuid
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Final

import pytest
import pytest_asyncio
from alembic import command
from sqlalchemy import URL, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from erp_core import describe_error
from erp_db.database_url import server_address, to_asyncpg_url
from erp_db.engine import create_engine
from erp_db.schema_migrations import alembic_config, upgrade

# A test-only revision after the shipped head: what a newer release would apply.
NEWER_RELEASE_REVISION: Final = "0e1de5ce0da7"
NEWER_RELEASE_TABLE: Final = "erp_db_newer_release_marker"
_NEWER_RELEASE_SCRIPT: Final = f'''"""test-only revision after the shipped head (upgrade_as_newer_release)"""

from alembic import op

from erp_db import shipped_head

revision = "{NEWER_RELEASE_REVISION}"
down_revision = shipped_head()
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE TABLE {NEWER_RELEASE_TABLE} (id integer)")


def downgrade() -> None:
    op.execute("DROP TABLE {NEWER_RELEASE_TABLE}")
'''

TEST_DATABASE_URL_VARIABLE: Final = "TEST_DATABASE_URL"
DEFAULT_TEST_DATABASE_URL: Final = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"

# Names this module creates and accepts: no quoting surprises, no injection.
_DATABASE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def admin_url_from_env() -> str:
    """``TEST_DATABASE_URL``, read now, or the local default: a role that may create databases."""
    return os.environ.get(TEST_DATABASE_URL_VARIABLE) or DEFAULT_TEST_DATABASE_URL


async def create_database(admin_url: str | URL, name: str) -> None:
    """Create the empty database ``name`` on the server of ``admin_url``."""
    await _run_as_admin(admin_url, f'CREATE DATABASE "{_checked(name)}"')


async def drop_database(admin_url: str | URL, name: str) -> None:
    """Drop ``name`` if it exists, disconnecting whoever is still connected to it."""
    await _run_as_admin(admin_url, f'DROP DATABASE IF EXISTS "{_checked(name)}" WITH (FORCE)')


@contextlib.asynccontextmanager
async def temporary_database(admin_url: str | URL, *, migrate: bool = True) -> AsyncIterator[str]:
    """A new, uniquely named database for the block; yields its asyncpg URL (password included).

    With ``migrate`` (the default) it is brought to head by the shipped
    migrations, exactly as ``erp-db upgrade`` would. It is dropped at the end,
    even when connections to it are still open.
    """
    admin = to_asyncpg_url(admin_url)
    name = f"erp_test_{uuid.uuid4().hex[:16]}"
    await create_database(admin, name)
    try:
        url = admin.set(database=name).render_as_string(hide_password=False)
        if migrate:
            await asyncio.to_thread(upgrade, url)
        yield url
    finally:
        await drop_database(admin, name)


def upgrade_as_newer_release(url: str | URL) -> str:
    """Migrate the database at ``url`` past the shipped head, as the next release would; return the revision.

    Applies the shipped migrations and then one test-only revision whose
    parent is the shipped head (it adds an unused table, a change the running
    release tolerates), through the same ``env.py`` as ``erp-db upgrade``, so
    the ledger of applied revisions records it. Synchronous, like
    :func:`erp_db.upgrade`: from async code use ``asyncio.to_thread``.
    """
    with tempfile.TemporaryDirectory(prefix="erp-db-newer-release-") as extra:
        Path(extra, "newer_release.py").write_text(_NEWER_RELEASE_SCRIPT, encoding="utf-8")
        config = alembic_config(url)
        shipped = resources.files("erp_db") / "migrations" / "versions"
        config.set_main_option("version_locations", os.pathsep.join([str(shipped), extra]))
        command.upgrade(config, NEWER_RELEASE_REVISION)
    return NEWER_RELEASE_REVISION


async def _run_as_admin(admin_url: str | URL, statement: str) -> None:
    # CREATE/DROP DATABASE cannot run inside a transaction: autocommit.
    engine = create_async_engine(
        to_asyncpg_url(admin_url),
        poolclass=NullPool,
        isolation_level="AUTOCOMMIT",
        connect_args={"timeout": 10},
    )
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


def _checked(name: str) -> str:
    if not _DATABASE_NAME.fullmatch(name):
        raise ValueError("database names here are lower-case letters, digits and '_', at most 63")
    return name


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def erp_db_url() -> AsyncIterator[str]:
    """The URL of a database migrated to head, shared by the whole test session."""
    admin_url = admin_url_from_env()
    try:
        async with temporary_database(admin_url) as url:
            yield url
    except (OSError, SQLAlchemyError) as exc:
        where = server_address(to_asyncpg_url(admin_url))
        pytest.fail(
            f"erp_db.testing: PostgreSQL at {where} ({TEST_DATABASE_URL_VARIABLE}) is unusable: "
            f"{describe_error(exc)}",
            pytrace=False,
        )


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def erp_db_engine(erp_db_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on :func:`erp_db_url`, built by :func:`erp_db.create_engine`, disposed at the end."""
    engine = create_engine(erp_db_url, application_name="erp-db-tests")
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture(loop_scope="session")
async def erp_db_session(erp_db_engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session whose every change is rolled back after the test, commits included.

    The session joins an outer transaction on its own connection; its
    ``commit()`` only releases a savepoint (``join_transaction_mode=
    "create_savepoint"``), so code under test may commit as in production.
    """
    async with erp_db_engine.connect() as connection:
        outer = await connection.begin()
        session = AsyncSession(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            yield session
        finally:
            await session.close()
            await outer.rollback()
