"""``erp-api serve`` as a real process, as it runs in a container, for the resilience tests."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from erp_core.testing import free_port

ERP_API = str(Path(sys.executable).parent / "erp-api")


class ServiceProcess:
    """One ``erp-api serve`` process on a free port of 127.0.0.1, its stdout in ``log_path``."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        keep = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
        self.env = {**keep, **env}
        self.log_path = log_path
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [ERP_API, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.log_path.parent,
            )  # fmt: skip

    async def wait_until(self, path: str, status: int, within_s: float) -> httpx.Response:
        """Poll ``path`` until it answers ``status``; fail after ``within_s`` or if the process exits."""
        deadline = time.monotonic() + within_s
        last: object = None
        async with httpx.AsyncClient(base_url=self.base_url, timeout=5) as client:
            while time.monotonic() < deadline:
                assert self.process is not None
                assert self.process.poll() is None, (
                    f"erp-api serve exited ({self.process.returncode}):\n{self.log_tail()}"
                )
                try:
                    response = await client.get(path)
                    if response.status_code == status:
                        return response
                    last = response.text
                except httpx.TransportError as exc:
                    last = exc
                await asyncio.sleep(0.1)
        raise AssertionError(f"{path} never answered {status} within {within_s:g} s; last: {last!r}")

    def terminate(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM and the exit status; killed (and -9) when it does not exit in time."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def log_records(self) -> list[dict[str, Any]]:
        """Every stdout line, parsed (each one is a JSON object, docs/contract.md §7)."""
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line.strip()]

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
