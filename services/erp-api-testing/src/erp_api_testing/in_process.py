"""The application under test in this process: its lifespan run, an httpx client over ASGI."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

import httpx
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from erp_api.settings import ApiSettings

# A documentation address (RFC 5737): what the access log shows as the client.
CLIENT_ADDRESS = ("203.0.113.7", 51234)

# The type of the plugin's ``make_settings`` fixture: ``make_settings(LOG_LEVEL="DEBUG")``.
MakeSettings = Callable[..., ApiSettings]


@contextlib.asynccontextmanager
async def serve_in_process(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run ``app``'s lifespan and talk to it over ASGI at ``http://testserver``.

    Each request gets a copy of the lifespan state, as uvicorn hands it over
    (httpx's transport sends no lifespan events of its own). The state's
    pools are closed when the block ends.
    """
    async with app.router.lifespan_context(app) as state:

        async def with_state(scope: Scope, receive: Receive, send: Send) -> None:
            scope["state"] = dict(state or {})
            await app(scope, receive, send)

        transport = httpx.ASGITransport(app=with_state, client=CLIENT_ADDRESS)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
