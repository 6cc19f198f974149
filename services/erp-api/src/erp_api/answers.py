"""Answering with a model that is already typed: serialised once, never validated again.

FastAPI validates what an endpoint returns against its ``response_model``,
dumping a returned model to a dict and building it anew: for rows that come
typed from the database that is pure cost (the largest share of a list's,
in ``nox -s instructions``). An endpoint that returns a ``Response`` skips
it; :func:`answer` is that response, with the route's ``response_model``
still declared for the OpenAPI document. A :class:`~erp_api.pagination.RowPage`
(a list's rows) is written field by field from the rows' own values.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Response
from pydantic import BaseModel
from pydantic_core import to_json

from erp_api.pagination import RowPage

JSON = "application/json"


def answer(
    model: BaseModel | RowPage, *, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """``model`` (or a page of rows) as the JSON body; ``headers`` (``ETag``, ``Location``) kept."""
    if isinstance(model, RowPage):
        body = to_json({"items": model.items, "next_cursor": model.next_cursor})
    else:
        body = model.__pydantic_serializer__.to_json(model)
    return Response(body, status_code=status_code, headers=headers, media_type=JSON)
