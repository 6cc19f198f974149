"""The pool serves waiting checkouts in arrival order, and loses no connection to a waiter that gives up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine

from erp_db.engine import create_engine
from erp_db.fair_pool import FairAsyncQueuePool


@pytest.fixture
async def one_connection_engine(erp_db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(erp_db_url, application_name="erp-test-fair", pool_size=1, max_overflow=0)
    try:
        yield engine
    finally:
        await engine.dispose()


async def wait_until_waiting(engine: AsyncEngine, count: int) -> None:
    """Until ``count`` checkouts wait (read from the pool's queue: ours, or SQLAlchemy's asyncio.Queue)."""
    queue = engine.pool._pool  # type: ignore[attr-defined]
    waiters = queue._waiters if hasattr(queue, "_waiters") else queue._queue._getters
    for _ in range(500):
        if sum(not waiter.done() for waiter in waiters) == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never {count} waiting checkouts")


async def test_create_engine_uses_the_fair_pool(one_connection_engine: AsyncEngine) -> None:
    assert isinstance(one_connection_engine.pool, FairAsyncQueuePool)


async def test_a_returned_connection_goes_to_the_longest_waiter_not_to_a_newcomer(
    one_connection_engine: AsyncEngine,
) -> None:
    engine = one_connection_engine
    order: list[str] = []

    async def checkout(name: str) -> None:
        async with engine.connect() as connection:
            order.append(name)
            await connection.execute(text("SELECT 1"))

    holder = await engine.connect()
    first = asyncio.create_task(checkout("first waiter"))
    await wait_until_waiting(engine, 1)
    second = asyncio.create_task(checkout("second waiter"))
    await wait_until_waiting(engine, 2)

    # Return the connection and, before the woken waiter can run, ask again: with
    # SQLAlchemy's own asyncio pool this newcomer takes it, and the first waiter
    # queues again behind the second.
    await holder.close()
    await checkout("newcomer")
    await asyncio.gather(first, second)

    assert order == ["first waiter", "second waiter", "newcomer"]


async def test_a_waiter_that_times_out_loses_no_connection(erp_db_url: str) -> None:
    engine = create_engine(
        erp_db_url, application_name="erp-test-fair", pool_size=1, max_overflow=0, pool_timeout=0.2
    )
    try:
        holder = await engine.connect()
        with pytest.raises(PoolTimeout):
            await engine.connect()
        await holder.close()

        async with engine.connect() as connection:  # at once: the one connection is back
            assert await connection.scalar(text("SELECT 1")) == 1
        assert engine.pool.checkedout() == 0
    finally:
        await engine.dispose()


async def test_a_waiter_cancelled_after_the_hand_off_passes_the_connection_on(
    one_connection_engine: AsyncEngine,
) -> None:
    engine = one_connection_engine
    holder = await engine.connect()
    waiter = asyncio.create_task(engine.connect().start())
    await wait_until_waiting(engine, 1)

    await holder.close()  # handed to the waiter, which has not run yet
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter

    assert engine.pool.checkedout() == 0
    assert engine.pool.checkedin() == 1
    async with engine.connect() as connection:
        assert await connection.scalar(text("SELECT 1")) == 1
