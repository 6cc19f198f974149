"""How many connections a service holds, as PostgreSQL sees them in ``pg_stat_activity``.

The service's engine names every connection after ``APP_NAME``
(``application_name``), so a test that gives each service a unique name can
count that service's connections alone, whatever else uses the server.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from erp_db import to_asyncpg_url

_COUNT = text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name")


class ConnectionCounter:
    """One connection of its own to the server of ``admin_url``, for counting many times.

    ``async with ConnectionCounter(url) as counter: await counter.count(name)``;
    its own connection is named ``erp-connection-counter``, so it never counts itself.
    """

    def __init__(self, admin_url: str) -> None:
        self._engine = create_async_engine(
            to_asyncpg_url(admin_url),
            poolclass=NullPool,
            isolation_level="AUTOCOMMIT",  # each count sees the server as it is now
            connect_args={"server_settings": {"application_name": "erp-connection-counter"}},
        )
        self._connection: AsyncConnection | None = None

    async def __aenter__(self) -> ConnectionCounter:
        self._connection = await self._engine.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._connection is not None:
            await self._connection.close()
        await self._engine.dispose()

    async def count(self, application_name: str) -> int:
        assert self._connection is not None, "use ConnectionCounter as an async context manager"
        return int(await self._connection.scalar(_COUNT, {"name": application_name}) or 0)


async def count_connections(admin_url: str, application_name: str) -> int:
    """How many connections named ``application_name`` the server of ``admin_url`` shows right now."""
    async with ConnectionCounter(admin_url) as counter:
        return await counter.count(application_name)
