"""What the benches share: their options, the service and a bare baseline side by side, interleaved rounds.

A bench script (:mod:`identity`, :mod:`organizations`) declares a
:class:`SideBySide`: its name, its baseline module, how it seeds the
throwaway database, how it measures, how its table looks. :func:`main`
then parses the common options (:func:`parse_options`, unknown ones
ignored), seeds, starts ``erp-api serve`` in production settings and
``uvicorn <baseline>:app`` (:func:`service_and_baseline`), measures, and
ends with :func:`finish`: ``.bench/<name>-latest.json``, the table, the exit
status. A measure names its runs and hands them to :func:`measure`: a
warm-up each, then interleaved rounds, the order rotated each round, so a
noisy machine slows every contender alike; :func:`ratio` compares medians
and :func:`build_report` checks them against their targets. :mod:`run` uses
the options, the warm-up, the rounds and the medians too.

Exit status: 1 on a fault (a non-2xx answer, a socket error: whatever the
machine); a throughput ratio below its target (a target named ``ratio…``)
is printed as MISSED and fails only with ``--strict``, since on a shared
machine ratios move with the neighbours.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import json
import os
import shutil
import statistics
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

from erp_api.features.identity.tokens import issue_access_token
from erp_db.testing import temporary_database
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
PRODUCTION_SETTINGS = {
    "ENVIRONMENT": "production",
    "LOG_LEVEL": "INFO",
    "LOG_FORMAT": "json",
    "METRICS_PORT": "0",
}

Run = Callable[[float], LoadResult]
"""One named measurement: given a duration in seconds, one wrk run's figures."""
Seeded = TypeVar("Seeded")


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


def server_env(database_url: str, redis_url: str) -> dict[str, str]:
    """What every server of the benches sees: the database, Redis, the app name, the JWT key."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "DATABASE_URL": database_url,
        "APP_CACHE_REDIS_URL": redis_url,
        "APP_NAME": APP_NAME,
        "JWT_SECRET_KEY": JWT_SECRET_KEY,
    }


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
    env = server_env(database_url, redis_url)
    production = {**env, **PRODUCTION_SETTINGS, **(service_env or {})}
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


def bearer_token(user_id: uuid.UUID) -> str:
    """An access token for ``user_id`` that both servers accept, valid for an hour."""
    return issue_access_token(user_id, key=JWT_SECRET_KEY.encode(), issuer=APP_NAME, ttl_s=3600)


@dataclasses.dataclass(frozen=True)
class SideBySide(Generic[Seeded]):
    """A bench of the service against ``uvicorn <baseline_module>:app``, run by :func:`main`.

    ``seed`` fills the throwaway database (given its URL) before the servers
    start; ``measure`` gets the options, the running servers, what ``seed``
    returned and a scratch folder, and returns the report (:func:`build_report`);
    ``heading`` is the line over the printed table.
    """

    name: str
    baseline_module: str
    seed: Callable[[str], Awaitable[Seeded]]
    measure: Callable[[argparse.Namespace, dict[str, Server], Seeded, Path], dict[str, Any]]
    heading: Callable[[dict[str, Any]], str]
    table: Table
    service_env: Mapping[str, str] = dataclasses.field(default_factory=dict)


def main(bench: SideBySide[Seeded], argv: Sequence[str] | None, description: str | None) -> int:
    """Parse the options, seed a throwaway database, serve, measure, save and print; the exit status."""
    args = parse_options(argv, description)
    if wrk_missing():
        return 2
    with tempfile.TemporaryDirectory(prefix=f"erp-bench-{bench.name}-") as scratch:
        report = asyncio.run(_serve_and_measure(bench, args, Path(scratch)))
    return finish(bench.name, report, bench.heading(report), bench.table, strict=args.strict)


async def _serve_and_measure(
    bench: SideBySide[Seeded], args: argparse.Namespace, scratch: Path
) -> dict[str, Any]:
    admin_url, redis_url = server_urls()
    async with temporary_database(admin_url) as database_url:
        seeded = await bench.seed(database_url)
        with service_and_baseline(
            database_url,
            redis_url,
            scratch,
            baseline_module=bench.baseline_module,
            service_env=bench.service_env,
        ) as pair:
            report = bench.measure(args, pair.servers, seeded, scratch)
    report["exit_statuses"] = pair.exit_statuses
    return report


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


@dataclasses.dataclass(frozen=True)
class Measured:
    """The warm-up runs and every round's runs, by name."""

    warmup: dict[str, LoadResult]
    rounds: dict[str, list[LoadResult]]

    def medians(self) -> dict[str, dict[str, float]]:
        return {name: medians(results) for name, results in self.rounds.items()}

    def every_run(self) -> list[LoadResult]:
        return [result for results in self.rounds.values() for result in results] + list(self.warmup.values())


