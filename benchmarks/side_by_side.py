"""What the benches share: their options, the service and a bare baseline side by side, interleaved rounds.

A bench script (:mod:`identity`, :mod:`organizations`) reads the common
options with :func:`parse_options`, seeds a throwaway database, starts the
service and its bare baseline with :func:`service_and_baseline`, warms its
named runs up with :func:`warm_up`, measures them with :func:`run_rounds`
(interleaved, the order rotated each round, so a noisy machine slows every
contender alike), compares medians with :func:`check_targets`, and ends with
:func:`finish`: ``.bench/<name>-latest.json``, the table, the exit status.
:mod:`run` uses the options, the rounds and the medians too.

Exit status: 1 on a fault (a non-2xx answer, a socket error: whatever the
machine); a throughput ratio below its target (a target named ``ratio…``)
is printed as MISSED and fails only with ``--strict``, since on a shared
machine ratios move with the neighbours.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import statistics
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from load import LoadResult
from servers import Server

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
OUTPUT_DIR = ROOT / ".bench"
DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
APP_NAME = "erp-api-bench"
# Required in production (docs/contract.md §2); a fixed throwaway key for the benches.
JWT_SECRET_KEY = "bench-only-jwt-secret-key-of-at-least-32-bytes"  # noqa: S105
SERVICE_SETTINGS = "ENVIRONMENT=production LOG_LEVEL=INFO LOG_FORMAT=json, metrics off"

Run = Callable[[float], LoadResult]
"""One named measurement: given a duration in seconds, one wrk run's figures."""


def add_load_options(parser: argparse.ArgumentParser, *, warmup_s: float, connections: int) -> None:
    """The options every bench takes: rounds, durations, wrk's connections and timeout, ``--strict``."""
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default: %(default)s)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run (default: %(default)s)")
    parser.add_argument("--warmup", type=float, default=warmup_s, help="warm-up seconds per route")
    parser.add_argument(
        "--connections", type=int, default=connections, help="wrk connections (default: %(default)s)"
    )
    parser.add_argument("--timeout", type=float, default=2.0, help="wrk's per-request timeout, seconds")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a throughput ratio is missed too")


def parse_options(argv: Sequence[str] | None, description: str | None) -> argparse.Namespace:
    """The common options (3 s of warm-up, 32 connections); unknown ones are ignored.

    ``nox -s bench -- …`` hands every bench the same arguments, run.py's ``--breakdown`` too.
    """
    parser = argparse.ArgumentParser(description=description.splitlines()[0] if description else None)
    add_load_options(parser, warmup_s=3.0, connections=32)
    args, _ = parser.parse_known_args(argv)
    return args


def wrk_missing() -> bool:
    """True (after saying how to install it) when ``wrk`` is not on the path."""
    if shutil.which("wrk") is None:
        print("wrk is not installed: `apt-get install wrk` (Debian, Ubuntu) or `brew install wrk`")
        return True
    return False


def server_urls() -> tuple[str, str]:
    """The database server's admin URL and the Redis URL: ``TEST_DATABASE_URL``, ``TEST_REDIS_URL``."""
    return (
        os.environ.get("TEST_DATABASE_URL") or DEFAULT_DATABASE_URL,
        os.environ.get("TEST_REDIS_URL") or DEFAULT_REDIS_URL,
    )


def wrk_settings(args: argparse.Namespace) -> str:
    return f"-t1 -c{args.connections} -d{args.duration:g}s --timeout {args.timeout:g}s"


@dataclasses.dataclass
class Pair:
    """The running ``service`` and ``baseline``; ``exit_statuses`` is filled once they are stopped."""

    servers: dict[str, Server]
    exit_statuses: dict[str, int] = dataclasses.field(default_factory=dict)


@contextlib.contextmanager
def service_and_baseline(
    database_url: str,
    redis_url: str,
    log_dir: Path,
    *,
    baseline_module: str,
    service_env: Mapping[str, str] | None = None,
) -> Iterator[Pair]:
    """``erp-api serve`` in production settings and ``uvicorn <baseline_module>:app``, both ready.

    Both see the same database, Redis, app name and JWT key; the baseline
    runs uvicorn's settings without its access log. ``service_env`` adds to
    (or overrides) the service's environment. Both are stopped on leaving.
    """
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DATABASE_URL": database_url,
        "APP_CACHE_REDIS_URL": redis_url,
        "APP_NAME": APP_NAME,
        "JWT_SECRET_KEY": JWT_SECRET_KEY,
    }
    production = {
        **env,
        "ENVIRONMENT": "production",
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "json",
        "METRICS_PORT": "0",
        **(service_env or {}),
    }
    baseline_argv = [
        sys.executable, "-m", "uvicorn", f"{baseline_module}:app", "--app-dir", str(BENCH_DIR),
        "--workers", "1", "--no-server-header", "--no-access-log",
    ]  # fmt: skip
    pair = Pair(
        {
            "service": Server("service", production, log_dir),
            "baseline": Server("baseline", env, log_dir, command=baseline_argv),
        }
    )
    try:
        for server in pair.servers.values():
            server.start()
        pair.servers["service"].wait_for("/healthz/ready")
        pair.servers["baseline"].wait_for("/docs")
        yield pair
    finally:
        pair.exit_statuses.update({name: server.stop() for name, server in pair.servers.items()})


