"""The worker's errors. The tree::

    WorkerError
    ├── JobFailed        a job's attempt failed; its message is safe to store and log
    └── QueueUnavailable the queue engine's schema or database cannot be used

A job never lets a library's exception out as is: the message of an SMTP or
database error may quote what was sent, so the job raises :class:`JobFailed`
with words of its own (``from None``), and that is what the engine logs and
the outbox keeps as ``last_error``.
"""

from __future__ import annotations


class WorkerError(Exception):
    """Root of every error raised by erp_worker."""


class JobFailed(WorkerError):
    """One attempt of a job failed; retried with backoff until ``JOB_MAX_ATTEMPTS``."""


class QueueUnavailable(WorkerError):
    """The queue engine cannot be reached or set up."""
