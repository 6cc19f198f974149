"""Readiness never answers a request with a probe that started before the request arrived.

The unit tests of ``CoalescedCheck`` prove the rule with fake checks; this
proves it end to end, against real PostgreSQL. A proxy holds back the answer
to the first request's migrations query after PostgreSQL has executed it;
meanwhile the database leaves the head revision and a second request
arrives. The first request is answered with what its probe read (head: 200);
the second must not share that probe, whose answer predates it, and must
report the change (503). A coalescer that lets late callers join the probe
in flight answers both 200 and fails here.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from erp_api_testing import PostgresServer
from erp_db import shipped_head

from .conftest import with_port
from .tcp_proxy import TcpProxy

pytestmark = pytest.mark.resilience

ELSEWHERE = "0123456789ab"  # a revision the database is not at
HOLD_S = 1.0


async def set_revision(database_url: str, revision: str) -> None:
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": revision})
    finally:
        await engine.dispose()


async def test_a_request_arriving_after_the_database_changed_is_not_answered_by_an_older_probe(
    start_service, postgres_server: PostgresServer, database_url: str, record_property
):
    head = shipped_head()
    proxy = TcpProxy("127.0.0.1", postgres_server.port)
    # The probe answers only after the held reply: its budget must outlast the hold.
    service = start_service(
        DATABASE_URL=with_port(database_url, await proxy.start()), HEALTH_CHECK_TIMEOUT_S="5"
    )
    try:
        await service.wait_until("/healthz/ready", 200, within_s=30)
        async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as client:
            # The revision row in the server's reply: PostgreSQL has run the probe's query.
            held = proxy.hold_answer(head.encode(), HOLD_S)
            first_task = asyncio.create_task(client.get("/healthz/ready"))
            await asyncio.wait_for(held.wait(), 5)
            await set_revision(database_url, ELSEWHERE)
            try:
                assert not first_task.done()  # its probe is still in flight: the two overlap
                second = await client.get("/healthz/ready")
                first = await first_task
            finally:
                await set_revision(database_url, head)
    finally:
        await proxy.close()

    record_property(
        "resilience",
        f"database left head during a probe: first {first.status_code}, second {second.status_code} "
        f"({second.json()['checks']['migrations'].get('error')})",
    )
    assert first.status_code == 200  # what its probe read, before the change
    assert second.status_code == 503  # not the older probe's answer: a fresh one
    assert (
        second.json()["checks"]["migrations"]["error"]
        == f"unknown: at {ELSEWHERE}, not known to descend from {head}"
    )
    assert second.json()["checks"]["database"]["status"] == "ok"
