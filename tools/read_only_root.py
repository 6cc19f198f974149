"""Run the installed commands on a read-only root file system, only /tmp writable.

The Kubernetes pod (deploy/kubernetes) runs the image with
``readOnlyRootFilesystem: true`` and an emptyDir at /tmp. This script gives the
commands of the environment it runs in (``nox -s smoke``: the built wheels) the
same view: a private mount namespace (``unshare``) where ``/`` is remounted
read-only and /tmp is a fresh tmpfs. A write anywhere else fails with EROFS,
so a service that needs one crashes or logs an error here, not in production.

Checked: ``erp-db upgrade --sql`` (loads every migration) and ``erp-api serve
--workers 2`` (the multiprocess metrics files) answer and stop cleanly on
SIGTERM, with no error in their output. Needs ``unshare`` (util-linux) and
either root or unprivileged user namespaces.

Usage: python tools/read_only_root.py
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from erp_core.testing import free_port

# Run by `sh` inside the new mount namespace, then replaced by the command. The
# working directory moves to `/` (the image's is /app, on the read-only root):
# one under /tmp would vanish behind the new tmpfs, and the service's spawned
# workers, which return to their parent's directory by name, would die.
# Its first argument is a directory under /tmp to keep visible, read-only, behind the new tmpfs
# (the smoke venv, when the checkout itself lives under /tmp as a CI clone may), or "".
CONFINE = (
    'keep="$1"; shift; '
    'if [ -n "$keep" ]; then mkdir -p /run/erp-keep && mount --bind "$keep" /run/erp-keep; fi && '
    "mount -t tmpfs -o size=64m tmpfs /tmp && "
    'if [ -n "$keep" ]; then mkdir -p "$keep" && mount --bind /run/erp-keep "$keep" '
    '&& mount -o remount,bind,ro "$keep"; fi && '
    'mount -o remount,bind,ro / && cd / && exec "$@"'
)
# Marks of a failed write (EROFS) in a command's output.
WRITE_ERRORS = ("Read-only file system", "[Errno 30]")
# Two workers each import the whole service: slow on a busy two-core machine.
START_TIMEOUT_S = 180.0


def confined(*command: str) -> list[str]:
    unshare = shutil.which("unshare")
    if unshare is None:
        sys.exit("read_only_root: `unshare` (util-linux) is not installed")
    user_namespace = [] if os.geteuid() == 0 else ["--map-root-user"]
    namespace = [unshare, *user_namespace, "--mount", "--propagation", "private"]
    prefix = Path(sys.prefix).resolve()
    keep = str(prefix) if prefix.is_relative_to("/tmp") else ""  # noqa: S108  (a path compared, not written)
    return [*namespace, "sh", "-c", CONFINE, "sh", keep, *command]


def environment() -> dict[str, str]:
    # What the image sets (docker/Dockerfile), and nothing from this shell.
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": "/nonexistent",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        # Refused connections: the service starts anyway (docs/contract.md §8).
        "DATABASE_URL": f"postgresql+asyncpg://erp@127.0.0.1:{free_port()}/erp",
        "REDIS_PORT": str(free_port()),
    }


def check_confinement() -> None:
    probe = "touch /tmp/probe && ! touch /read-only-root-probe 2>/dev/null"
    result = subprocess.run(confined("sh", "-c", probe), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"read_only_root: cannot make a read-only root here: {result.stderr.strip()}")


def assert_clean(name: str, output: str) -> None:
    found = [mark for mark in WRITE_ERRORS if mark in output]
    if found:
        sys.exit(f"read_only_root: {name} failed on a read-only root ({', '.join(found)}):\n{output}")


def check_migrations_offline(env: dict[str, str]) -> None:
    result = subprocess.run(
        confined("erp-db", "upgrade", "--sql"), env=env, capture_output=True, text=True, check=False
    )
    assert_clean("erp-db upgrade --sql", result.stderr)
    if result.returncode != 0:
        sys.exit(f"read_only_root: erp-db upgrade --sql exited {result.returncode}:\n{result.stderr}")
    print("erp-db upgrade --sql: ok on a read-only root")


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - a loopback URL built here
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def check_service(env: dict[str, str]) -> None:
    port, metrics_port = free_port(), free_port()
    env = {**env, "METRICS_PORT": str(metrics_port)}
    command = confined("erp-api", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2")
    # A file, not a pipe: a pipe nobody reads until the end fills up and blocks the service.
    with tempfile.TemporaryFile(mode="w+") as log:
        # unshare and sh exec into erp-api: the signals below reach the service itself.
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            up = wait_until_live(process, f"http://127.0.0.1:{port}/healthz/live")
            if up:
                # Both workers answer through the same port; ready is 503 without the servers.
                statuses = {get(f"http://127.0.0.1:{port}/healthz/ready") for _ in range(6)}
                metrics = get(f"http://127.0.0.1:{metrics_port}/metrics")
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.seek(0)
        output = log.read()
    assert_clean("erp-api serve", output)
    if not up:
        sys.exit(f"read_only_root: erp-api serve never answered /healthz/live:\n{output}")
    if statuses != {503} or metrics != 200 or process.returncode != 0:
        sys.exit(
            f"read_only_root: erp-api serve: ready {statuses}, metrics {metrics}, "
            f"exit {process.returncode}:\n{output}"
        )
    print("erp-api serve --workers 2: live, ready (503), metrics, SIGTERM: ok on a read-only root")


def wait_until_live(process: subprocess.Popen[str], url: str) -> bool:
    deadline = time.monotonic() + START_TIMEOUT_S
    while process.poll() is None and time.monotonic() < deadline:
        try:
            if get(url) == 200:
                return True
        except OSError:
            pass  # not listening yet
        time.sleep(0.2)
    return False


def main() -> None:
    check_confinement()
    env = environment()
    check_migrations_offline(env)
    check_service(env)


if __name__ == "__main__":
    main()
