"""Answering with a model that is already typed: serialised once, never validated again.

FastAPI validates what an endpoint returns against its ``response_model``,
dumping a returned model to a dict and building it anew: for rows that come
typed from the database that is pure cost (the largest share of a list's,
in ``nox -s instructions``). An endpoint that returns a ``Response`` skips
it; :func:`answer` is that response, with the route's ``response_model``
still declared for the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Response
from pydantic import BaseModel

JSON = "application/json"


def answer(model: BaseModel, *, status_code: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """``model`` as the JSON body of the answer (``headers`` such as ``ETag`` and ``Location`` kept)."""
    return Response(model.model_dump_json(), status_code=status_code, headers=headers, media_type=JSON)
