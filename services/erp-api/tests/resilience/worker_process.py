"""``erp-worker run`` as a real process, as in its container, for the drill's worker restart.

The process gets exactly the environment given (plus ``PATH``, ``HOME``,
``LANG``), probes on a free ``WORKER_HEALTH_PORT`` and no metrics listener,
and writes its JSON log lines to a file: a pipe nobody reads would stop the
worker once a few hundred jobs have filled it. The command comes from this
interpreter's environment (the drill session installs the erp-worker group);
nothing of erp-worker is imported, as the API's tests import no service but
their own.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from erp_core.testing import free_port

ERP_WORKER = str(Path(sys.executable).parent / "erp-worker")
INHERITED_VARIABLES = ("PATH", "HOME", "LANG")


class WorkerProcess:
    """One ``erp-worker run``: started at construction, ready on ``/healthz/ready``, stopped with SIGTERM."""

    def __init__(self, env: Mapping[str, str], log_dir: Path, *, name: str = "erp-worker") -> None:
        inherited = {key: os.environ[key] for key in INHERITED_VARIABLES if key in os.environ}
        self.health_port = free_port()
        self.env = {**inherited, "METRICS_PORT": "0", "WORKER_HEALTH_PORT": str(self.health_port), **env}
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        with self.log_path.open("ab") as output:
            self.process = subprocess.Popen(
                [ERP_WORKER, "run"], env=self.env, stdout=output, stderr=subprocess.STDOUT, cwd=log_dir
            )

    async def wait_until_ready(self, within_s: float = 60.0) -> None:
        """Until ``/healthz/ready`` answers 200: database, migrations and queue checked, jobs taken."""
        url = f"http://127.0.0.1:{self.health_port}/healthz/ready"
        deadline = time.monotonic() + within_s
        async with httpx.AsyncClient(timeout=5) as client:
            while True:
                assert self.process.poll() is None, f"{self.name} exited:\n{self.log_tail()}"
                try:
                    if (await client.get(url)).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, f"{self.name} not ready in {within_s:g} s"
                await asyncio.sleep(0.1)

    def stop(self, timeout_s: float) -> tuple[int, float]:
        """SIGTERM; the exit status and the seconds it took. Killed (status -9) when not out in time."""
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            status = self.process.wait()
        return status, time.monotonic() - started

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
