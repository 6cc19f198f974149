"""RFC 9457 problem details: the one shape of every error answer (docs/contract.md §5).

The models document the shape in OpenAPI; :func:`problem_response` renders
it; the exception handlers map onto it Starlette's and FastAPI's errors, the
service's domain errors (:mod:`erp_api.errors`) and the database's integrity
violations that no route foresaw (:mod:`erp_api.integrity`).
"""

from __future__ import annotations

import http
import itertools
import logging
import re
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from pydantic_core import PydanticKnownError
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from erp_api.errors import DomainError
from erp_api.integrity import is_conflict, sqlstate, violated_constraint
from erp_core import get_request_id

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"

# RFC 9110 renamed these; Python 3.11's http.HTTPStatus still has the old phrases.
_RFC9110_TITLES = {
    413: "Content Too Large",
    414: "URI Too Long",
    416: "Range Not Satisfiable",
    422: "Unprocessable Content",
}

# Context values that come from the schema (limits, expected choices), never
# from what the caller sent; every other value is masked in messages.
_SCHEMA_CONTEXT = frozenset(
    {
        "class_name", "decimal_places", "discriminator", "encoding", "expected", "expected_plural",
        "expected_schemes", "expected_tags", "expected_version", "field_type", "ge", "gt", "le", "lt",
        "max_digits", "max_length", "min_length", "multiple_of", "pattern", "tz_expected", "whole_digits",
    }
)  # fmt: skip
_MASK = "…"

# A 422 answer lists at most this many failures, in pydantic's order, plus their
# total: 262,000 bad items once made a 33 MB answer that held the worker for seconds.
MAX_ERRORS_SHOWN = 20
# A `loc` part is echoed only when it looks like a schema's field name; a key the caller
# invented (`extra="forbid"`, a dict's keys) may be anything, a secret included.
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")

VALIDATION_DETAIL = "Request validation failed"
SERVER_ERROR_DETAIL = "The server could not complete the request"
_NO_CONTENT = frozenset({204, 205, 304})
CONFLICT_DETAIL = "The request conflicts with the current state of the resource"


class ErrorDetail(BaseModel):
    """One failed check of a request's input; the rejected value itself is never echoed."""

    loc: list[str | int] = Field(description="Where the value was: body, query, path, header, then keys.")
    message: str
    type: str = Field(description="A stable machine-readable code, e.g. `missing`.")


