"""Bounds the request body: ``MAX_REQUEST_BODY_BYTES``, and the values of a JSON body, with 413 problems.

Starlette's own ``max_body_size`` answers from outside the user middleware
(no request id, no security headers); this one sits inside them. A declared
``Content-Length`` over the limit is refused before the app runs; a streamed
body is counted as it is read, and the read that crosses the limit raises
the 413 ``HTTPException`` that FastAPI's exception handling renders.

A JSON body may hold at most ``max_json_values`` array items and object
members in all (docs/contract.md §5). Bytes alone do not bound the work: a
1 MiB list of 262,000 bad items made FastAPI and pydantic build 262,000
error records, several seconds of one worker's event loop (``/healthz/live``
stalled with it), before any handler could trim the answer. Counting the
commas and brackets of each chunk bounds the values from above at almost no
cost; only a body whose bound passes the limit is parsed once more, when its
last chunk arrives, to count them exactly.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from erp_api.problems import problem_response

MAX_JSON_VALUES = 10_000


def _too_large_detail(limit: int) -> str:
    return f"The request body exceeds the limit of {limit} bytes"


def _too_many_values_detail(limit: int) -> str:
    return f"The JSON body holds more than {limit} array items and object members"


def _parsed_as_json(content_type: bytes | None) -> bool:
    # FastAPI decodes a body as JSON when it has no Content-Type or a JSON one.
    return content_type is None or b"json" in content_type.lower()


def json_values(body: bytes, *, stop_above: int | None = None) -> int:
    """How many array items and object members ``body`` holds; 0 when it is not JSON
    (FastAPI then answers its own parse error). Counting stops once the count passes
    ``stop_above``: walking 262,000 items costs ten times what parsing them does."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return 0
    count, containers = 0, [document]
    while containers:
        value = containers.pop()
        children = value.values() if isinstance(value, dict) else value
        count += len(children)
        if stop_above is not None and count > stop_above:
            break
        containers.extend(child for child in children if isinstance(child, (list, dict)))
    return count


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_json_values: int = MAX_JSON_VALUES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_values = max_json_values

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        limit = self.max_body_bytes
        declared = content_type = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
            elif name == b"content-type":
                content_type = value
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response = problem_response(413, scope["path"], _too_large_detail(limit))
            await response(scope, receive, send)
            return

        max_values = self.max_json_values
        count_values = _parsed_as_json(content_type)
        received = 0
        values_bound = 0  # items + members <= commas + containers
        chunks: list[bytes] = []

        async def receive_counted() -> Message:
            nonlocal received, values_bound
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > limit:
                    raise HTTPException(413, _too_large_detail(limit))
                if count_values:
                    chunks.append(chunk)
                    values_bound += chunk.count(b",") + chunk.count(b"[") + chunk.count(b"{")
                    if (
                        not message.get("more_body", False)
                        and values_bound > max_values
                        and json_values(b"".join(chunks), stop_above=max_values) > max_values
                    ):
                        raise HTTPException(413, _too_many_values_detail(max_values))
            return message

        await self.app(scope, receive_counted, send)
