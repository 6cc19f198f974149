"""PostgreSQL, the database and the queue's backend, stopped under a running worker: it rides it out.

A private server (:class:`erp_testing.servers.PostgresServer`) is
stopped for a few seconds while a worker runs on it. The worker must not
exit, and once the server is back it must deliver what is committed after
the outage, without a restart. (Nothing commits while the database is down:
with procrastinate the queue is that database, so "the queue's backend was
down at commit" is this outage.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from erp_db import create_engine, create_sessionmaker
from erp_db.testing import temporary_database
from erp_testing.servers import PostgresServer
from erp_worker import WorkerMetrics, ensure_queue_schema, libpq_conninfo, run_worker

from .conftest import FAST, MailHandler, eventually, invite, worker_settings

pytestmark = pytest.mark.resilience

OUTAGE_S = 3.0


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


@pytest.fixture
async def private_database(postgres_server: PostgresServer) -> AsyncIterator[str]:
    async with temporary_database(postgres_server.admin_url) as url:
        await ensure_queue_schema(libpq_conninfo(url))
        yield url


async def test_a_worker_outlives_a_database_outage_and_delivers_what_is_committed_after_it(
    postgres_server: PostgresServer, private_database: str, smtp: tuple[MailHandler, int]
) -> None:
    handler, port = smtp
    engine = create_engine(private_database, application_name="erp-worker-outage-test")
    sessionmaker = create_sessionmaker(engine)
    settings = worker_settings(private_database, port)
    worker = asyncio.create_task(
        run_worker(settings, install_signal_handlers=False, timing=FAST, metrics=WorkerMetrics())
    )
    try:
        _, before, _ = await invite(sessionmaker)
        await eventually(lambda: _mailed(handler, before), what="the mail committed before the outage")

        with postgres_server.stopped():
            await asyncio.sleep(OUTAGE_S)
            assert not worker.done(), "the worker exited while the database was down"
        await engine.dispose()  # the test's own pool: its connections died with the server

        _, after, _ = await invite(sessionmaker)
        await eventually(lambda: _mailed(handler, after), what="the mail committed after the outage")
        assert not worker.done()
        assert len(handler.to(before)) == len(handler.to(after)) == 1
    finally:
        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker
        await engine.dispose()


async def _mailed(handler: MailHandler, address: str) -> bool:
    return bool(handler.to(address))
