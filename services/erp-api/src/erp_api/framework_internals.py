"""Every read of a FastAPI or uvicorn name that is not public API, in one place.

Each is undocumented and may move in any minor release (FastAPI is 0.x);
``services/erp-api/pyproject.toml`` pins the minor lines the tests ran, and
``tests/test_framework_internals.py`` fails naming the internal when one is
gone or changed shape. The rest of erp_api imports these from here.

- ``scope["fastapi_function_astack"]`` (FastAPI 0.118+): the request's
  function-scoped :class:`~contextlib.AsyncExitStack`, closed when the
  endpoint returns or raises, before the answer is sent and inside the
  exception handlers. The unit of work (:func:`erp_api.get_db_session`) is
  entered on it so that a failed commit is an error answer, never a 2xx
  (docs/contract.md §8); FastAPI offers no public handle on it.
- ``scope["fastapi"]["effective_route_context"].path_format`` (FastAPI 0.16x):
  the full template of a route of an included router, prefixes and all.
  ``scope["route"]`` then holds the route as written in its ``APIRouter``,
  without the prefixes; the metrics label requests by the full template
  (docs/contract.md §12).
- ``uvicorn.protocols.http.httptools_impl.HttpToolsProtocol``: the protocol
  class ``erp-api serve`` extends to bound the request head
  (:mod:`erp_api.http_protocol`), relying on its httptools callbacks
  ``data_received``, ``on_headers_complete`` and ``on_message_complete``, and
  on its attributes ``app_state`` (the lifespan state), ``server_state``
  (``default_headers``: ``Server``, ``Date``) and ``transport``. uvicorn
  documents the ``--http`` choice, not the classes behind it.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any, Final

from starlette.types import Scope
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

FUNCTION_STACK: Final = "fastapi_function_astack"
FASTAPI_SCOPE: Final = "fastapi"
EFFECTIVE_ROUTE_CONTEXT: Final = "effective_route_context"

__all__ = ["FUNCTION_STACK", "HttpToolsProtocol", "function_exit_stack", "included_route_template"]


def function_exit_stack(scope: Scope) -> AsyncExitStack:
    """FastAPI's function-scoped exit stack of the request; RuntimeError when FastAPI gave none."""
    stack = scope.get(FUNCTION_STACK)
    if not isinstance(stack, AsyncExitStack):
        raise RuntimeError(f"no {FUNCTION_STACK} in the request scope: FastAPI 0.118 or later runs this")
    return stack


def included_route_template(scope: Scope) -> str | None:
    """The full template of the route FastAPI dispatched ``scope`` to, or None where it kept none."""
    fastapi_scope: Any = scope.get(FASTAPI_SCOPE)
    if not fastapi_scope:
        return None
    template = getattr(fastapi_scope.get(EFFECTIVE_ROUTE_CONTEXT), "path_format", None)
    return str(template) if template else None
