"""``erp-api serve`` as a real process, as it runs in its container: the one way tests and tools start it.

Used by the CLI tests, the resilience group, ``fuzz/`` and ``benchmarks/``.
The process gets exactly the environment given (plus ``PATH``, ``HOME`` and
``LANG``), listens on a free port of 127.0.0.1, and writes stdout and stderr
to two files of ``log_dir``: every stdout line is one JSON object
(docs/contract.md §7), which :meth:`ServiceProcess.log_records` parses.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from erp_core.testing import free_port

ERP_API = str(Path(sys.executable).parent / "erp-api")
INHERITED_VARIABLES = ("PATH", "HOME", "LANG")
HOST = "127.0.0.1"


class ServiceProcess:
    """One server process on a free port: ``erp-api serve`` unless ``command`` says otherwise.

    ``command`` is the argv before ``--host``/``--port`` (a uvicorn baseline
    in the benchmarks), ``wrap`` a prefix such as ``taskset -c 0``. As a
    context manager it starts, waits for ``/healthz/live`` and stops.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        log_dir: Path,
        *,
        name: str = "erp-api",
        workers: int = 1,
        command: Sequence[str] | None = None,
        wrap: Sequence[str] = (),
    ) -> None:
        inherited = {key: os.environ[key] for key in INHERITED_VARIABLES if key in os.environ}
        # A free port for the metrics listener too: the default 9464 would collide
        # between processes that run side by side (docs/contract.md §12).
        self.metrics_port = int(env["METRICS_PORT"]) if "METRICS_PORT" in env else free_port()
        self.env = {**inherited, "METRICS_PORT": str(self.metrics_port), **env}
        self.name = name
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self.log_path = log_dir / f"{name}.log"
        self.stderr_path = log_dir / f"{name}.stderr.log"
        self.cwd = log_dir  # an empty folder: no stray .env is read
        base = list(command) if command is not None else [ERP_API, "serve", "--workers", str(workers)]
        self.argv = [*wrap, *base, "--host", HOST, "--port", str(self.port)]
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def process(self) -> subprocess.Popen[bytes]:
        assert self._process is not None, "the process was never started"
        return self._process

    @property
    def pid(self) -> int:
        return self.process.pid

    def start(self) -> ServiceProcess:
        with self.log_path.open("ab") as stdout, self.stderr_path.open("ab") as stderr:
            self._process = subprocess.Popen(  # noqa: S603 -- our own command, no shell
                self.argv, env=self.env, stdout=stdout, stderr=stderr, cwd=self.cwd
            )
        return self

    def wait_for(
        self, path: str = "/healthz/live", status: int = 200, within_s: float = 30.0
    ) -> httpx.Response:
        """Poll ``path`` until it answers ``status``; fail after ``within_s`` or when the process exits."""
        deadline = time.monotonic() + within_s
        last: object = None
        with httpx.Client(base_url=self.base_url, timeout=5) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise AssertionError(
                        f"{self.name} exited ({self.process.returncode}):\n{self.log_tail()}"
                    )
                try:
                    response = client.get(path)
                    if response.status_code == status:
                        return response
                    last = response.text
                except httpx.TransportError as exc:
                    last = exc
                time.sleep(0.1)
        raise AssertionError(f"{path} never answered {status} within {within_s:g} s; last: {last!r}")

    async def wait_until(self, path: str, status: int = 200, within_s: float = 30.0) -> httpx.Response:
        """:meth:`wait_for` from async code, without blocking the event loop."""
        return await asyncio.to_thread(self.wait_for, path, status, within_s)

    def terminate(self) -> None:
        """SIGTERM, as an orchestrator stops a container; see :meth:`stop` to wait for the exit."""
        self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM and the exit status; killed (status -9) when it does not exit in time."""
        if self._process is None:
            return 0
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
        try:
            return self._process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self._process.kill()
            return self._process.wait()

    def __enter__(self) -> ServiceProcess:
        self.start()
        try:
            self.wait_for()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def log_records(self) -> list[dict[str, Any]]:
        """Every stdout line, parsed: a line that is not JSON fails loudly."""
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line.strip()]

    def stderr_text(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def log_tail(self, lines: int = 30) -> str:
        stdout = self.log_path.read_text(errors="replace").splitlines() if self.log_path.exists() else []
        return "\n".join([*stdout[-lines:], *self.stderr_text().splitlines()[-lines:]])
