"""The package's interface, pinned; importing it reads no environment and starts nothing."""

from __future__ import annotations

import subprocess
import sys

import erp_worker

EXPORTED = [
    "INVITATION_MAIL_JOB",
    "PURGE_JOB",
    "FailedJob",
    "HealthServer",
    "InvitationMailer",
    "JobFailed",
    "JobSettings",
    "OutboxRows",
    "PurgeCounts",
    "QueueUnavailable",
    "Timing",
    "WorkerError",
    "WorkerMetrics",
    "WorkerSettings",
    "create_queue_app",
    "ensure_queue_schema",
    "libpq_conninfo",
    "list_failed_jobs",
    "purge_expired",
    "register_jobs",
    "relay_once",
    "retry_failed_job",
    "retry_stalled_jobs",
    "run_worker",
    "schedule_purge",
]


def _ruff_order(name: str) -> tuple[int, str]:
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_all_lists_the_interface_sorted() -> None:
    assert erp_worker.__all__ == EXPORTED
    assert erp_worker.__all__ == sorted(erp_worker.__all__, key=_ruff_order)


def test_importing_reads_no_environment_and_registers_no_metric() -> None:
    code = (
        "import prometheus_client, erp_worker, erp_worker.cli\n"
        "names = [m.name for m in prometheus_client.REGISTRY.collect()]\n"
        "assert not any(n.startswith(('jobs', 'outbox')) for n in names), names\n"
    )
    env = {"DATABASE_URL": "postgresql://u:p@192.0.2.1:notaport/db", "SMTP_PORT": "x"}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)


def test_libpq_conninfo_turns_the_asyncpg_url_back() -> None:
    url = erp_worker.libpq_conninfo("postgresql+asyncpg://u:p@db:5433/erp?ssl=require")
    assert url == "postgresql://u:p@db:5433/erp?sslmode=require"
