"""The queue engine's connections, against the real PostgreSQL."""

from __future__ import annotations

from typing import cast

from procrastinate import App, PsycopgConnector
from psycopg.pq import TransactionStatus


async def test_the_queue_pool_leaves_no_transaction_open_after_a_statement(queue_app: App) -> None:
    """Autocommit: procrastinate's one-statement queries go without psycopg's BEGIN and COMMIT round trips."""
    connector = cast(PsycopgConnector, queue_app.connector)
    async with connector.pool.connection() as connection:
        await connection.execute("SELECT 1")
        assert connection.info.transaction_status == TransactionStatus.IDLE
