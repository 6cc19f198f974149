"""``nox -s bench``: the service's cost per request against bare FastAPI baselines.

Starts five servers under the same uvicorn settings (one worker, output to a
file, pinned to CPU 0): ``erp-api serve`` in production settings with every
middleware, metrics on and the probes left out of its JSON access log
(``ACCESS_LOG_HEALTH_PROBES=false``), the same with tracing on at 1 %
sampling, :mod:`bare_live` with uvicorn's default access log and without
any (``--no-access-log``: the baseline of the live targets), and
:mod:`bare_ready` with uvicorn's default access log. The database is a throwaway one on the
server of ``TEST_DATABASE_URL``, migrated to head and dropped at the end;
Redis is ``TEST_REDIS_URL`` (only ``PING`` is sent).

wrk (pinned to CPU 1) warms each route up, then runs several short rounds,
the routes interleaved and their order rotated each round, so that a noisy
machine slows every contender alike. The table shows medians over the
rounds; the figures go to ``.bench/`` as JSON.

Exit status 1 when an answer was not 2xx, a socket failed or the service's
memory grew beyond the target: those are faults, whatever the machine. A
throughput ratio below its target is printed as MISSED but fails the run only
with ``--strict``: on a shared machine a ratio moves with the neighbours, and
the README records the shortfall that is known and why.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import json
import os
import platform
import sys
import tempfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from erp_core.testing import free_port
from erp_db.testing import temporary_database
from load import LoadResult, run_wrk
from servers import LOAD_CPU, SERVER_CPU, Server, pinned
from side_by_side import (
    APP_NAME,
    BENCH_DIR,
    JWT_SECRET_KEY,
    OUTPUT_DIR,
    Run,
    add_load_options,
    exit_status,
    figures,
    run_rounds,
    server_urls,
    warm_up,
    wrk_missing,
    wrk_settings,
)
from side_by_side import medians as median_figures

LIVE_RATIO_TARGET = 0.85  # service /healthz/live vs the bare route that writes no access line
LIVE_P99_TARGET = 1.5  # service /healthz/live p99 at most this times the bare no-log route's
READY_RATIO_TARGET = 1.0  # service /healthz/ready vs the baseline readiness route
RSS_GROWTH_TARGET = 0.10  # worker memory after the rounds vs after warm-up

# Which server answers each measured route.
ROUTE_SERVERS = {
    "bare live": "bare",
    "bare live, no log": "bare-quiet",
    "service live": "service",
    "service live, traced": "service-traced",
    "baseline ready": "baseline",
    "service ready": "service",
}
# With --breakdown: the service's live route with its access line (probes logged), to show what it costs.
BREAKDOWN_ROUTE_SERVERS = {"service live, logged": "service-logged"}


@dataclasses.dataclass(frozen=True)
class Route:
    name: str
    server: Server
    path: str


def _servers(log_dir: Path, database_url: str, redis_url: str, *, breakdown: bool) -> dict[str, Server]:
    python = sys.executable
    bare_env = {
        "PATH": os.environ.get("PATH", ""),
        "DATABASE_URL": database_url,
        "APP_CACHE_REDIS_URL": redis_url,
    }
    service_env = {
        **bare_env,
        "APP_NAME": APP_NAME,
        "ENVIRONMENT": "production",
        "JWT_SECRET_KEY": JWT_SECRET_KEY,
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "json",
        # The probes write no access line (docs/contract.md §7 allows it by
        # configuration); every other route does. Metrics are on (METRICS_PORT).
        "ACCESS_LOG_HEALTH_PROBES": "false",
    }
    # Tracing on, sampling 1 % of traces, to a collector that is not there:
    # the probes are not traced, so this is what the instrumentation costs them.
    traced_env = {
        **service_env,
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}",
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.01",
    }
    # The settings `erp-api serve` passes to uvicorn, minus its logging (the
    # baselines keep uvicorn's default access log) and its Server-header choice.
    uvicorn_flags = ["--workers", "1", "--no-server-header"]
    bare: list[tuple[str, str, list[str]]] = [
        ("bare", "bare_live", []),
        ("bare-quiet", "bare_live", ["--no-access-log"]),
        ("baseline", "bare_ready", []),
    ]
    services = [("service", service_env), ("service-traced", traced_env)]
    if breakdown:
        services.append(("service-logged", {**service_env, "ACCESS_LOG_HEALTH_PROBES": "true"}))
    servers = {}
    for name, module, extra in bare:
        argv = [python, "-m", "uvicorn", f"{module}:app", "--app-dir", str(BENCH_DIR), *uvicorn_flags, *extra]
        servers[name] = Server(name, bare_env, log_dir, command=argv)
    for name, env in services:
        servers[name] = Server(name, env, log_dir)
    return servers


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    add_load_options(parser, warmup_s=4.0, connections=64)
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also measure the service's live route with its access line (one more server, longer run)",
    )
    # The bench session hands every script the same arguments (`-- --peer URL`): ignore the others'.
    args, _ = parser.parse_known_args(argv)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    if wrk_missing():
        return 2
    database_admin_url, redis_url = server_urls()
    settings = {
        "uvicorn": metadata.version("uvicorn"),
        "loop": "uvloop" if _importable("uvloop") else "asyncio",
        "http": "httptools" if _importable("httptools") else "h11",
        "workers": 1,
        "wrk": wrk_settings(args),
        "rounds": args.rounds,
        "warmup_s": args.warmup,
        "pinning": " ".join(pinned(["server"], SERVER_CPU)) + " / " + " ".join(pinned(["wrk"], LOAD_CPU)),
        "service": "ENVIRONMENT=production LOG_LEVEL=INFO LOG_FORMAT=json, metrics on, "
        "ACCESS_LOG_HEALTH_PROBES=false (access log on for other routes), stdout to file",
        "baselines": "uvicorn default logging, access log on (bare live, no log: --no-access-log), "
        "stdout to file",
    }
    print("settings: " + ", ".join(f"{key}={value}" for key, value in settings.items()), flush=True)
    print(
        f"{args.rounds} rounds of {args.duration:g} s per route after {args.warmup:g} s of warm-up",
        flush=True,
    )

    with tempfile.TemporaryDirectory(prefix="erp-bench-") as logs:
        report, exit_statuses = asyncio.run(
            _serve_and_measure(args, Path(logs), database_admin_url, redis_url)
        )
        log_bytes = {name: (Path(logs) / f"{name}.log").stat().st_size for name in exit_statuses}
    report["service_exit_status"] = exit_statuses["service"]
    report["log_bytes"] = log_bytes
    report["settings"] = settings
    report["machine"] = _machine()
    _print_table(report)
    _write(report)
    return exit_status(report["targets"], strict=args.strict)


async def _serve_and_measure(
    args: argparse.Namespace, logs: Path, database_admin_url: str, redis_url: str
) -> tuple[dict[str, Any], dict[str, int]]:
    """Start the servers on a throwaway migrated database, measure them, stop them.

    Async only for the database's lifetime; the measuring blocks, which a
    script with nothing else on its event loop can afford.
    """
    async with temporary_database(database_admin_url) as database_url:
        servers = _servers(logs, database_url, redis_url, breakdown=args.breakdown)
        try:
            for server in servers.values():
                server.start()
            for server in servers.values():
                server.wait_for("/healthz/live" if server.name.startswith("bare") else "/healthz/ready")
            report = _measure(args, servers)
        finally:
            exit_statuses = {name: server.stop() for name, server in servers.items()}
    return report, exit_statuses


def _measure(args: argparse.Namespace, servers: dict[str, Server]) -> dict[str, Any]:
    route_servers = {**ROUTE_SERVERS, **(BREAKDOWN_ROUTE_SERVERS if args.breakdown else {})}
    routes = [
        Route(name, servers[server], "/healthz/ready" if "ready" in name else "/healthz/live")
        for name, server in route_servers.items()
    ]

    def load(route: Route) -> Run:
        def run(duration_s: float) -> LoadResult:
            return run_wrk(
                route.server,
                route.path,
                connections=args.connections,
                duration_s=duration_s,
                timeout_s=args.timeout,
            )

        return run

    runs = {route.name: load(route) for route in routes}
    warmup = warm_up(runs, args.warmup)
    rss_warm = {name: server.rss_kib() for name, server in servers.items()}
    rounds = run_rounds(runs, rounds=args.rounds, duration_s=args.duration)
    rss_end = {name: server.rss_kib() for name, server in servers.items()}

    medians = {name: median_figures(results) for name, results in rounds.items()}
    live_ratio = medians["service live"]["requests_per_s"] / medians["bare live, no log"]["requests_per_s"]
    live_logged_ratio = medians["service live"]["requests_per_s"] / medians["bare live"]["requests_per_s"]
    live_p99_ratio = medians["service live"]["p99_ms"] / medians["bare live, no log"]["p99_ms"]
    traced = medians["service live, traced"]
    tracing_ratio = traced["requests_per_s"] / medians["service live"]["requests_per_s"]
    ready_ratio = medians["service ready"]["requests_per_s"] / medians["baseline ready"]["requests_per_s"]
    cpu = {name: m["cpu_us_per_request"] for name, m in medians.items()}
    rss_growth = {name: rss_end[name] / rss_warm[name] - 1 for name in servers}
    every_run = [result for results in rounds.values() for result in results] + list(warmup.values())
    targets = {
        f"ratio: service live >= {LIVE_RATIO_TARGET:.2f} x bare live, no log": live_ratio
        >= LIVE_RATIO_TARGET,
        f"ratio: service live p99 <= {LIVE_P99_TARGET:.1f} x bare live, no log": live_p99_ratio
        <= LIVE_P99_TARGET,
        f"ratio: service ready >= {READY_RATIO_TARGET:.2f} x baseline ready": ready_ratio
        >= READY_RATIO_TARGET,
        "zero non-2xx": all(result.non_2xx == 0 for result in every_run),
        "zero socket errors": all(result.socket_errors == 0 for result in every_run),
        f"service RSS growth <= {RSS_GROWTH_TARGET:.0%}": rss_growth["service"] <= RSS_GROWTH_TARGET,
    }
    return {
        "medians": medians,
        "route_servers": route_servers,
        "ratios": {
            "live": live_ratio,
            "live_vs_logged_bare": live_logged_ratio,
            "live_p99": live_p99_ratio,
            "tracing": tracing_ratio,
            "ready": ready_ratio,
            "live_cpu": cpu["service live"] / cpu["bare live, no log"],
            "tracing_cpu": cpu["service live, traced"] / cpu["service live"],
            "ready_cpu": cpu["service ready"] / cpu["baseline ready"],
        },
        "rss_kib": {"after_warmup": rss_warm, "after_rounds": rss_end, "growth": rss_growth},
        "targets": targets,
        "rounds": {name: [figures(result) for result in results] for name, results in rounds.items()},
        "warmup": {name: figures(result) for name, result in warmup.items()},
    }


def _print_table(report: dict[str, Any]) -> None:
    medians: dict[str, dict[str, float]] = report["medians"]
    rss: dict[str, dict[str, float]] = report["rss_kib"]
    settings: dict[str, object] = report["settings"]
    print()
    print(
        f"uvicorn {settings['uvicorn']} ({settings['loop']}, {settings['http']}), 1 worker, "
        f"output to a file; wrk {settings['wrk']}; {settings['pinning']}; "
        f"medians of {settings['rounds']} interleaved rounds"
    )
    header = f"{'route':<22}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}{'sock err':>9}"
    print(header + f"{'CPU µs/req':>12}{'CPU use':>9}{'RSS warm→end MiB':>20}")
    for name, m in medians.items():
        server = report["route_servers"][name]
        warm, end = rss["after_warmup"][server] / 1024, rss["after_rounds"][server] / 1024
        print(
            f"{name:<22}{m['requests_per_s']:>9,.0f}{m['p50_ms']:>9.2f}{m['p99_ms']:>9.2f}"
            f"{m['non_2xx']:>9.0f}{m['socket_errors']:>9.0f}{m['cpu_us_per_request']:>12.0f}"
            f"{m['server_cpu_share']:>9.0%}{f'{warm:.1f} → {end:.1f}':>20}"
        )
    ratios: dict[str, float] = report["ratios"]
    print(
        f"\nreq/s ratios (medians): live/bare no log {ratios['live']:.2f}, "
        f"live/bare {ratios['live_vs_logged_bare']:.2f}, ready/baseline {ratios['ready']:.2f}; "
        f"live p99/bare no log p99 {ratios['live_p99']:.2f}; "
        f"CPU per request: live/bare no log {ratios['live_cpu']:.2f}x, "
        f"ready/baseline {ratios['ready_cpu']:.2f}x; "
        f"tracing on (1 %): {ratios['tracing']:.2f}x the req/s, {ratios['tracing_cpu']:.2f}x the CPU"
    )
    targets: dict[str, bool] = report["targets"]
    for target, met in targets.items():
        print(f"  {'met   ' if met else 'MISSED'} {target}")
    print(f"service exit status after SIGTERM: {report['service_exit_status']}")


def _machine() -> dict[str, object]:
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "versions": {
            name: metadata.version(name)
            for name in ("fastapi", "starlette", "uvicorn", "sqlalchemy", "asyncpg", "redis", "erp-api")
        },
    }


def _write(report: dict[str, Any]) -> None:
    OUTPUT_DIR.mkdir(exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(report, indent=2, sort_keys=True)
    (OUTPUT_DIR / f"bench-{stamp}.json").write_text(text)
    (OUTPUT_DIR / "bench-latest.json").write_text(text)
    print(f"figures: {OUTPUT_DIR / f'bench-{stamp}.json'}")


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


if __name__ == "__main__":
    sys.exit(main())
