"""Instructions per request under callgrind: ``GET /users/me`` of the service against the bare baseline.

``python benchmarks/instructions.py [--requests N]`` from the bench's
environment (``nox -s instructions`` runs it; needs ``valgrind``). Throughput
on a shared machine moves by a third from one run to the next; the number of
instructions a request executes does not. Each app (``erp-api``'s
``create_app()`` in production settings, and :mod:`bare_identity`) is driven
in-process, without HTTP, by a child process under ``valgrind
--tool=callgrind``: once with N requests after a warm-up, once with none.
The difference over N is the app's cost per request, start-up excluded; the
database round trips are the same for both and are not counted (they run in
PostgreSQL).

The ratio printed is baseline/service, the in-process counterpart of the
req/s ratio of :mod:`identity` (which adds uvicorn's own, shared, work to
both). Figures go to ``.bench/instructions-latest.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from erp_db.testing import temporary_database
from identity import seed_users
from side_by_side import (
    APP_NAME,
    BENCH_DIR,
    JWT_SECRET_KEY,
    OUTPUT_DIR,
    PRODUCTION_SETTINGS,
    bearer_token,
    server_urls,
)

APPS = ("service", "baseline")
WARM_UP = 20
_COLLECTED = re.compile(r"Collected : (\d+)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=100, help="requests counted per app (default: 100)")
    child = ("APP", "N", "DATABASE_URL", "USER_ID")
    parser.add_argument("--child", nargs=4, metavar=child, help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args()
    if args.child:
        app, count, database_url, user_id = args.child
        # The access lines are written (their cost counts), not shown.
        with Path(os.devnull).open("w") as sink, contextlib.redirect_stdout(sink):
            asyncio.run(_drive(app, int(count), database_url, uuid.UUID(user_id)))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: `apt-get install valgrind` (Debian, Ubuntu)")
        return 2
    return asyncio.run(_measure(args.requests))


async def _measure(requests: int) -> int:
    admin_url, _ = server_urls()
    async with temporary_database(admin_url) as database_url:
        user_id, _ = await seed_users(database_url)
        for app in APPS:  # once without valgrind: every module's bytecode written before counting
            _run_child([sys.executable], app, 0, database_url, user_id)
        runs = [(app, count) for app in APPS for count in (requests, 0)]
        # One child per core: instruction counts do not depend on what else runs.
        with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            counted = dict(
                zip(runs, pool.map(lambda run: _instructions(*run, database_url, user_id), runs), strict=True)
            )
        per_request = {app: (counted[app, requests] - counted[app, 0]) / requests for app in APPS}
    ratio = per_request["baseline"] / per_request["service"]
    report = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "requests": requests,
        "instructions_per_request": per_request,
        "ratio": ratio,
    }
    OUTPUT_DIR.mkdir(exist_ok=True)
    (OUTPUT_DIR / "instructions-latest.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"GET /users/me in process, instructions per request (callgrind, {requests} requests minus 0):")
    for app in APPS:
        print(f"  {app:<9} {per_request[app] / 1e6:6.2f} M")
    print(f"  baseline/service: {ratio:.2f}")
    return 0


def _instructions(app: str, requests: int, database_url: str, user_id: uuid.UUID) -> int:
    """Instructions of one child run, start-up included: what callgrind reports as collected."""
    valgrind = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable]
    found = _COLLECTED.search(_run_child(valgrind, app, requests, database_url, user_id))
    if found is None:
        raise RuntimeError(f"callgrind counted nothing for the {app} child")
    return int(found.group(1))


def _run_child(interpreter: list[str], app: str, requests: int, database_url: str, user_id: uuid.UUID) -> str:
    """Run the child under ``interpreter``; its standard error."""
    command = [*interpreter, __file__, "--child", app, str(requests), database_url, str(user_id)]
    # A fixed hash seed: the same dictionary layouts, hence the same work, in every run.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the {app} child failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stderr


async def _drive(app_name: str, requests: int, database_url: str, user_id: uuid.UUID) -> None:
    """The child: ``WARM_UP + requests`` sequential requests through the ASGI app, all 200.

    The ASGI calls are made by hand rather than through an HTTP client
    (httpx's ASGI transport): a client's own work would be counted too, the
    same for both apps, and would pull the ratio towards 1.
    """
    os.environ.update(PRODUCTION_SETTINGS)
    os.environ.update({"DATABASE_URL": database_url, "APP_NAME": APP_NAME, "JWT_SECRET_KEY": JWT_SECRET_KEY})
    if app_name == "service":
        from erp_api import create_app

        app: Any = create_app()
        path = "/api/v1/users/me"
    else:
        sys.path.insert(0, str(BENCH_DIR))
        from bare_identity import app

        path = "/users/me"
    headers = [
        (b"host", b"bench"),
        (b"authorization", f"Bearer {bearer_token(user_id)}".encode()),
    ]
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async with app.router.lifespan_context(app) as state:
        for _ in range(WARM_UP + requests):
            scope = {
                "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
                "root_path": "", "headers": headers, "client": ("127.0.0.1", 50000),
                "server": ("127.0.0.1", 80), "state": dict(state or {}),
            }  # fmt: skip
            await app(scope, receive, send)
    if set(statuses) != {200}:
        raise RuntimeError(f"{app_name}: answers {sorted(set(statuses))}, expected only 200")


if __name__ == "__main__":
    sys.exit(main())
