"""``erp-api serve`` with routes only tests need, added to the real application factory.

Run as ``python serve_with_test_routes.py serve --host … --port …`` (one
worker): uvicorn imports ``erp_api.app:create_app`` by name in this very
process, so replacing the attribute before :func:`erp_api.cli.main` runs
serves the real stack, middleware and protocol included, plus these routes.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.responses import StreamingResponse

import erp_api.app
from erp_api import ApiSettings
from erp_api.cli import main

_real_create_app = erp_api.app.create_app


def _test_routes() -> APIRouter:
    router = APIRouter(prefix="/test")

    @router.post("/numbers")
    async def numbers(items: list[int]) -> int:
        return len(items)

    @router.get("/status/{code}")
    async def status(code: int) -> None:
        raise HTTPException(code, headers={"ETag": '"1"'})

    @router.get("/slow")
    async def slow(seconds: float) -> dict[str, str]:
        await asyncio.sleep(seconds)
        return {"status": "done"}

    @router.get("/stream-fails")
    async def stream_fails() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"first chunk\n"
            raise RuntimeError("failed after the answer started")

        return StreamingResponse(chunks(), media_type="text/plain")

    return router


def create_app_with_test_routes(settings: ApiSettings | None = None) -> FastAPI:
    app = _real_create_app(settings)
    app.include_router(_test_routes())
    return app


if __name__ == "__main__":
    erp_api.app.create_app = create_app_with_test_routes
    sys.exit(main())
