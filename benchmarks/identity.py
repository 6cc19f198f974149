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
import concurrent.futures
import sys
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from erp_api.features.identity.passwords import hash_password
from erp_db import canonical_email
from load import REPORT_SCRIPT, LoadResult, run_wrk
from servers import Server
from side_by_side import Run, SideBySide, Table, bearer_token, build_report, main, measure, medians, ratio

PASSWORD = "bench password, not a secret"  # noqa: S105
LOGIN_CLIENTS = 4

TARGETS = {"me": 0.90, "live during logins": 0.50}
RATIO = "ratio: {name} >= {target:.2f}"
TABLE = Table("run", width=22, rps_decimals=1, cpu_column=False, ratios_label="req/s ratios")

LOGIN_SCRIPT = """
-- POST /api/v1/auth/token with the password form of one seeded user (script argument).
function init(args)
  non2xx = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.body = "username=" .. args[1] .. "&password=" .. args[2]
end
"""


async def seed_users(database_url: str) -> tuple[uuid.UUID, list[str]]:
    """The user of ``/users/me`` among 1000 others, and one user per login client."""
    engine = create_async_engine(database_url)
    user_id = uuid.uuid4()
    password_hash = await hash_password(PASSWORD)
    emails = [f"login-{n}@example.org" for n in range(LOGIN_CLIENTS)]
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO users (id, email, email_canonical, password_hash)"
                    " SELECT CASE WHEN n = 0 THEN CAST(:me AS uuid) ELSE gen_random_uuid() END,"
                    " 'bench-' || n || '@example.org', 'bench-' || n || '@example.org', '!no-password'"
                    " FROM generate_series(0, 1000) AS n"
                ),
                {"me": str(user_id)},
            )
            for email in emails:
                await connection.execute(
                    text(
                        "INSERT INTO users (email, email_canonical, password_hash)"
                        " VALUES (:email, :canonical, :hash)"
                    ),
                    {"email": email, "canonical": canonical_email(email), "hash": password_hash},
                )
            await connection.execute(text("ANALYZE"))
    finally:
        await engine.dispose()
    return user_id, emails


def _measure(
    args: argparse.Namespace, servers: dict[str, Server], seeded: tuple[uuid.UUID, list[str]], scratch: Path
) -> dict[str, Any]:
    user_id, emails = seeded
    login_script = scratch / "login.lua"
    login_script.write_text(REPORT_SCRIPT.read_text() + LOGIN_SCRIPT)
    bearer = [f"Authorization: Bearer {bearer_token(user_id)}"]
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

    runs: dict[str, Run] = {
        "me service": lambda d: me("service", d),
        "me baseline": lambda d: me("baseline", d),
        "live alone": live,
    }
    runs["live during logins"] = live_during_logins
    measured = measure(runs, args, unwarmed={"live during logins"})  # the logins need no warm-up
    figures = measured.medians()
    figures["logins (each client)"] = medians(logins)
    ratios = {
        "me": ratio(figures, "me service", "me baseline"),
        "live during logins": ratio(figures, "live during logins", "live alone"),
    }
    logins_settings = {"logins": f"{LOGIN_CLIENTS} x wrk -t1 -c1 POST /api/v1/auth/token"}
    return build_report(
        args, figures, ratios, measured.every_run() + logins, TARGETS, RATIO, "bare_identity", logins_settings
    )


def _heading(report: dict[str, Any]) -> str:
    settings = report["settings"]
    return f"wrk {settings['wrk']}; logins: {settings['logins']}; medians of {settings['rounds']} rounds"


# Successful logins never count against the throttle; this keeps a stray
# failure from turning the run into 429s.
BENCH = SideBySide(
    "identity",
    "bare_identity",
    seed_users,
    _measure,
    _heading,
    TABLE,
    service_env={"LOGIN_MAX_FAILURES": "1000"},
)

if __name__ == "__main__":
    sys.exit(main(BENCH, sys.argv[1:], __doc__))
