"""The worker's Prometheus series (docs/contract.md §14), in a registry of its own.

Built per process by :class:`WorkerMetrics` rather than at import, so tests
build as many as they like; ``erp-worker run`` serves the registry on
``METRICS_PORT`` with prometheus-client's own HTTP server. No label carries a
payload value: ``job`` is the job's name, ``outcome`` one of four words.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

OUTCOMES: Final = ("succeeded", "retried", "failed", "skipped")


class WorkerMetrics:
    """``jobs_total``, ``job_duration_seconds``, ``outbox_pending`` and ``jobs_failed``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.jobs_total = Counter(
            "jobs_total", "Job attempts by job and outcome.", ["job", "outcome"], registry=self.registry
        )
        self.job_duration_seconds = Histogram(
            "job_duration_seconds", "Time one job attempt took.", ["job"], registry=self.registry
        )
        self.outbox_pending = Gauge(
            "outbox_pending", "Outbox jobs neither completed nor failed.", registry=self.registry
        )
        self.jobs_failed = Gauge(
            "jobs_failed", "Jobs kept as failed after their last attempt.", registry=self.registry
        )

    def serve(self, port: int, host: str = "0.0.0.0") -> None:
        """Answer ``/metrics`` on ``port`` from a daemon thread (prometheus-client's server)."""
        start_http_server(port, addr=host, registry=self.registry)
