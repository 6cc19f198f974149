"""The ``/metrics`` listener that ``erp-api serve`` starts on ``METRICS_PORT`` (docs/contract.md §12).

A listener of its own, never the service's port: the service's port is
public through the load balancer, the metrics port only to the scraper.

With one worker, uvicorn serves in the process that ``erp-api serve`` runs
as: the listener (prometheus-client's threaded HTTP server) exposes that
process's default registry. With ``--workers N`` (or ``--reload``) the
workers are separate processes that a supervisor starts; a listener in each
would need a port each and show a scraper one worker at a time. Instead
``erp-api serve`` gives every start a fresh directory for
prometheus-client's multiprocess mode *before the workers start* (the
variable must be set before a worker imports ``prometheus_client``; uvicorn
spawns its workers, so they inherit it), and the supervisor serves the sum of
all the workers' files through a ``MultiProcessCollector``.

Live gauges (``livesum``, ``livemostrecent``) must stop counting a worker that
is gone: a worker removes its own files at shutdown
(:class:`erp_api.metrics.WorkerMetrics`), and before each scrape the
collector here removes those of any worker process that no longer exists
(killed, crashed, replaced by uvicorn's supervisor). Counters and histograms
of dead workers stay: their totals still happened.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from erp_api.metrics import MULTIPROCESS_DIR_VARIABLE

_LIVE_GAUGE_FILE = re.compile(r"gauge_live[a-z]+_(\d+)\.db")


def prepare_multiprocess_dir() -> Path:
    """A new, empty directory for this start's per-worker files, announced to the workers to come.

    Under the temporary directory (``/tmp``): on Kubernetes the root file system
    is read-only and ``/tmp`` the writable volume.
    """
    path = Path(tempfile.mkdtemp(prefix="erp-api-metrics-"))
    os.environ[MULTIPROCESS_DIR_VARIABLE] = str(path)
    return path


class LiveWorkersCollector(Collector):
    """Every worker's series, added up, after forgetting the live gauges of workers that are gone."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._collector = MultiProcessCollector(None, path=str(path))  # type: ignore[no-untyped-call]

    def collect(self) -> Iterable[Metric]:
        for pid in self._pids_with_live_gauges():
            if not _process_exists(pid):
                mark_process_dead(pid, str(self._path))  # type: ignore[no-untyped-call]
        metrics: Iterable[Metric] = self._collector.collect()  # type: ignore[no-untyped-call]
        return metrics

    def _pids_with_live_gauges(self) -> set[int]:
        matches = (_LIVE_GAUGE_FILE.fullmatch(path.name) for path in self._path.glob("gauge_live*.db"))
        return {int(match.group(1)) for match in matches if match}


def start_metrics_listener(host: str, port: int, *, multiprocess_dir: Path | None) -> WSGIServer:
    """Serve the metrics on ``host:port`` from a daemon thread of this process.

    Raises ``OSError`` when the port cannot be bound.
    """
    if multiprocess_dir is None:
        registry: CollectorRegistry = REGISTRY
    else:
        registry = CollectorRegistry()
        registry.register(LiveWorkersCollector(multiprocess_dir))
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # somebody else's process: it exists
        return True
    return True
