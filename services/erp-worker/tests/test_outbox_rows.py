"""A delivery's hold on its outbox row: locked while it runs, committed when completed, two round trips."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from pathlib import Path

import pytest
from psycopg import pq
from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from erp_db import OutboxJob
from erp_worker import OutboxRows

from .conftest import invite, outbox_row


async def _settled(outbox_rows: OutboxRows, outbox_id: uuid.UUID) -> bool:
    """What the next delivery would read: the row done with (a delivery then sends nothing)."""
    async with outbox_rows.claim(outbox_id) as claim:
        assert claim.row is not None
        return claim.row.settled


async def test_complete_marks_the_row_done_and_erases_its_token(
    outbox_rows: OutboxRows, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    outbox_id, email, token = await invite(sessionmaker, request_id="req-rows-1")
    async with outbox_rows.claim(outbox_id) as claim:
        assert claim.row is not None
        assert (claim.row.payload["token"], claim.row.payload["email"]) == (token, email)
        assert (claim.row.settled, claim.row.request_id) == (False, "req-rows-1")
        claim.complete()
    row = await outbox_row(sessionmaker, outbox_id)
    assert row.completed_at is not None
    assert (row.attempts, row.last_error) == (1, None)
    assert row.payload == {"invitation_id": row.payload["invitation_id"], "email": email}  # no token
    assert await _settled(outbox_rows, outbox_id)


async def test_a_failing_block_rolls_back_and_releases_the_row(
    outbox_rows: OutboxRows, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    outbox_id, _, token = await invite(sessionmaker)

    async def fail(*, after_complete: bool) -> None:
        async with outbox_rows.claim(outbox_id) as claim:
            if after_complete:  # complete() asked, the block fails before it ends
                claim.complete()
            raise RuntimeError("smtp down")

    with pytest.raises(RuntimeError, match="smtp down"):
        await fail(after_complete=False)
    with pytest.raises(RuntimeError, match="smtp down"):
        await fail(after_complete=True)
    row = await outbox_row(sessionmaker, outbox_id)
    assert (row.completed_at, row.attempts, row.payload["token"]) == (None, 0, token)
    async with asyncio.timeout(5), outbox_rows.claim(outbox_id) as claim:  # not left locked
        assert claim.row is not None
        assert not claim.row.settled


async def test_a_second_claim_waits_for_the_first_and_then_sees_it_done(
    outbox_rows: OutboxRows, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    outbox_id, _, _ = await invite(sessionmaker)
    first_holds, release = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with outbox_rows.claim(outbox_id) as claim:
            first_holds.set()
            await release.wait()
            claim.complete()

    async def second() -> bool:
        async with outbox_rows.claim(outbox_id) as claim:
            return claim.row is not None and claim.row.settled

    holder = asyncio.create_task(first())
    await first_holds.wait()
    waiter = asyncio.create_task(second())
    done, _ = await asyncio.wait({waiter}, timeout=0.5)
    assert not done, "the second claim did not wait for the row's lock"
    release.set()
    await holder
    assert await asyncio.wait_for(waiter, 5) is True


async def test_a_row_failed_for_good_is_settled(
    outbox_rows: OutboxRows, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """A job run again after its final failure (the queue's record of it lost) sends nothing."""
    outbox_id, _, _ = await invite(sessionmaker)
    async with sessionmaker.begin() as session:
        await session.execute(update(OutboxJob).where(OutboxJob.id == outbox_id).values(failed_at=func.now()))
    assert await _settled(outbox_rows, outbox_id)


async def test_a_cancelled_delivery_releases_the_row_untouched(
    outbox_rows: OutboxRows, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """A job cancelled mid-work (a shutdown past SHUTDOWN_TIMEOUT_S) leaves the row as it was, unlocked."""
    outbox_id, _, token = await invite(sessionmaker)
    holding = asyncio.Event()

    async def deliver() -> None:
        async with outbox_rows.claim(outbox_id) as claim:
            claim.complete()
            holding.set()
            await asyncio.Event().wait()  # the SMTP conversation, never answered

    delivery = asyncio.create_task(deliver())
    await holding.wait()
    delivery.cancel()
    with pytest.raises(asyncio.CancelledError):
        await delivery
    async with asyncio.timeout(5), outbox_rows.claim(outbox_id) as claim:
        assert claim.row is not None
        assert not claim.row.settled
        assert claim.row.payload["token"] == token


async def test_a_claim_of_a_purged_row_reads_none(outbox_rows: OutboxRows) -> None:
    async with outbox_rows.claim(uuid.uuid4()) as claim:
        assert claim.row is None


async def test_a_delivery_costs_two_round_trips(
    queue_ready: str, sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """BEGIN with the SELECT, the UPDATE with the COMMIT: counted in libpq's own trace of the connection."""
    rows = OutboxRows(queue_ready, application_name="erp-worker-tests", max_connections=1)
    await rows.open()
    try:
        warm_id, _, _ = await invite(sessionmaker)
        async with rows.claim(warm_id) as claim:  # the connection's first use adds the pool's check
            claim.complete()
        outbox_id, _, _ = await invite(sessionmaker)
        trace = tmp_path / "libpq.trace"
        with trace.open("w") as sink:
            async with rows._pool.connection() as connection:  # the pool's one connection
                connection.pgconn.trace(sink.fileno())
                connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
            async with rows.claim(outbox_id) as claim:
                claim.complete()
            async with rows._pool.connection() as connection:
                connection.pgconn.untrace()
        directions = [line[0] for line in trace.read_text().splitlines() if line[:1] in ("F", "B")]
    finally:
        await rows.close()
    # A round trip is a turn from sending to reading; the pool's own return adds none.
    round_trips = sum(1 for turn in itertools.pairwise(directions) if turn == ("F", "B"))
    assert round_trips == 2, "".join(directions)
    row = await outbox_row(sessionmaker, outbox_id)
    assert row.completed_at is not None
