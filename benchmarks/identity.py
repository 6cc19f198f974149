"""Identity under load: ``GET /users/me`` against a bare baseline, and health checks during logins.

``python benchmarks/identity.py`` from the bench's environment (``nox -s
bench`` runs it after ``run.py``: erp-api installed, ``wrk`` on the path).
Two servers under the same uvicorn settings, one worker each, pinned to
CPU 0, on one throwaway database: ``erp-api serve`` in production settings
(every middleware, JSON access log) and :mod:`bare_identity` (PyJWT and
one primary-key read through SQLAlchemy async, nothing else). Two ratios
(docs/contract.md §9, issue 12):

- ``me``: authenticated ``GET /api/v1/users/me`` on the service over the
  baseline's ``GET /users/me``, the same token: target >= 0.90;
- ``live during logins``: the service's ``/healthz/live`` while 4 clients
  log in back to back (4 ``wrk -c1`` posting the password form: an argon2id
  verification each) over ``/healthz/live`` alone: target >= 0.50. Hashing
  runs off the event loop, on threads of lower priority, so it must not
  starve it.

wrk (CPU 1) warms up, then interleaved rounds; the table shows medians.
Exit status 1 on a non-2xx answer or a socket error; a missed ratio prints
MISSED and fails only with ``--strict``. Figures go to
``.bench/identity-latest.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import datetime
import sys
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from erp_api.features.identity.passwords import hash_password
from erp_api.features.identity.tokens import issue_access_token
from erp_db.testing import temporary_database
from load import REPORT_SCRIPT, LoadResult, run_wrk
from servers import Server
from side_by_side import (
    APP_NAME,
    JWT_SECRET_KEY,
    SERVICE_SETTINGS,
    check_targets,
    finish,
    medians,
    parse_options,
    print_medians,
    print_targets,
    ratio,
    run_rounds,
    server_urls,
    service_and_baseline,
    warm_up,
    wrk_missing,
    wrk_settings,
)

PASSWORD = "bench password, not a secret"  # noqa: S105
LOGIN_CLIENTS = 4

TARGETS = {"me": 0.90, "live during logins": 0.50}

LOGIN_SCRIPT = """
-- POST /api/v1/auth/token with the password form of one seeded user (script argument).
function init(args)
  non2xx = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.body = "username=" .. args[1] .. "&password=" .. args[2]
