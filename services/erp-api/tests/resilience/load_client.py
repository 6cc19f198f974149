"""Concurrent keep-alive HTTP/1.1 clients that account for every byte of every answer.

Each client sends one request at a time on its connection, with its own
``X-Request-ID``, and files the outcome under exactly one heading: a
complete answer (by status), a refused connection, an error before any byte
of an answer arrived (EOF or reset on a keep-alive connection the server
closed), or a truncated answer (some bytes, then nothing: never acceptable).
Raw asyncio streams rather than httpx: the distinction between "no byte"
and "some bytes" must be exact, and the test process must not need more CPU
than the server it loads on a two-core machine.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import time
from collections.abc import Callable

READ_TIMEOUT_S = 10.0


@dataclasses.dataclass
class LoadReport:
    statuses: collections.Counter[int] = dataclasses.field(default_factory=collections.Counter)
    answered: set[str] = dataclasses.field(default_factory=set)  # request ids with a complete answer
    refused: int = 0
    before_answer: int = 0  # EOF or reset before any byte of the answer
    truncated: list[str] = dataclasses.field(default_factory=list)
    slowest_s: float = 0.0

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)

    def summary(self) -> str:
        return (
            f"{sum(self.statuses.values())} answered {dict(sorted(self.statuses.items()))}, "
            f"{self.refused} refused, {self.before_answer} closed before any byte of an answer, "
            f"{len(self.truncated)} truncated, slowest {self.slowest_s * 1000:.0f} ms"
        )


class _NoAnswer(Exception):
    """The connection ended before any byte of the answer."""


class _Truncated(Exception):
    """The connection ended in the middle of an answer."""


async def run_load(
    port: int, path: str, *, clients: int, keep_going: Callable[[], bool], tag: str = "load"
) -> LoadReport:
    """Run ``clients`` clients against ``path`` while ``keep_going()`` is true."""
    report = LoadReport()
    await asyncio.gather(*(_client(port, path, f"{tag}-{n}", keep_going, report) for n in range(clients)))
    return report


async def _client(
    port: int, path: str, name: str, keep_going: Callable[[], bool], report: LoadReport
) -> None:
    sequence = 0
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    while keep_going():
        if connection is None:
            try:
                connection = await asyncio.open_connection("127.0.0.1", port)
            except ConnectionError:
                report.refused += 1
                await asyncio.sleep(0.05)  # the server is gone or going: do not spin
                continue
        reader, writer = connection
        sequence += 1
        request_id = f"{name}-{sequence}"
        started = time.monotonic()
        try:
            status, close = await _exchange(reader, writer, path, request_id)
        except _NoAnswer:
            report.before_answer += 1
            writer.close()
            connection = None
            continue
        except _Truncated:
            report.truncated.append(request_id)
            writer.close()
            connection = None
            continue
        report.slowest_s = max(report.slowest_s, time.monotonic() - started)
        report.statuses[status] += 1
        report.answered.add(request_id)
        if close:
            writer.close()
            connection = None
    if connection is not None:
        connection[1].close()


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str, request_id: str
) -> tuple[int, bool]:
    """Send one request, read its whole answer: (status, whether the server closes the connection)."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-ID: {request_id}\r\n\r\n"
    try:
        writer.write(request.encode())
        await writer.drain()
    except ConnectionError as exc:
        raise _NoAnswer from exc
    received = 0
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)
        received = len(head)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body_length = int(headers.get("content-length", "0"))
        await asyncio.wait_for(reader.readexactly(body_length), READ_TIMEOUT_S)
    except asyncio.IncompleteReadError as exc:
        if received + len(exc.partial) == 0:
            raise _NoAnswer from exc
        raise _Truncated from exc
    except ConnectionError as exc:
        if received == 0:
            raise _NoAnswer from exc
        raise _Truncated from exc
    return status, headers.get("connection", "").lower() == "close"
