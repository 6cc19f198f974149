"""Fixtures for erp-db's own tests: the public ones of erp_db.testing, plus scratch databases.

The public fixtures are imported, not enabled with ``pytest_plugins``:
pytest accepts ``pytest_plugins`` only in a top-level conftest, and this one
is not top-level when pytest runs from the repository root.
``test_testing.py`` checks the ``pytest_plugins`` way in a project of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from erp_db.migration_lock import MIGRATION_LOCK_KEY
from erp_db.testing import (  # noqa: F401 (fixtures are found by name)
    admin_url_from_env,
    erp_db_engine,
    erp_db_session,
    erp_db_url,
    temporary_database,
)

Completed = subprocess.CompletedProcess[str]
OpenConnection = Callable[[str], Awaitable[AsyncConnection]]

_LOCK_WAITERS = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


@pytest.fixture(scope="session")
def admin_url() -> str:
    return admin_url_from_env()


@pytest.fixture
async def empty_database(admin_url: str) -> AsyncIterator[str]:
    """The URL of a new database that no migration has touched; dropped after the test."""
    async with temporary_database(admin_url, migrate=False) as url:
        yield url


@pytest.fixture
async def open_connection() -> AsyncIterator[OpenConnection]:
    """Opens autocommit connections of the test's own, beside the code under test; closed after it."""
    async with contextlib.AsyncExitStack() as stack:

        async def connect(url: str) -> AsyncConnection:
            engine = create_async_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
            stack.push_async_callback(engine.dispose)
            return await stack.enter_async_context(engine.connect())

        yield connect


class MigrationLockHolder:
    """Takes the migration lock the way a concurrent ``erp-db upgrade`` would, on its own connection."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def hold(self) -> None:
        await self.connection.execute(select(func.pg_advisory_lock(MIGRATION_LOCK_KEY)))

    async def release(self) -> None:
        await self.connection.execute(select(func.pg_advisory_unlock(MIGRATION_LOCK_KEY)))

    async def wait_for_waiters(self, count: int, *, within: float = 30.0) -> None:
        """Return once ``count`` other sessions wait for the lock in this database."""
        async with asyncio.timeout(within):
            while await self.connection.scalar(_LOCK_WAITERS) < count:
                await asyncio.sleep(0.05)


@pytest.fixture
async def migration_lock_holder(
    open_connection: OpenConnection,
) -> Callable[[str], Awaitable[MigrationLockHolder]]:
    async def holder(url: str) -> MigrationLockHolder:
        return MigrationLockHolder(await open_connection(url))

    return holder


class Commands:
    """Runs the installed ``erp-db`` (and Python) in subprocesses with exactly the environment given.

    The command is the one beside this interpreter, so the tests exercise the
    same script in the development venv and in a venv that installed the wheel.
    The working directory is empty: no ``.env`` file is read.
    """

    erp_db = Path(sys.executable).parent / "erp-db"

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd

    def environment(self, env: Mapping[str, str] | None) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", ""), "LOG_FORMAT": "console", **(env or {})}

    def start(self, *argv: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            argv,
            env=self.environment(env),
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, *argv: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        process = self.start(*argv, env=env)
        stdout, stderr = process.communicate(timeout=60)
        return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)

    def run_erp_db(self, *args: str, env: Mapping[str, str] | None = None) -> Completed:
        return self.run(str(self.erp_db), *args, env=env)

    def start_erp_db(self, *args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
        return self.start(str(self.erp_db), *args, env=env)

    def run_python(self, code: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "-c", code, env=env)


@pytest.fixture
def commands(tmp_path: Path) -> Commands:
    return Commands(tmp_path)