def warm_up(runs: Mapping[str, Run], seconds: float) -> dict[str, LoadResult]:
    """Each run once for ``seconds``, in order."""
    return {name: run(seconds) for name, run in runs.items()}


def run_rounds(runs: Mapping[str, Run], *, rounds: int, duration_s: float) -> dict[str, list[LoadResult]]:
    """``rounds`` rounds of every run, the order rotated by one each round; a progress line per round."""
    names = list(runs)
    results: dict[str, list[LoadResult]] = {name: [] for name in names}
    for number in range(rounds):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            results[name].append(runs[name](duration_s))
        print(
            f"round {number + 1}/{rounds}: "
            + ", ".join(f"{name} {done[-1].requests_per_s:,.0f}/s" for name, done in results.items()),
            flush=True,
        )
    return results


def figures(result: LoadResult) -> dict[str, float]:
    """A run's figures, the derived ones (req/s, CPU per request and share) included."""
    return {
        **dataclasses.asdict(result),
        "requests_per_s": result.requests_per_s,
        "cpu_us_per_request": result.cpu_us_per_request,
        "server_cpu_share": result.server_cpu_share,
    }


def medians(results: Sequence[LoadResult]) -> dict[str, float]:
    """Median figures over runs; errors are totals (one is one too many)."""
    every = [figures(result) for result in results]
    summary = {key: statistics.median(f[key] for f in every) for key in every[0]}
    summary["non_2xx"] = sum(f["non_2xx"] for f in every)
    summary["socket_errors"] = sum(f["socket_errors"] for f in every)
    return summary


def ratio(all_medians: Mapping[str, Mapping[str, float]], numerator: str, denominator: str) -> float:
    """Median req/s of run ``numerator`` over that of run ``denominator``."""
    return all_medians[numerator]["requests_per_s"] / all_medians[denominator]["requests_per_s"]


def check_targets(
    ratios: Mapping[str, float],
    targets: Mapping[str, float],
    every_run: Sequence[LoadResult],
    *,
    label: str,
) -> dict[str, bool]:
    """Each ratio against its minimum, named by ``label`` (``{name}``, ``{target}``), then the faults."""
    return {
        **{
            label.format(name=name, target=target): ratios[name] >= target for name, target in targets.items()
        },
        "zero non-2xx": all(result.non_2xx == 0 for result in every_run),
        "zero socket errors": all(result.socket_errors == 0 for result in every_run),
    }


def exit_status(targets: Mapping[str, bool], *, strict: bool) -> int:
    """1 on a fault, or on a missed ratio with ``strict``; else 0."""
    faults = [name for name, met in targets.items() if not met and not name.startswith("ratio")]
    missed = [name for name, met in targets.items() if not met]
    return 1 if faults or (strict and missed) else 0


def finish(
    name: str, report: dict[str, Any], print_report: Callable[[dict[str, Any]], None], *, strict: bool
) -> int:
    """Save ``report`` to ``.bench/<name>-latest.json`` (before printing), print it; the exit status."""
    OUTPUT_DIR.mkdir(exist_ok=True)
    (OUTPUT_DIR / f"{name}-latest.json").write_text(json.dumps(report, indent=2, sort_keys=True))
    print_report(report)
    return exit_status(report["targets"], strict=strict)


def print_medians(
    all_medians: Mapping[str, Mapping[str, float]],
    *,
    first_column: str,
    width: int,
    rps_decimals: int,
    cpu_column: bool,
) -> None:
    """One line per run: req/s, p50, p99, non-2xx, socket errors, and CPU µs per request if asked."""
    header = f"{first_column:<{width}}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}{'sock err':>9}"
    print(header + (f"{'CPU µs/req':>12}" if cpu_column else ""))
    for name, m in all_medians.items():
        print(
            f"{name:<{width}}{m['requests_per_s']:>9,.{rps_decimals}f}{m['p50_ms']:>9.2f}{m['p99_ms']:>9.2f}"
            f"{m['non_2xx']:>9.0f}{m['socket_errors']:>9.0f}"
            + (f"{m['cpu_us_per_request']:>12.0f}" if cpu_column else "")
        )


def print_targets(targets: Mapping[str, bool]) -> None:
    for target, met in targets.items():
        print(f"  {'met   ' if met else 'MISSED'} {target}")
