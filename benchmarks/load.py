"""One ``wrk`` run against one URL, with the server's CPU time measured around it.

wrk runs one thread (its own CPU when ``taskset`` exists) over persistent
connections; :file:`report.lua` counts every answer outside 2xx (wrk's own
``status`` error counts only >= 400) and prints the figures as JSON.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from collections.abc import Sequence
from pathlib import Path

from servers import LOAD_CPU, Server, pinned

REPORT_SCRIPT = Path(__file__).with_name("report.lua")


@dataclasses.dataclass(frozen=True)
class LoadResult:
    requests: int
    duration_s: float
    non_2xx: int
    socket_errors: int  # connect, read, write errors and timeouts
    p50_ms: float
    p99_ms: float
    server_cpu_s: float

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.duration_s

    @property
    def cpu_us_per_request(self) -> float:
        return self.server_cpu_s / self.requests * 1e6 if self.requests else float("inf")

    @property
    def server_cpu_share(self) -> float:
        """Fraction of one CPU the server used during the run (near 1.0: the server is the bottleneck)."""
        return self.server_cpu_s / self.duration_s


def run_wrk(
    server: Server,
    path: str,
    *,
    connections: int,
    duration_s: float,
    timeout_s: float,
    headers: Sequence[str] = (),
    script: Path = REPORT_SCRIPT,
    script_args: Sequence[str] = (),
    cpu: int = LOAD_CPU,
) -> LoadResult:
    """``headers`` are ``"Name: value"`` lines; a ``script`` other than report.lua must include it.

    wrk is pinned to ``cpu``: the CPU beside the server's unless told otherwise.
    """
    argv = [
        "wrk", "-t1", f"-c{connections}", f"-d{duration_s:g}s", f"--timeout={timeout_s:g}s",
        *(argument for header in headers for argument in ("-H", header)),
        "-s", str(script), f"http://127.0.0.1:{server.port}{path}",
        *(("--", *script_args) if script_args else ()),
    ]  # fmt: skip
    cpu_before = server.cpu_s()
    finished = subprocess.run(pinned(argv, cpu), capture_output=True, text=True, check=True)
    cpu_used = server.cpu_s() - cpu_before
    figures = json.loads(finished.stdout.strip().splitlines()[-1])
    errors = figures["errors"]
    return LoadResult(
        requests=figures["requests"],
        duration_s=figures["duration_us"] / 1e6,
        non_2xx=figures["non2xx"],
        socket_errors=errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        p50_ms=figures["latency_us"]["p50"] / 1000,
        p99_ms=figures["latency_us"]["p99"] / 1000,
        server_cpu_s=cpu_used,
    )
