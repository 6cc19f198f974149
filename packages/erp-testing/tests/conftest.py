"""Fixtures for erp-testing's own tests: erp_testing.database's public ones, and connections of their own.

The public fixtures are imported, not enabled with ``pytest_plugins``:
pytest accepts ``pytest_plugins`` only in a top-level conftest, and this one
is not top-level when pytest runs from the repository root.
``test_database.py`` checks the ``pytest_plugins`` way in a project of its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from erp_testing.database import (  # noqa: F401 (fixtures are found by name)
    admin_url_from_env,
    erp_db_engine,
    erp_db_session,
    erp_db_url,
)

OpenConnection = Callable[[str], Awaitable[AsyncConnection]]


@pytest.fixture(scope="session")
def admin_url() -> str:
    return admin_url_from_env()


@pytest.fixture
async def open_connection() -> AsyncIterator[OpenConnection]:
    """Opens autocommit connections of the test's own, beside the code under test; closed after it."""
    async with contextlib.AsyncExitStack() as stack:

        async def connect(url: str) -> AsyncConnection:
            engine = create_async_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
            stack.push_async_callback(engine.dispose)
            return await stack.enter_async_context(engine.connect())

        yield connect
