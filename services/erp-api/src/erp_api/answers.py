"""Answering with a model that is already typed: serialised once, never validated again.

FastAPI validates what an endpoint returns against its ``response_model``,
dumping a returned model to a dict and building it anew: for rows that come
typed from the database that is pure cost (the largest share of a list's,
in ``nox -s instructions``). An endpoint that returns a ``Response`` skips
it; :func:`answer` is that response, with the route's ``response_model``
still declared for the OpenAPI document. A :class:`~erp_api.pagination.RowPage`
(a list's rows) is written field by field from the rows' own values, by
orjson: pydantic-core's untyped ``to_json`` infers each value's type, and
asyncpg's UUIDs (a subclass of ``uuid.UUID``) take its slow path, five times
orjson's cost for a page of 50. The bytes are the same as pydantic-core's
(``tests/test_answers.py``): UTC times end in ``Z``, UUIDs are strings, and
any other type orjson does not know goes through pydantic-core's rules.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import Request, Response
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from erp_api.pagination import RowPage

JSON = "application/json"


def answer(
    model: BaseModel | RowPage, *, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """``model`` (or a page of rows) as the JSON body; ``headers`` (``ETag``, ``Location``) kept."""
    if isinstance(model, RowPage):
        body = orjson.dumps(
            {"items": model.items, "next_cursor": model.next_cursor},
            default=_jsonable,
            option=orjson.OPT_UTC_Z,
        )
    else:
        body = model.__pydantic_serializer__.to_json(model)
    return Response(body, status_code=status_code, headers=headers, media_type=JSON)


def _jsonable(value: Any) -> Any:
    """What orjson leaves to us: a UUID subclass (asyncpg's) as its string, the rest as pydantic writes it."""
    if isinstance(value, uuid.UUID):
        return str(value)
    return to_jsonable_python(value)


def path_for(request: Request, name: str, **params: str) -> str:
    """``request.app.url_path_for(name, **params)``: the path of a named route, for a ``Location`` header.

    A path, not a URL built from the request's ``Host`` header, which the
    client controls. Starlette finds the route by walking every route of
    every included router (an exception raised and caught in each that does
    not match) on every call, a cost that grows with each feature; here that
    walk runs once per application, route name and parameter names, with
    each parameter as a ``{name}`` placeholder, and the path is filled in
    from then on.
    """
    templates: dict[tuple[str, frozenset[str]], str] | None = getattr(
        request.app.state, "path_templates", None
    )
    if templates is None:
        templates = request.app.state.path_templates = {}
    key = (name, frozenset(params))
    template = templates.get(key)
    if template is None:
        template = templates[key] = str(request.app.url_path_for(name, **{p: f"{{{p}}}" for p in params}))
    return template.format_map(params)
