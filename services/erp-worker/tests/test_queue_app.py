"""The queue engine's connections, against the real PostgreSQL."""

from __future__ import annotations

from typing import cast

import psycopg
from procrastinate import App, PsycopgConnector
from psycopg.pq import TransactionStatus

from erp_worker import OutboxRows, create_queue_app


async def test_the_queue_pool_leaves_no_transaction_open_after_a_statement(queue_app: App) -> None:
    """Autocommit: procrastinate's one-statement queries go without psycopg's BEGIN and COMMIT round trips."""
    connector = cast(PsycopgConnector, queue_app.connector)
    async with connector.pool.connection() as connection:
        await connection.execute("SELECT 1")
        assert connection.info.transaction_status == TransactionStatus.IDLE


async def _synchronous_commit(app: App) -> str:
    row = await app.connector.execute_query_one_async("SHOW synchronous_commit")
    return str(row["synchronous_commit"])


async def test_only_the_running_workers_bookkeeping_commits_asynchronously(
    queue_app: App, queue_ready: str, outbox_rows: OutboxRows
) -> None:
    """The run's queue pool skips the WAL flush; an operator's queue and the outbox rows keep the server's."""
    async with await psycopg.AsyncConnection.connect(queue_ready) as plain:
        cursor = await plain.execute("SHOW synchronous_commit")
        server_default = (await cursor.fetchone() or ("?",))[0]
    assert server_default != "off"  # else this test could not tell the pools apart
    assert await _synchronous_commit(queue_app) == server_default
    running = create_queue_app(
        queue_ready, application_name="erp-worker-tests", max_connections=1, synchronous_commit=False
    )
    async with running.open_async():
        assert await _synchronous_commit(running) == "off"
    async with outbox_rows._pool.connection() as connection:
        cursor = await connection.execute("SHOW synchronous_commit")
        assert await cursor.fetchone() == (server_default,)
