"""The HTTP/1.1 protocol ``erp-api serve`` runs: uvicorn's httptools one, with a bounded request head.

httptools buffers a request line and headers of any size: an 8 MiB header was
served, a 100 MB one grew a worker from 131 MB to 292 MB. This protocol counts
the bytes of each request head as they arrive and, past
:data:`MAX_REQUEST_HEAD_BYTES`, answers ``431 Request Header Fields Too Large``
as a problem (docs/contract.md §5, with ``X-Request-ID`` and the security
headers of §6) and closes the connection, before the parser has buffered more.

Why not uvicorn's h11 protocol and its ``h11_max_incomplete_event_size``: h11
parses in pure Python (slower per request than httptools, measured in the
README) and answers an oversized head with a bare ``400`` text. The bound is
16 KiB, h11's own default, so the limit does not depend on the parser.

``HttpToolsProtocol`` and the callbacks and attributes used here are uvicorn
internals, listed (and their shape tested) in :mod:`erp_api.framework_internals`.
"""

from __future__ import annotations

import json
import logging
from typing import Final

from erp_api.framework_internals import HttpToolsProtocol
from erp_api.middleware.security_headers import security_headers
from erp_api.problems import PROBLEM_MEDIA_TYPE, status_title
from erp_api.settings import ApiSettings
from erp_core import bind_request_id, new_request_id

# The request line and every header together, their CRLFs included.
MAX_REQUEST_HEAD_BYTES: Final = 16_384

_END_OF_HEAD = b"\r\n\r\n"

logger = logging.getLogger(__name__)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` that refuses a request head over :data:`MAX_REQUEST_HEAD_BYTES`.

    A head is counted from the end of the previous message (or the start of
    the connection) to the blank line that ends it. Bytes that arrive in one
    read after the previous message, such as a pipelined request behind it,
    are not counted: one read (at most 256 KiB) is the slack.
    """

    _in_head = True
    _head_bytes = 0
    _tail = b""

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            # The terminator may straddle two reads: look at the last three bytes of the previous one too.
            end = (self._tail + data).find(_END_OF_HEAD)
            self._head_bytes += len(data) if end < 0 else end + len(_END_OF_HEAD) - len(self._tail)
            self._tail = data[-3:]
            if self._head_bytes > MAX_REQUEST_HEAD_BYTES:
                self._refuse_head()
                return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head, self._head_bytes, self._tail = True, 0, b""
        super().on_message_complete()

    def _refuse_head(self) -> None:
        request_id = new_request_id()
        with bind_request_id(request_id):
            logger.warning(
                "request head over %d bytes refused: 431, connection closed", MAX_REQUEST_HEAD_BYTES
            )
        body = json.dumps(
            {
                "type": "about:blank",
                "title": status_title(431),
                "status": 431,
                "detail": f"The request line and headers exceed the limit of {MAX_REQUEST_HEAD_BYTES} bytes",
                "instance": "",  # the path may not have arrived, and may be the oversized part
                "request_id": request_id,
            }
        ).encode()
        settings = self.app_state.get("settings")
        hsts = isinstance(settings, ApiSettings) and settings.environment.is_deployed
        headers = [
            *self.server_state.default_headers,
            (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            (b"x-request-id", request_id.encode()),
            *security_headers(hsts=hsts),
        ]
        head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
        status_line = f"HTTP/1.1 431 {status_title(431)}\r\n".encode()
        self.transport.write(status_line + head + b"\r\n" + body)
        self.transport.close()
