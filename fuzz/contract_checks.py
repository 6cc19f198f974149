"""Schemathesis checks for what the contract promises on every answer, beyond the OpenAPI document.

Loaded by :mod:`run` through ``SCHEMATHESIS_HOOKS``. Schemathesis' own checks
compare each answer with the document (status, content type, headers,
body schema); these add the clauses a schema cannot state, on every answer
the fuzzer provokes, the ones to methods the document does not list
included: every error is an RFC 9457 problem whose fields agree with the
answer (docs/contract.md §5), and every answer carries a valid ``X-Request-ID`` and
the security headers (docs/contract.md §6).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

import schemathesis

PROBLEM_FIELDS = {"type", "title", "status", "detail", "instance", "request_id"}
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "cache-control": "no-store",
}
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
# The one error answer that is not a problem (docs/contract.md §5): readiness' 503 is the health body.
_READINESS = "/healthz/ready"


def _header(response: Any, name: str) -> str | None:
    values = response.headers.get(name)
    return values[0] if values else None


@schemathesis.check
def errors_are_problem_details(ctx: Any, response: Any, case: Any) -> bool | None:
    """A 4xx or 5xx answer is application/problem+json with fields that agree with it."""
    if response.status_code < 400:
        return None
    path = urlsplit(response.request.url).path
    if response.status_code == 503 and path == _READINESS:
        return None
    content_type = _header(response, "content-type")
    if content_type != "application/problem+json":
        raise AssertionError(
            f"{response.status_code} answer is {content_type!r}, not application/problem+json"
        )
    if response.request.method == "HEAD":
        return None  # no body to read
    body = json.loads(response.content)
    missing = PROBLEM_FIELDS - set(body)
    if missing:
        raise AssertionError(f"problem answer lacks {sorted(missing)}: {body}")
    if body["status"] != response.status_code:
        raise AssertionError(f"problem status {body['status']} on a {response.status_code} answer")
    if body["request_id"] != _header(response, "x-request-id"):
        raise AssertionError("problem request_id differs from the X-Request-ID header")
    # §5: validation failures; §10: a conflict that names its field (a taken slug).
    if "errors" in body and response.status_code not in (409, 422):
        raise AssertionError("'errors' on an answer that is neither a validation failure nor a conflict")
    return True


@schemathesis.check
def every_answer_carries_request_id_and_security_headers(ctx: Any, response: Any, case: Any) -> bool | None:
    """X-Request-ID (valid, never the raw input when invalid) and the fixed security headers."""
    request_id = _header(response, "x-request-id")
    if request_id is None or not _REQUEST_ID.fullmatch(request_id):
        raise AssertionError(f"X-Request-ID missing or malformed: {request_id!r}")
    wrong = {
        name: _header(response, name)
        for name, value in SECURITY_HEADERS.items()
        if _header(response, name) != value
    }
    if wrong:
        raise AssertionError(f"security headers missing or wrong: {wrong}")
    if "server" in response.headers:
        raise AssertionError("a Server header is sent")
    return True
