"""How many connections a service holds, as PostgreSQL sees them in ``pg_stat_activity``.

The service's engine names every connection after ``APP_NAME``
(``application_name``), so a test that gives each service a unique name can
count that service's connections alone, whatever else uses the server.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from erp_db import to_asyncpg_url

_COUNT = text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name")
_COUNT_IN_DATABASE = text("SELECT count(*) FROM pg_stat_activity WHERE datname = :database")


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

    async def count_in_database(self, database: str) -> int:
        """Every connection to ``database``, whoever holds it: what a pooler in front lets through."""
        assert self._connection is not None, "use ConnectionCounter as an async context manager"
        return int(await self._connection.scalar(_COUNT_IN_DATABASE, {"database": database}) or 0)


async def count_connections(admin_url: str, application_name: str) -> int:
    """How many connections named ``application_name`` the server of ``admin_url`` shows right now."""
    async with ConnectionCounter(admin_url) as counter:
        return await counter.count(application_name)


class ConnectionSampler:
    """Counts connections every ``interval_s`` while its block runs: ``samples`` and ``peak``.

    Counts the service named ``application_name``, or with ``database``
    every connection to that database (what a pooler in front lets through).
    """

    def __init__(
        self,
        admin_url: str,
        *,
        application_name: str | None = None,
        database: str | None = None,
        interval_s: float = 0.05,
    ) -> None:
        if (application_name is None) == (database is None):
            raise ValueError("count by application_name or by database: one of the two")
        self.counter = ConnectionCounter(admin_url)
        self.application_name = application_name
        self.database = database
        self.interval_s = interval_s
        self.samples: list[int] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def peak(self) -> int:
        return max(self.samples, default=0)

    async def __aenter__(self) -> ConnectionSampler:
        await self.counter.__aenter__()
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self.counter.__aexit__(*exc_info)

    async def _sample(self) -> None:
        while True:
            if self.database is not None:
                self.samples.append(await self.counter.count_in_database(self.database))
            else:
                assert self.application_name is not None
                self.samples.append(await self.counter.count(self.application_name))
            await asyncio.sleep(self.interval_s)
