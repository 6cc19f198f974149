"""A TCP proxy between the service and a dependency, which the test can make misbehave.

``hang()`` turns the dependency into one that accepts connections and never
answers (a stuck process, a half-open firewall): bytes stop moving on every
connection and new connections are accepted but go nowhere, until
``resume()``, when the held bytes move on. ``hold_answer(marker, seconds)``
holds back the next answer from the server that contains ``marker``: the
server has executed the query, and the state its answer reports grows older
while it waits here, which is what the readiness-freshness test needs.
Hand-written, because it must misbehave on purpose.
"""

from __future__ import annotations

import asyncio
import contextlib


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._hold: tuple[bytes, float, asyncio.Event] | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    def hang(self) -> None:
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    def hold_answer(self, marker: bytes, seconds: float) -> asyncio.Event:
        """Hold for ``seconds`` the next chunk from the server that contains ``marker``.

        The returned event is set when that chunk has arrived here: the server
        has answered, the client has not seen the answer yet.
        """
        held = asyncio.Event()
        self._hold = (marker, seconds, held)
        return held

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for writer in list(self._writers):
            writer.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(client_writer)
        try:
            await self._flowing.wait()  # while hanging, an accepted connection goes nowhere
            server_reader, server_writer = await asyncio.open_connection(*self.upstream)
            self._writers.add(server_writer)
            await asyncio.gather(
                self._pump(client_reader, server_writer, from_server=False),
                self._pump(server_reader, client_writer, from_server=True),
            )
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            client_writer.close()
            self._tasks.discard(task)

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, from_server: bool
    ) -> None:
        try:
            while data := await reader.read(65536):
                await self._flowing.wait()
                if from_server and self._hold is not None and self._hold[0] in data:
                    _, seconds, held = self._hold
                    self._hold = None
                    held.set()
                    await asyncio.sleep(seconds)
                writer.write(data)
                await writer.drain()
        finally:
            with contextlib.suppress(OSError, RuntimeError):
                writer.close()
