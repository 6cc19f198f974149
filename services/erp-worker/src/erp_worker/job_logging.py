"""``job_id`` on every log line written while a job runs (docs/contract.md §14).

The request id of the request that asked for the job is bound with
erp-core's own :class:`~erp_core.bind_request_id`, so the lines of a job and
of its request share one ``request_id``; the job's id rides beside it in a
context variable of its own, added to each record by :class:`JobIdFilter`.
"""

from __future__ import annotations

import contextvars
import logging
from types import TracebackType

_job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("erp_worker_job_id", default=None)


class bind_job_id:  # lower case: used like a function, as erp_core.bind_request_id
    """Within the block, log records carry ``job_id``."""

    __slots__ = ("_job_id", "_token")

    def __init__(self, job_id: str) -> None:
        self._job_id = job_id
        self._token: contextvars.Token[str | None] | None = None

    def __enter__(self) -> str:
        self._token = _job_id.set(self._job_id)
        return self._job_id

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._token is not None:
            _job_id.reset(self._token)


class JobIdFilter(logging.Filter):
    """Adds ``job_id`` to records written inside :class:`bind_job_id` (and leaves others alone)."""

    def filter(self, record: logging.LogRecord) -> bool:
        job_id = _job_id.get()
        if job_id is not None and not hasattr(record, "job_id"):
            record.job_id = job_id
        return True


def install_job_id_filter() -> None:
    """Attach :class:`JobIdFilter` to the root logger's handlers, after ``erp_core.configure_logging``."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(existing, JobIdFilter) for existing in handler.filters):
            handler.addFilter(JobIdFilter())
