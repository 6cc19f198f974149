"""Entity tags and conditional requests over a row's ``version`` (RFC 9110 §8.8.3, §13).

A versioned resource's ``ETag`` is its version, quoted and strong: ``"3"``.

- ``If-None-Match`` on a read: a tag that matches (weak comparison, or ``*``)
  answers ``304 Not Modified`` with the tag and no body: :func:`not_modified`.
- ``If-Match`` on a change is required (``428`` without it) and compared
  strongly: :func:`expected_version` gives the version the change must find,
  or raises ``412``. The change itself is then one
  ``UPDATE … WHERE id = :id AND version = :expected``: of two concurrent
  changes made with the same tag, the second updates no row and answers 412.
"""

from __future__ import annotations

from fastapi import Response

from erp_api.errors import PreconditionFailed, PreconditionRequired


def etag(version: int) -> str:
    return f'"{version}"'


def _tags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def expected_version(if_match: str | None, current: int) -> int:
    """The version an ``If-Match`` change may proceed from; ``current`` is the version just read.

    ``*`` means "whatever is there". A weak tag (``W/"3"``) never matches
    (strong comparison, RFC 9110 §13.1.1).
    """
    if if_match is None:
        raise PreconditionRequired("This change needs an If-Match header with the current ETag")
    tags = _tags(if_match)
    if "*" in tags or etag(current) in tags:
        return current
    raise PreconditionFailed("The resource has changed since that ETag: read it again")


def not_modified(if_none_match: str | None, current: int) -> Response | None:
    """The 304 answer when ``If-None-Match`` names the current version, else ``None``."""
    if if_none_match is None:
        return None
    tags = [tag.removeprefix("W/") for tag in _tags(if_none_match)]  # weak comparison
    if "*" in tags or etag(current) in tags:
        return Response(status_code=304, headers={"ETag": etag(current)})
    return None
