"""erp-worker: background jobs of the ERP on procrastinate, fed by the transactional outbox (§14).

Importing this package reads no environment, opens no connection and
registers no metric; ``erp-worker run`` (:func:`run_worker`) builds
everything from :class:`WorkerSettings`.
"""

from erp_worker.errors import JobFailed, QueueUnavailable, WorkerError
from erp_worker.failed_jobs import FailedJob, list_failed_jobs, retry_failed_job
from erp_worker.health import HealthServer
from erp_worker.invitation_mail import InvitationMailer
from erp_worker.jobs import INVITATION_MAIL_JOB, PURGE_JOB, JobSettings, register_jobs, schedule_purge
from erp_worker.metrics import WorkerMetrics
from erp_worker.outbox_relay import relay_once, retry_stalled_jobs
from erp_worker.outbox_rows import OutboxRows
from erp_worker.purge import PurgeCounts, purge_expired
from erp_worker.queue_app import create_queue_app, ensure_queue_schema, libpq_conninfo
from erp_worker.runner import Timing, run_worker
from erp_worker.settings import WorkerSettings

__all__ = [
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
