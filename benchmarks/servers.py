"""The processes a benchmark drives: a throwaway database, uvicorn servers, their CPU and memory.

Every server runs as one uvicorn process (one worker: uvicorn serves in the
process it was started as), its stdout and stderr going to a file, pinned to
a CPU with ``taskset`` when the machine has one to spare for ``wrk``. Its CPU
time and resident memory are read from ``/proc``, so they are the server's
alone, whatever else runs on the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from sqlalchemy import URL, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from erp_db import to_asyncpg_url, upgrade

CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
SERVER_CPU, LOAD_CPU = 0, 1


def pinned(argv: Sequence[str], cpu: int) -> list[str]:
    """``argv`` under ``taskset -c cpu`` when taskset exists and there is more than one CPU.

    taskset execs the command, so the process id stays the command's own.
    """
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", str(cpu), *argv]
    return list(argv)


@contextlib.contextmanager
def throwaway_database(admin_url: str) -> Iterator[str]:
    """A new database migrated to head by erp-db's migrations; dropped (connections and all) at the end.

    Written out here rather than taken from ``erp_db.testing``, which needs
    pytest: the bench session installs only the service.
    """
    admin = to_asyncpg_url(admin_url)
    name = f"erp_bench_{uuid.uuid4().hex[:12]}"
    asyncio.run(_as_admin(admin, f'CREATE DATABASE "{name}"'))
    try:
        url = admin.set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        yield url
    finally:
        asyncio.run(_as_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _as_admin(admin_url: URL, statement: str) -> None:
    # CREATE/DROP DATABASE cannot run inside a transaction: autocommit.
    engine = create_async_engine(admin_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


class Server:
    """One uvicorn server process, started on ``port`` with its output in ``log_path``."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str], port: int, log_path: Path):
        self.name, self.argv, self.env, self.port, self.log_path = name, list(argv), dict(env), port, log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                pinned(self.argv, SERVER_CPU), env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

    def wait_until_answering(self, path: str, deadline_s: float = 30.0) -> None:
        """Poll ``path`` until it answers 200; fail with the log's tail if the server dies or never does."""
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} never answered 200 on {path}:\n{self.log_tail()}")

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM, and the exit status (``None`` if it had to be killed)."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None

    def cpu_s(self) -> float:
        """User plus system CPU time the process has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        # After the command name: state is field 3, utime 14 and stime 15 (1-based, proc(5)).
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_S

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError(f"no VmRSS for {self.name}")

    def log_tail(self, lines: int = 20) -> str:
        text_lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text_lines[-lines:])