end
"""


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_options(argv, __doc__)
    if wrk_missing():
        return 2
    with tempfile.TemporaryDirectory(prefix="erp-bench-identity-") as scratch:
        report = asyncio.run(_serve_and_measure(args, Path(scratch), *server_urls()))
    return finish("identity", report, _print, strict=args.strict)


async def _serve_and_measure(
    args: argparse.Namespace, scratch: Path, admin_url: str, redis_url: str
) -> dict[str, Any]:
    async with temporary_database(admin_url) as database_url:
        user_id, login_emails = await _seed(database_url)
        # Successful logins never count against the throttle; this keeps a
        # stray failure from turning the run into 429s.
        service_env = {"LOGIN_MAX_FAILURES": "1000"}
        with service_and_baseline(
            database_url, redis_url, scratch, baseline_module="bare_identity", service_env=service_env
        ) as pair:
            token = issue_access_token(user_id, key=JWT_SECRET_KEY.encode(), issuer=APP_NAME, ttl_s=3600)
            report = _measure(args, pair.servers, token, login_emails, scratch)
    report["exit_statuses"] = pair.exit_statuses
    return report


async def _seed(database_url: str) -> tuple[uuid.UUID, list[str]]:
    """The user of ``/users/me`` among 1000 others, and one user per login client."""
    engine = create_async_engine(database_url)
    user_id = uuid.uuid4()
    password_hash = await hash_password(PASSWORD)
    emails = [f"login-{n}@example.org" for n in range(LOGIN_CLIENTS)]
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO users (id, email, password_hash)"
                    " SELECT CASE WHEN n = 0 THEN CAST(:me AS uuid) ELSE gen_random_uuid() END,"
                    " 'bench-' || n || '@example.org', '!no-password' FROM generate_series(0, 1000) AS n"
                ),
                {"me": str(user_id)},
            )
            for email in emails:
                await connection.execute(
                    text("INSERT INTO users (email, password_hash) VALUES (:email, :hash)"),
                    {"email": email, "hash": password_hash},
                )
            await connection.execute(text("ANALYZE"))
    finally:
        await engine.dispose()
    return user_id, emails


def _measure(
    args: argparse.Namespace, servers: dict[str, Server], token: str, emails: list[str], scratch: Path
) -> dict[str, Any]:
    login_script = scratch / "login.lua"
    login_script.write_text(REPORT_SCRIPT.read_text() + LOGIN_SCRIPT)
    bearer = [f"Authorization: Bearer {token}"]
    wrk = {"connections": args.connections, "timeout_s": args.timeout}
    logins: list[LoadResult] = []

    def me(server: str, duration_s: float) -> LoadResult:
        path = "/api/v1/users/me" if server == "service" else "/users/me"
        return run_wrk(servers[server], path, duration_s=duration_s, headers=bearer, **wrk)

    def live(duration_s: float) -> LoadResult:
        return run_wrk(servers["service"], "/healthz/live", duration_s=duration_s, **wrk)

    def live_during_logins(duration_s: float) -> LoadResult:
        # The logins start first and end last, so they cover the whole live run.
        with concurrent.futures.ThreadPoolExecutor(LOGIN_CLIENTS) as pool:
            clients = [
                pool.submit(
                    run_wrk,
                    servers["service"],
                    "/api/v1/auth/token",
                    connections=1,
                    duration_s=duration_s + 2,
                    timeout_s=10,
                    script=login_script,
                    script_args=[email, PASSWORD.replace(" ", "+").replace(",", "%2C")],
                )
                for email in emails
            ]
            started = concurrent.futures.wait(clients, timeout=1)  # let the logins get going
            assert not started.done, "a login client ended early"
            result = live(duration_s)
            logins.extend(client.result() for client in clients)
            return result

    runs = {
        "me service": lambda d: me("service", d),
        "me baseline": lambda d: me("baseline", d),
        "live alone": live,
    }
    warmup = warm_up(runs, args.warmup)  # the logins need none
    rounds = run_rounds(
        {**runs, "live during logins": live_during_logins}, rounds=args.rounds, duration_s=args.duration
    )
    figures = {name: medians(results) for name, results in rounds.items()}
    figures["logins (each client)"] = medians(logins)
    ratios = {
        "me": ratio(figures, "me service", "me baseline"),
        "live during logins": ratio(figures, "live during logins", "live alone"),
    }
    every_run = [r for results in rounds.values() for r in results] + list(warmup.values()) + logins
    return {
        "medians": figures,
        "ratios": ratios,
        "targets": check_targets(ratios, TARGETS, every_run, label="ratio: {name} >= {target:.2f}"),
        "settings": {
            "wrk": wrk_settings(args),
            "logins": f"{LOGIN_CLIENTS} x wrk -t1 -c1 POST /api/v1/auth/token",
            "rounds": args.rounds,
            "warmup_s": args.warmup,
            "service": SERVICE_SETTINGS,
            "baseline": "bare_identity, uvicorn --no-access-log",
        },
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def _print(report: dict[str, Any]) -> None:
    settings = report["settings"]
    print(f"\nwrk {settings['wrk']}; logins: {settings['logins']}; medians of {settings['rounds']} rounds")
    print_medians(report["medians"], first_column="run", width=22, rps_decimals=1, cpu_column=False)
    print("req/s ratios: " + ", ".join(f"{name} {value:.2f}" for name, value in report["ratios"].items()))
    print_targets(report["targets"])


if __name__ == "__main__":
    sys.exit(main())
