"""``erp-api``: the service's command (docs/contract.md §3).

``erp-api serve`` validates the settings before anything listens, then runs
uvicorn on the :func:`erp_api.app.create_app` factory with the project's
logging configuration applied in every worker from its first line.
``erp-api users create`` makes an account (docs/contract.md §9, see
:mod:`erp_api.features.identity.commands`).
"""

from __future__ import annotations

import argparse
import math
import shutil
import signal
import sys
from collections.abc import Callable, Sequence
from types import FrameType

import uvicorn

from erp_api.features.identity.commands import add_users_command, run_users_command
from erp_api.metrics_listener import prepare_multiprocess_dir, start_metrics_listener
from erp_api.settings import ApiSettings
from erp_core import ConfigurationError, logging_config

APP_FACTORY = "erp_api.app:create_app"
# httptools with a bound on the request head (docs/contract.md §5); by import path, for --workers.
HTTP_PROTOCOL = "erp_api.http_protocol:BoundedHttpToolsProtocol"
WORKER_HEALTHCHECK_TIMEOUT_S = 30


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="erp-api", description="The ERP HTTP API service.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the HTTP service with uvicorn")
    serve.add_argument("--host", default="0.0.0.0", help="address to bind (default: %(default)s)")
    serve.add_argument(
        "--port", type=_bounded_int(0, 65535), default=8000, help="port to bind (default: %(default)s)"
    )
    serve.add_argument(
        "--workers", type=_bounded_int(1, 512), default=1, help="worker processes (default: %(default)s)"
    )
    serve.add_argument("--reload", action="store_true", help="restart on code changes (development only)")
    serve.add_argument(
        "--reload-dir",
        action="append",
        dest="reload_dirs",
        metavar="DIR",
        help="directory to watch with --reload (repeatable; default: the working directory)",
    )
    add_users_command(commands)
    return parser


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    # uvicorn (>= 0.29) restores this handler after its graceful shutdown and
    # re-raises the signal it caught; without a Python handler the process
    # would then die by SIGTERM (status 143) instead of exiting 0.
    sys.exit(0)


def serve(args: argparse.Namespace) -> int:
    try:
        settings = ApiSettings()
    except ConfigurationError as exc:
        print(f"erp-api: {exc}", file=sys.stderr)
        return 2

    if settings.metrics_port and settings.metrics_port == args.port:
        print(f"erp-api: METRICS_PORT: must differ from the service's port {args.port}", file=sys.stderr)
        return 2
    # Several worker processes (or the reloader's child): their metrics go to a
    # fresh directory of per-process files, set before any worker starts, and
    # this supervising process serves their sum (erp_api.metrics_listener).
    # With the listener off, nothing reads them: the workers count in memory.
    supervised = args.workers > 1 or args.reload
    multiprocess_dir = prepare_multiprocess_dir() if settings.metrics_port and supervised else None
    try:
        if settings.metrics_port:
            try:
                start_metrics_listener(args.host, settings.metrics_port, multiprocess_dir=multiprocess_dir)
            except OSError as exc:
                print(
                    f"erp-api: METRICS_PORT: cannot listen on {settings.metrics_port}: {exc}", file=sys.stderr
                )
                return 2
        _run_uvicorn(args, settings)
    finally:
        if multiprocess_dir is not None:
            shutil.rmtree(multiprocess_dir, ignore_errors=True)
    return 0


def _run_uvicorn(args: argparse.Namespace, settings: ApiSettings) -> None:
    signal.signal(signal.SIGTERM, _exit_cleanly)
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        http=HTTP_PROTOCOL,
        host=args.host,
        port=args.port,
        workers=args.workers,
        reload=args.reload,
        reload_dirs=args.reload_dirs,
        log_config=logging_config(settings.log_level, settings.log_format),
        access_log=False,  # AccessLogMiddleware writes the one access line per request
        server_header=False,
        proxy_headers=True,  # trusted only from FORWARDED_ALLOW_IPS (uvicorn reads it)
        # uvicorn takes whole seconds; rounding up never cuts a request short.
        timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout_s),
        # A spawned worker imports the whole service before it answers the
        # supervisor's health ping; under a CPU limit (or a busy machine) that
        # takes longer than uvicorn's default 5 s, and the worker was killed
        # and respawned in a loop.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_TIMEOUT_S,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    if args.command == "users":
        return run_users_command(args)
    raise AssertionError(f"unhandled command {args.command!r}")  # argparse rejects unknown ones


if __name__ == "__main__":
    sys.exit(main())
