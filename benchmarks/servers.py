"""The servers a benchmark drives, pinned to a CPU, with their CPU time and memory read from ``/proc``.

Every server is an :class:`erp_api_testing.ServiceProcess` (one uvicorn
process: one worker serves in the process it was started as), its output
going to files, pinned to a CPU with ``taskset`` when the machine has one to
spare for ``wrk``. Its CPU time and resident memory are read from ``/proc``,
so they are the server's alone, whatever else runs on the machine.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from erp_api_testing import ServiceProcess

CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
SERVER_CPU, LOAD_CPU = 0, 1


def pinned(argv: Sequence[str], cpu: int) -> list[str]:
    """``argv`` under ``taskset -c cpu`` when taskset exists and there is more than one CPU.

    taskset execs the command, so the process id stays the command's own.
    """
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", str(cpu), *argv]
    return list(argv)


def process_cpu_s(pid: int) -> float:
    """User plus system CPU time process ``pid`` has used so far, from ``/proc``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, utime 14 and stime 15 (1-based, proc(5)).
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_S


class Server(ServiceProcess):
    """A server on ``SERVER_CPU``: ``erp-api serve``, or ``command`` (a uvicorn baseline)."""

    def __init__(
        self, name: str, env: Mapping[str, str], log_dir: Path, command: Sequence[str] | None = None
    ) -> None:
        super().__init__(env, log_dir, name=name, command=command, wrap=pinned([], SERVER_CPU))

    def cpu_s(self) -> float:
        """User plus system CPU time the process has used so far."""
        return process_cpu_s(self.pid)

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError(f"no VmRSS for {self.name}")
