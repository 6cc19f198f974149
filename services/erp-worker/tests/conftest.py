"""Fixtures of erp-worker's tests: the migrated database of erp_db.testing, an SMTP server, a worker.

Everything is real: PostgreSQL (a throwaway database per test session), the
queue engine's schema in it, and an aiosmtpd server in this process that
keeps every message it accepted. A worker runs in this process (so a test
can read its metrics and log records) or as the ``erp-worker`` command in a
subprocess (so a test can kill it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from procrastinate import App
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from erp_db import DatabaseSettings, OutboxJob, create_sessionmaker, enqueue_job
from erp_db.testing import erp_db_engine, erp_db_url  # noqa: F401 (fixtures are found by name)
from erp_worker import (
    INVITATION_MAIL_JOB,
    OutboxRows,
    Timing,
    WorkerMetrics,
    WorkerSettings,
    create_queue_app,
    ensure_queue_schema,
    libpq_conninfo,
    run_worker,
)

# A test worker looks around often and gives up on a silent peer after a second.
FAST = Timing(relay_interval_s=0.05, heartbeat_interval_s=0.2, stalled_after_s=1.0, retry_base_s=0,
              health_host="127.0.0.1")  # fmt: skip
WAIT_S = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MailHandler:
    """aiosmtpd handler: keeps accepted messages; refuses, or holds the DATA of one address, on demand."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.sessions: list[int] = []  # the SMTP session of each accepted message
        self.refuse: str | None = None
        self.hold_for: str | None = None
        self.refuse_after_hold = False
        self.holding = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        # Only the mail to `hold_for`: other tests' jobs may be waiting in the shared queue.
        if self.hold_for is not None and self.hold_for in envelope.rcpt_tos:
            self.hold_for = None
            self.holding.set()
            while not self.release.is_set():
                await asyncio.sleep(0.01)
            if self.refuse_after_hold:
                return "451 4.3.0 held and dropped"
        if self.refuse is not None:
            return self.refuse
        with self._lock:
            self.messages.append(message_from_bytes(envelope.content))
            self.sessions.append(id(session))
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        with self._lock:
            return [message for message in self.messages if message["To"] == address]


@pytest.fixture
def smtp() -> Iterator[tuple[MailHandler, int]]:
    handler = MailHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        handler.release.set()
        controller.stop()


@pytest.fixture(scope="session")
async def queue_ready(erp_db_url: str) -> str:  # noqa: F811
    """The libpq URL of the test database, with the queue engine's schema installed."""
    conninfo = libpq_conninfo(erp_db_url)
    await ensure_queue_schema(conninfo)
    return conninfo


@pytest.fixture
async def queue_app(queue_ready: str) -> AsyncIterator[App]:
    """An open procrastinate App on the test database, to look at jobs as the CLI does."""
    app = create_queue_app(queue_ready, application_name="erp-worker-tests", max_connections=2)
    async with app.open_async():
        yield app


@pytest.fixture
async def outbox_rows(queue_ready: str) -> AsyncIterator[OutboxRows]:
    """The jobs' hold on outbox rows, as `erp-worker run` opens it, on the test database."""
    rows = OutboxRows(queue_ready, application_name="erp-worker-tests", max_connections=2)
    await rows.open()
    try:
        yield rows
    finally:
        await rows.close()


