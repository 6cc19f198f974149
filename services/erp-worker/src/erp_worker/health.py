"""``/healthz/live`` and ``/healthz/ready`` of ``erp-worker run`` on ``WORKER_HEALTH_PORT`` (§14).

The worker serves no other HTTP, so this is a minimal HTTP/1.1 responder on
``asyncio.start_server`` rather than a web framework and its server in the
image: two GET/HEAD routes, one answer per connection, then close. Ready is
the database (``SELECT 1``, with migrations at head) and the queue's backend
(procrastinate's own connection check), each bounded by
``HEALTH_CHECK_TIMEOUT_S``, in the JSON shape of the API's readiness answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

from erp_core import ProbeResult

logger = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[ProbeResult]]
_REASONS: Final = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}
_HEAD_LIMIT: Final = 8192


class HealthServer:
    """Answers the two probes; ``checks`` maps a check's name to its probe."""

    def __init__(self, checks: dict[str, ReadinessCheck]) -> None:
        self._checks = checks
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._handle, host, port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def answer(self, method: str, path: str) -> tuple[int, dict[str, Any]]:
        """The status and JSON body for one request line."""
        if path not in ("/healthz/live", "/healthz/ready"):
            return 404, {"status": "not found"}
        if method not in ("GET", "HEAD"):
            return 405, {"status": "method not allowed"}
        if path == "/healthz/live":
            return 200, {"status": "ok"}
        names = list(self._checks)
        results = await asyncio.gather(*(self._checks[name]() for name in names))
        ok = all(result.ok for result in results)
        checks = {name: result.as_dict() for name, result in zip(names, results, strict=True)}
        return (200 if ok else 503), {"status": "ok" if ok else "fail", "checks": checks}

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
            if len(head) > _HEAD_LIMIT:
                return
            method, path, *_ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            status, body = await self.answer(method, path.split("?", 1)[0])
            payload = json.dumps(body).encode()
            writer.write(
                f"HTTP/1.1 {status} {_REASONS[status]}\r\ncontent-type: application/json\r\n"
                f"content-length: {len(payload)}\r\nconnection: close\r\n\r\n".encode()
            )
            if method != "HEAD":
                writer.write(payload)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, OSError):
            pass  # a client that sends no request line, or leaves: nothing to answer
        finally:
            writer.close()