class ErrorResponse(BaseModel):
    """An RFC 9457 problem document, with the request id and validation errors as extensions."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str = Field(description="The path of the request that failed.")
    request_id: str | None = Field(None, description="The X-Request-ID of the request, also in the logs.")
    errors_total: int | None = Field(
        None, description=f"How many failures there were; `errors` shows the first {MAX_ERRORS_SHOWN}."
    )
    errors: list[ErrorDetail] | None = Field(
        None, description="Present for validation failures, and for a domain error about one field."
    )


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def status_title(status_code: int) -> str:
    """The RFC 9110 reason phrase of ``status_code``."""
    if status_code in _RFC9110_TITLES:
        return _RFC9110_TITLES[status_code]
    try:
        return http.HTTPStatus(status_code).phrase
    except ValueError:
        return "Error"


def problem_response(
    status_code: int,
    path: str,
    detail: str | None = None,
    *,
    errors: list[ErrorDetail] | None = None,
    errors_total: int | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """The problem answer for ``status_code`` on ``path``, tagged with the current request id.

    ``errors_total`` defaults to ``len(errors)``: pass it when ``errors`` is a prefix.
    """
    title = status_title(status_code)
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status_code,
        "detail": detail or title,
        "instance": path,
        "request_id": get_request_id(),
    }
    if errors is not None:
        body["errors"] = [error.model_dump() for error in errors]
        body["errors_total"] = len(errors) if errors_total is None else errors_total
    return ProblemResponse(body, status_code=status_code, headers=headers)


def validation_errors(exc: RequestValidationError, limit: int = MAX_ERRORS_SHOWN) -> list[ErrorDetail]:
    """The first ``limit`` of pydantic's errors without what the caller sent: no ``input``,
    no ``ctx``, no key the schema does not know, and a message rebuilt from the error
    type's template, since pydantic's own ``msg`` quotes input (a discriminator tag,
    the character a UUID failed on)."""
    return [
        ErrorDetail(
            loc=_loc_without_input(error.get("loc", ()), str(error.get("type", ""))),
            message=_message_without_input(str(error.get("type", "")), error.get("ctx") or {}),
            type=str(error.get("type", "")),
        )
        for error in itertools.islice(exc.errors(), limit)
    ]


def _loc_without_input(loc: tuple[object, ...], error_type: str) -> list[str | int]:
    parts: list[str | int] = [
        part if isinstance(part, int) or _FIELD_NAME.fullmatch(part) else _MASK
        for part in (part if isinstance(part, int) else str(part) for part in loc)
    ]
    if error_type == "extra_forbidden" and len(parts) > 1:
        parts[-1] = _MASK  # the key the caller sent, whatever it looks like
    return parts


def _message_without_input(error_type: str, context: dict[str, Any]) -> str:
    safe = {key: value if key in _SCHEMA_CONTEXT else _MASK for key, value in context.items()}
    try:
        return PydanticKnownError(error_type, safe or None).message()  # type: ignore[arg-type]
    except (KeyError, TypeError):  # a custom error type: its text may quote anything
        return "Invalid value"


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """Starlette's base class: routing raises it for 404 and 405, FastAPI's subclass for the rest."""
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers) if exc.headers else None  # keeps a 405's Allow, a 304's ETag
    if exc.status_code < 200 or exc.status_code in _NO_CONTENT:
        # These answers carry no content (RFC 9110 §15.2, §15.3.5, §15.4.5): a problem body
        # would make uvicorn drop the connection. Starlette answers them the same way.
        return Response(status_code=exc.status_code, headers=headers)
    detail = exc.detail if isinstance(exc.detail, str) else None
    if exc.status_code >= 500:
        detail = SERVER_ERROR_DETAIL
    return problem_response(exc.status_code, request.url.path, detail, headers=headers)


async def validation_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # FastAPI has built the whole list already; BodyLimitMiddleware bounds how long it gets.
    return problem_response(
        422,
        request.url.path,
        VALIDATION_DETAIL,
        errors=validation_errors(exc),
        errors_total=len(exc.errors()),
    )


def error_type(status_code: int) -> str:
    """The ``errors[].type`` of a domain error: its title in snake case (``conflict``, ``not_found``)."""
    return status_title(status_code).lower().replace(" ", "_").replace("-", "_")


async def domain_error_handler(request: Request, exc: Exception) -> Response:
    """A :class:`~erp_api.errors.DomainError` as its problem: status and title from its class,
    ``detail`` as given, ``loc`` as the one ``errors`` entry, ``headers`` kept."""
    assert isinstance(exc, DomainError)
    errors = None
    if exc.loc is not None:
        message = exc.detail or status_title(exc.status_code)
        errors = [ErrorDetail(loc=list(exc.loc), message=message, type=error_type(exc.status_code))]
    return problem_response(
        exc.status_code, request.url.path, exc.detail, errors=errors, headers=exc.headers or None
    )


async def integrity_error_handler(request: Request, exc: Exception) -> Response:
    """A unique, foreign-key or exclusion violation no route foresaw: 409, naming no value.

    The log line names the constraint and the SQLSTATE only: the driver's
    message, SQL and parameters may quote the row. Any other integrity
    violation (a NOT NULL, a CHECK) is a bug: re-raised, it becomes the 500
    problem with its traceback logged.
    """
    assert isinstance(exc, IntegrityError)
    if not is_conflict(exc):
        raise exc
    logger.info(
        "integrity conflict answered 409",
        extra={"constraint": violated_constraint(exc), "sqlstate": sqlstate(exc)},
    )
    return problem_response(409, request.url.path, CONFLICT_DETAIL)
