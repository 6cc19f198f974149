"""Test helpers for code built on erp-core (like ``structlog.testing``).

Plain context managers, usable from any test runner; nothing here imports
pytest, and nothing runs at import.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import socket
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, TypeVar

from erp_core.logging import JsonLogFormatter
from erp_core.request_context import RequestIdFilter
from erp_core.settings import ErpSettings

S = TypeVar("S", bound=ErpSettings)

_environ_lock = threading.Lock()


class CapturedLogs:
    """The JSON lines written while :func:`capture_logs` was active."""

    def __init__(self, stream: io.StringIO) -> None:
        self._stream = stream

    @property
    def lines(self) -> list[str]:
        return self._stream.getvalue().splitlines()

    @property
    def records(self) -> list[dict[str, Any]]:
        """Each line parsed; a line that is not JSON fails the test loudly."""
        return [json.loads(line) for line in self.lines]


@contextlib.contextmanager
def capture_logs(level: int = logging.DEBUG) -> Iterator[CapturedLogs]:
    """Capture records from every logger as the production JSON lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLogFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield CapturedLogs(stream)
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)


@contextlib.contextmanager
def environment(env: Mapping[str, str], *, clear: bool = True) -> Iterator[None]:
    """Run the block with exactly ``env`` as the process environment (or on top of it)."""
    with _environ_lock:
        saved = dict(os.environ)
        try:
            if clear:
                os.environ.clear()
            os.environ.update(env)
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)


def settings_from_env(settings_cls: type[S], env: Mapping[str, str], *, env_file: str | None = None) -> S:
    """Build ``settings_cls`` from ``env`` alone: no inherited variables, no ``.env`` unless given."""
    with environment(env):
        return settings_cls(_env_file=env_file)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the OS picks it): for a server a test starts."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def unresponsive_server(host: str = "127.0.0.1") -> AsyncIterator[int]:
    """A TCP server that accepts connections and never answers: a hung dependency.

    Yields its port. A probe pointed at it must still fail within its own
    timeout; the connections are closed when the block ends.
    """
    held: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        while await reader.read(4096):  # swallow whatever the client sends
            pass

    server = await asyncio.start_server(accept, host, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()
