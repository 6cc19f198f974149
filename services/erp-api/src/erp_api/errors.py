"""Domain errors: what a route or a query raises when the request cannot be served.

Each class carries its HTTP status; :func:`erp_api.problems.domain_error_handler`
renders every one of them as a docs/contract.md §5 problem answer, so routes
never build error responses by hand::

    DomainError
    ├── BadRequest              400
    ├── Unauthorized            401  (carries WWW-Authenticate)
    ├── Forbidden               403
    ├── NotFound                404
    ├── Conflict                409
    ├── PreconditionFailed      412
    ├── PreconditionRequired    428
    └── TooManyRequests         429  (carries Retry-After)

Raising (rather than returning) an error also rolls back the request's
database session (§8). ``detail`` is shown to the caller: never put input,
a token or a row in it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar


class DomainError(Exception):
    """Root of the service's domain errors; ``status_code`` picks the problem answer."""

    status_code: ClassVar[int] = 400

    def __init__(
        self,
        detail: str | None = None,
        *,
        loc: Sequence[str | int] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """``loc`` points the answer's one ``errors`` entry at a field (``("body", "slug")``)."""
        super().__init__(detail)
        self.detail = detail
        self.loc = tuple(loc) if loc is not None else None
        self.headers = dict(headers) if headers else {}


class BadRequest(DomainError):
    status_code = 400


class Unauthorized(DomainError):
    status_code = 401


class Forbidden(DomainError):
    status_code = 403


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class PreconditionFailed(DomainError):
    status_code = 412


class PreconditionRequired(DomainError):
    status_code = 428


class TooManyRequests(DomainError):
    status_code = 429
