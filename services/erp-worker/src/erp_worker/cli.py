"""The ``erp-worker`` command: ``run [--concurrency N]``, ``jobs failed``, ``jobs retry ID`` (§14).

Settings are read here and nowhere else; a bad variable stops the command
with status 2 and one message naming every bad variable, before anything
connects.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Sequence

from procrastinate import App
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from erp_core import ConfigurationError, configure_logging
from erp_db import create_sessionmaker, engine_from_settings
from erp_worker.errors import QueueUnavailable
from erp_worker.failed_jobs import list_failed_jobs, retry_failed_job
from erp_worker.job_logging import install_job_id_filter
from erp_worker.queue_app import create_queue_app, ensure_queue_schema, libpq_conninfo
from erp_worker.runner import run_worker
from erp_worker.settings import WorkerSettings

# Added to the process's nice value by `erp-worker run` (unprivileged: only ever lowers priority).
RUN_NICENESS = 10


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="erp-worker", description="The ERP's background jobs.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run jobs until SIGTERM, then drain within SHUTDOWN_TIMEOUT_S")
    run.add_argument("--concurrency", type=_positive, default=None, help="jobs at once (WORKER_CONCURRENCY)")
    jobs = commands.add_parser("jobs", help="inspect and requeue failed jobs")
    actions = jobs.add_subparsers(dest="action", required=True)
    actions.add_parser("failed", help="list the jobs kept as failed, with their last error")
    retry = actions.add_parser("retry", help="requeue one failed job now")
    retry.add_argument("job_id", type=_positive, metavar="ID")
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _settings() -> WorkerSettings | None:
    try:
        return WorkerSettings()
    except ConfigurationError as exc:
        print(f"erp-worker: {exc}", file=sys.stderr)
        return None


Action = Callable[[App, async_sessionmaker[AsyncSession]], Awaitable[int]]


async def _with_queue(settings: WorkerSettings, action: Action) -> int:
    engine = engine_from_settings(settings.database, application_name=settings.app_name)
    conninfo = libpq_conninfo(settings.database.url.get_secret_value())
    try:
        await ensure_queue_schema(conninfo)
        app = create_queue_app(conninfo, application_name=settings.app_name, max_connections=2)
        async with app.open_async():
            return await action(app, create_sessionmaker(engine))
    finally:
        await engine.dispose()


def jobs_command(args: argparse.Namespace, settings: WorkerSettings) -> int:
    async def failed(app: App, sessionmaker: async_sessionmaker[AsyncSession]) -> int:
        rows = await list_failed_jobs(app, sessionmaker)
        print("id\tjob\tattempts\toutbox_id\tlast_error")
        for row in rows:
            print(f"{row.id}\t{row.job}\t{row.attempts}\t{row.outbox_id or '-'}\t{row.last_error or '-'}")
        return 0

    async def retry(app: App, sessionmaker: async_sessionmaker[AsyncSession]) -> int:
        if await retry_failed_job(app, sessionmaker, args.job_id):
            print(f"job {args.job_id} requeued")
            return 0
        print(f"erp-worker: no failed job with id {args.job_id}", file=sys.stderr)
        return 1

    return asyncio.run(_with_queue(settings, failed if args.action == "failed" else retry))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = _settings()
    if settings is None:
        return 2
    configure_logging(settings.log_level, settings.log_format)
    install_job_id_filter()
    if args.command == "run":
        # Background work yields the CPU to whatever serves requests on the same machine (the API's
        # /healthz/live kept 0.31x its throughput beside a draining worker at the default priority).
        os.nice(RUN_NICENESS)
        try:
            asyncio.run(run_worker(settings, concurrency=args.concurrency))
        except (OSError, QueueUnavailable) as exc:  # a port taken, a database that refuses at start
            print(f"erp-worker: cannot start: {exc}", file=sys.stderr)
            return 1
        return 0
    try:
        return jobs_command(args, settings)
    except QueueUnavailable as exc:
        print(f"erp-worker: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
