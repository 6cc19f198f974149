"""``erp-worker run``: the queue worker, the outbox relay and the probes, in one process.

Start order: the database engine, procrastinate's schema (installed once),
the jobs, the metrics and health listeners, one purge scheduled, then the
relay loop beside procrastinate's worker. SIGTERM or SIGINT cancels
procrastinate's worker, which stops fetching jobs, waits for the running
ones at most ``SHUTDOWN_TIMEOUT_S``, aborts what is left (the retry strategy
runs it again later) and returns, so the command exits 0.

procrastinate's worker stops by itself when one of its side tasks fails,
as its listener does when the database goes away: it leaves the restart to
whoever runs it. Here that is :func:`run_worker`, which starts it again
(after one second, then up to ``RESTART_BACKOFF_MAX_S``) until the database
answers, so a database outage costs no process restart and no lost job
(the jobs wait in the database). The signals are therefore ours, not
procrastinate's: only a signal, or a cancellation, ends the loop.

Without ``SMTP_HOST`` the worker does not listen on the ``mail`` queue: mail
jobs are relayed and wait there, and one warning per start says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from procrastinate import App
from sqlalchemy.ext.asyncio import AsyncEngine

from erp_core import ProbeResult, run_probe
from erp_db import create_sessionmaker, engine_from_settings, probe_database, probe_migrations
from erp_worker.health import HealthServer, ReadinessCheck
from erp_worker.invitation_mail import InvitationMailer
from erp_worker.jobs import DEFAULT_QUEUE, MAIL_QUEUE, JobSettings, register_jobs, safe_error, schedule_purge
from erp_worker.metrics import WorkerMetrics
from erp_worker.outbox_relay import relay_forever
from erp_worker.outbox_rows import OutboxRows
from erp_worker.queue_app import create_queue_app, ensure_queue_schema, libpq_conninfo
from erp_worker.settings import WorkerSettings

logger = logging.getLogger(__name__)

RESTART_BACKOFF_MAX_S = 10.0


@dataclass(frozen=True, slots=True)
class Timing:
    """How often the worker looks around; the defaults suit production, tests shorten them."""

    relay_interval_s: float = 0.5
    heartbeat_interval_s: float = 10.0
    stalled_after_s: float = 30.0
    retry_base_s: int = 2
    health_host: str = "0.0.0.0"


def mailer_from_settings(settings: WorkerSettings, *, concurrency: int) -> InvitationMailer | None:
    """The SMTP side of ``SMTP_*``, ``MAIL_FROM``, ``INVITATION_URL_TEMPLATE``; ``None`` without SMTP_HOST."""
    if settings.smtp_host is None:
        return None
    return InvitationMailer(
        host=settings.smtp_host,
        port=settings.smtp_port,
        mail_from=settings.mail_from,
        url_template=settings.invitation_url_template,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        starttls=settings.smtp_starttls,
        keep_connections=concurrency,
    )


async def run_worker(
    settings: WorkerSettings,
    *,
    concurrency: int | None = None,
    install_signal_handlers: bool = True,
    timing: Timing | None = None,
    metrics: WorkerMetrics | None = None,
) -> None:
    """Run until SIGTERM/SIGINT (or cancellation), then drain within ``SHUTDOWN_TIMEOUT_S``."""
    timing = timing or Timing()
    metrics = metrics or WorkerMetrics()
    concurrency = concurrency or settings.worker_concurrency
    engine = engine_from_settings(settings.database, application_name=settings.app_name)
    conninfo = libpq_conninfo(settings.database.url.get_secret_value())
    mailer = mailer_from_settings(settings, concurrency=concurrency)
    if mailer is None:
        logger.warning("SMTP_HOST is not set: invitation mails stay pending until a worker with SMTP runs")
    sessionmaker = create_sessionmaker(engine)
    outbox = OutboxRows(
        conninfo,
        application_name=settings.app_name,
        max_connections=concurrency,
        prepare=not settings.database.pgbouncer,
    )
    try:
        if await ensure_queue_schema(conninfo):
            logger.info("queue schema installed")
        app = create_queue_app(
            conninfo,
            application_name=settings.app_name,
            max_connections=concurrency + 3,
            synchronous_commit=False,  # its bookkeeping: see create_queue_app
        )
        register_jobs(
            app,
            JobSettings(
                sessionmaker=sessionmaker,
                outbox=outbox,
                metrics=metrics,
                mailer=mailer,
                max_attempts=settings.job_max_attempts,
                purge_interval_s=settings.purge_interval_s,
                purge_retention_s=settings.purge_retention_s,
                retry_base_s=timing.retry_base_s,
            ),
        )
        if settings.metrics_port:
            metrics.serve(settings.metrics_port)
        await outbox.open()
        async with app.open_async():
            await schedule_purge(app)
            health = HealthServer(readiness_checks(app, engine, settings.health_check_timeout_s))
            await health.start(timing.health_host, settings.worker_health_port)
            relay = asyncio.create_task(
                relay_forever(
                    app,
                    sessionmaker,
                    metrics,
                    interval_s=timing.relay_interval_s,
                    stalled_after_s=timing.stalled_after_s,
                )
            )
            try:
                await _run_until_stopped(
                    lambda: app.run_worker_async(
                        queues=[DEFAULT_QUEUE, MAIL_QUEUE] if mailer is not None else [DEFAULT_QUEUE],
                        concurrency=concurrency,
                        shutdown_graceful_timeout=settings.shutdown_timeout_s,
                        install_signal_handlers=False,
                        delete_jobs="successful",
                        update_heartbeat_interval=timing.heartbeat_interval_s,
                        stalled_worker_timeout=timing.stalled_after_s,
                        name=settings.app_name,
                    ),
                    install_signal_handlers=install_signal_handlers,
                )
            finally:
                relay.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await relay
                await health.close()
    finally:
        if mailer is not None:
            mailer.close()
        await outbox.close()
        await engine.dispose()


async def _run_until_stopped(
    start: Callable[[], Coroutine[Any, Any, None]], *, install_signal_handlers: bool
) -> None:
    """Run procrastinate's worker, again whenever it stops by itself, until SIGTERM/SIGINT or cancellation."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    current: asyncio.Task[None] | None = None

    def request_stop() -> None:
        stop.set()
        if current is not None:
            current.cancel()  # procrastinate's graceful shutdown, within SHUTDOWN_TIMEOUT_S

    signals = (signal.SIGTERM, signal.SIGINT) if install_signal_handlers else ()
    for number in signals:
        loop.add_signal_handler(number, request_stop)
    backoff = 1.0
    try:
        while not stop.is_set():
            current = asyncio.create_task(start())
            started = loop.time()
            try:
                await current
            except asyncio.CancelledError:
                if stop.is_set() and not _being_cancelled():
                    return
                current.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await current
                raise
            except Exception as exc:  # the database refused the worker's start: try again
                logger.error("queue worker could not start: %s; retrying in %.0f s", safe_error(exc), backoff)
            else:
                if stop.is_set():
                    return
                logger.error("queue worker stopped by itself (database lost?); restarting in %.0f s", backoff)
            if loop.time() - started > RESTART_BACKOFF_MAX_S:
                backoff = 1.0  # it ran a while: a new trouble, not the same one
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff)
            backoff = min(backoff * 2, RESTART_BACKOFF_MAX_S)
    finally:
        for number in signals:
            loop.remove_signal_handler(number)


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def readiness_checks(app: App, engine: AsyncEngine, timeout: float) -> dict[str, ReadinessCheck]:
    """The database, its migrations at head, and the queue's backend: what ``/healthz/ready`` runs."""

    async def database() -> ProbeResult:
        return await probe_database(engine, timeout=timeout)

    async def migrations() -> ProbeResult:
        return await probe_migrations(engine, timeout=timeout)

    async def queue() -> ProbeResult:
        async def check() -> None:
            if not await app.job_manager.check_connection_async():
                raise RuntimeError("queue schema missing")

        return await run_probe(check, timeout=timeout)

    return {"database": database, "migrations": migrations, "queue": queue}
