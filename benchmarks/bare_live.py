"""Baseline for ``/healthz/live``: a bare FastAPI app with one route, nothing else.

What a FastAPI tutorial would write; the service's liveness route, with its
whole middleware stack and JSON access log, is measured against this.
"""

from fastapi import FastAPI

app = FastAPI()


@app.get("/healthz/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}