def measure(runs: Mapping[str, Run], args: argparse.Namespace, *, unwarmed: Collection[str] = ()) -> Measured:
    """Warm each run up (those in ``unwarmed`` aside), then ``args.rounds`` interleaved rounds of all."""
    warmup = warm_up({name: run for name, run in runs.items() if name not in unwarmed}, args.warmup)
    return Measured(warmup, run_rounds(runs, rounds=args.rounds, duration_s=args.duration))


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


def build_report(
    args: argparse.Namespace,
    all_medians: dict[str, dict[str, float]],
    ratios: dict[str, float],
    every_run: Sequence[LoadResult],
    targets: Mapping[str, float],
    label: str,
    baseline_module: str,
    settings: Mapping[str, object] | None = None,
) -> dict[str, Any]:
    """What a side-by-side bench saves: medians, ratios, targets (:func:`check_targets`), settings.

    ``settings`` adds to the common ones (wrk's, the rounds, the warm-up, both servers'); a date too.
    """
    return {
        "medians": all_medians,
        "ratios": ratios,
        "targets": check_targets(ratios, targets, every_run, label=label),
        "settings": {
            "wrk": wrk_settings(args),
            "rounds": args.rounds,
            "warmup_s": args.warmup,
            "service": SERVICE_SETTINGS,
            "baseline": f"{baseline_module}, uvicorn --no-access-log",
            **(settings or {}),
        },
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def exit_status(targets: Mapping[str, bool], *, strict: bool) -> int:
    """1 on a fault, or on a missed ratio with ``strict``; else 0."""
    faults = [name for name, met in targets.items() if not met and not name.startswith("ratio")]
    missed = [name for name, met in targets.items() if not met]
    return 1 if faults or (strict and missed) else 0


@dataclasses.dataclass(frozen=True)
class Table:
    """How a bench prints its medians: the first column's title and width, req/s decimals, a CPU column."""

    first_column: str
    width: int
    rps_decimals: int
    cpu_column: bool
    ratios_label: str  # what the line of ratios starts with


def finish(name: str, report: dict[str, Any], heading: str, table: Table, *, strict: bool) -> int:
    """Save ``report`` to ``.bench/<name>-latest.json``, print it (:func:`print_report`); the exit status."""
    OUTPUT_DIR.mkdir(exist_ok=True)
    (OUTPUT_DIR / f"{name}-latest.json").write_text(json.dumps(report, indent=2, sort_keys=True))
    print_report(report, heading, table)
    return exit_status(report["targets"], strict=strict)


def print_report(report: Mapping[str, Any], heading: str, table: Table) -> None:
    """``heading``, the medians (:func:`print_medians`), the ratios, each target met or MISSED."""
    print(f"\n{heading}")
    print_medians(
        report["medians"],
        first_column=table.first_column,
        width=table.width,
        rps_decimals=table.rps_decimals,
        cpu_column=table.cpu_column,
    )
    print(f"{table.ratios_label}: " + ", ".join(f"{k} {v:.2f}" for k, v in report["ratios"].items()))
    print_targets(report["targets"])


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