@pytest.fixture
def sessionmaker(erp_db_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:  # noqa: F811
    return create_sessionmaker(erp_db_engine)


def worker_settings(database_url: str, smtp_port: int | None, **values: Any) -> WorkerSettings:
    smtp = {"smtp_host": "127.0.0.1", "smtp_port": smtp_port, "smtp_starttls": False} if smtp_port else {}
    defaults: dict[str, Any] = {
        "metrics_port": 0,
        "worker_health_port": free_port(),
        "mail_from": "erp@example.org",
        "invitation_url_template": "https://erp.example.org/accept?token={token}",
    }
    return WorkerSettings(
        _env_file=None,
        database=DatabaseSettings(_env_file=None, url=database_url),
        **(defaults | smtp | values),
    )


RunWorker = Callable[..., Awaitable[WorkerMetrics]]


@pytest.fixture
async def start_worker(erp_db_url: str, queue_ready: str) -> AsyncIterator[RunWorker]:  # noqa: F811
    """Starts in-process workers (``await start_worker(smtp_port)``); all are stopped after the test."""
    tasks: list[asyncio.Task[None]] = []

    async def start(smtp_port: int | None, **values: Any) -> WorkerMetrics:
        metrics = WorkerMetrics()
        settings = worker_settings(erp_db_url, smtp_port, **values)
        tasks.append(
            asyncio.create_task(
                run_worker(settings, install_signal_handlers=False, timing=FAST, metrics=metrics)
            )
        )
        return metrics

    yield start
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def invite(
    sessionmaker: async_sessionmaker[AsyncSession], *, commit: bool = True, request_id: str | None = None
) -> tuple[uuid.UUID, str, str]:
    """Record an invitation-mail job as the API does; returns (outbox id, address, token)."""
    invitation_id = uuid.uuid4()
    email = f"invitee-{invitation_id.hex[:12]}@example.org"
    token = f"tok-{uuid.uuid4().hex}{uuid.uuid4().hex}"
    async with sessionmaker() as session:
        await enqueue_job(
            session,
            job=INVITATION_MAIL_JOB,
            payload={"invitation_id": str(invitation_id), "email": email, "token": token},
            idempotency_key=f"{INVITATION_MAIL_JOB}:{invitation_id}",
            request_id=request_id,
        )
        if commit:
            await session.commit()
        else:
            await session.rollback()
        outbox_id = await session.scalar(
            select(OutboxJob.id).where(OutboxJob.idempotency_key == f"{INVITATION_MAIL_JOB}:{invitation_id}")
        )
    return outbox_id or uuid.UUID(int=0), email, token


async def outbox_row(sessionmaker: async_sessionmaker[AsyncSession], outbox_id: uuid.UUID) -> OutboxJob:
    async with sessionmaker() as session:
        row = await session.get(OutboxJob, outbox_id)
        assert row is not None
        return row


async def eventually(predicate: Callable[[], Awaitable[bool]], *, what: str, within: float = WAIT_S) -> None:
    """Wait until ``predicate()`` holds; fail naming ``what`` if it never does (a bound, not a timing)."""
    async with asyncio.timeout(within):
        while not await predicate():
            await asyncio.sleep(0.05)
    assert await predicate(), what


class WorkerProcess:
    """``erp-worker run`` in a subprocess with exactly the environment given."""

    command = Path(sys.executable).parent / "erp-worker"

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            [str(self.command), "run"],
            env={"PATH": os.environ.get("PATH", ""), **env},
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.communicate(timeout=30)

    def wait(self) -> tuple[int, str]:
        output, _ = self.process.communicate(timeout=60)
        return self.process.returncode, output


@pytest.fixture
def worker_env(erp_db_url: str, tmp_path: Path) -> Callable[..., dict[str, str]]:  # noqa: F811
    def env(smtp_port: int | None = None, **extra: str) -> dict[str, str]:
        values = {
            "DATABASE_URL": erp_db_url,
            "METRICS_PORT": "0",
            "WORKER_HEALTH_PORT": str(free_port()),
            "MAIL_FROM": "erp@example.org",
            "SHUTDOWN_TIMEOUT_S": "20",
        }
        if smtp_port:
            values |= {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port), "SMTP_STARTTLS": "false"}
        return values | extra

    return env


@pytest.fixture
def worker_processes(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(env: dict[str, str]) -> WorkerProcess:
        started.append(WorkerProcess(env, tmp_path))
        return started[-1]

    yield start
    for worker in started:
        if worker.process.poll() is None:
            worker.kill()
