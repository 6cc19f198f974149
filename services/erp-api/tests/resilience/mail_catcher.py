"""A real SMTP server in the test process (aiosmtpd) that counts the mails each address received.

aiosmtpd runs its own event loop on a thread of its own, so the count is
guarded by a lock. The recipients are the envelope's (``RCPT TO``): what
the worker asked the server to deliver, whatever the headers say.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiosmtpd.controller import Controller

from erp_core.testing import free_port


class MailCatcher:
    """aiosmtpd handler: accepts every message and counts it once per recipient."""

    def __init__(self) -> None:
        self._received: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self._received.update(envelope.rcpt_tos)
        return "250 OK"

    def received(self) -> collections.Counter[str]:
        """Mails received so far, by recipient address."""
        with self._lock:
            return collections.Counter(self._received)


@contextmanager
def smtp_server() -> Iterator[tuple[MailCatcher, int]]:
    """A :class:`MailCatcher` listening on a free port of 127.0.0.1; yields it and the port."""
    catcher, port = MailCatcher(), free_port()
    controller = Controller(catcher, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield catcher, port
    finally:
        controller.stop()
