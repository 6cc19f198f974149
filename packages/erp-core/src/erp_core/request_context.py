"""The request id: which request the running code serves, for logs and error answers.

The id lives in a context variable, so it follows the request through
``await`` and into tasks it starts, and is absent everywhere else.
:class:`RequestIdFilter` copies it onto every log record.
"""

from __future__ import annotations

import logging
import os
import re
from contextvars import ContextVar

REQUEST_ID_HEADER = "X-Request-ID"

# What a caller may send as its own id: short and free of anything that could
# forge a log line or a header (docs/contract.md §6).
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")

_request_id: ContextVar[str | None] = ContextVar("erp_request_id", default=None)


def new_request_id() -> str:
    """A fresh id: a UUID4 in hex, ``uuid.uuid4().hex`` at half its cost (made on most requests).

    The same 16 random bytes from ``os.urandom`` with the version (4) and
    variant (RFC 9562) bits set, without building a ``uuid.UUID``.
    """
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40
    raw[8] = raw[8] & 0x3F | 0x80
    return raw.hex()


def is_valid_request_id(value: str | None) -> bool:
    """Whether a caller's id may be kept as it is."""
    return value is not None and _VALID_REQUEST_ID.fullmatch(value) is not None


def request_id_from(value: str | None) -> str:
    """The caller's id when it is valid, otherwise a new one: never the raw input."""
    return value if value is not None and is_valid_request_id(value) else new_request_id()


def get_request_id() -> str | None:
    """The id of the request being served, or ``None`` outside a request."""
    return _request_id.get()


class bind_request_id:  # lower case: a context manager used like the function it replaced
    """Make ``request_id`` current for the code run inside the block.

    With ``keep_on_error``, a block that raises leaves the id bound: a server
    that runs each request in its own task (uvicorn) logs the failure after it
    left the application, and that line should name the request too.

    A class rather than ``@contextlib.contextmanager``: it is entered on every
    request, and the generator machinery cost four times as much.
    """

    __slots__ = ("_keep_on_error", "_request_id", "_token")

    def __init__(self, request_id: str, *, keep_on_error: bool = False) -> None:
        self._request_id = request_id
        self._keep_on_error = keep_on_error

    def __enter__(self) -> str:
        self._token = _request_id.set(self._request_id)
        return self._request_id

    def __exit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        if exc_type is None or not self._keep_on_error:
            _request_id.reset(self._token)


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to each record written while a request id is bound.

    Attach it to handlers (not loggers) so records from every logger,
    third-party ones included, get the id.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = _request_id.get()
        if request_id is not None and not hasattr(record, "request_id"):
            record.request_id = request_id
        return True
