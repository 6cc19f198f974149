"""The ``API_V1_PREFIX`` router: feature routers (organisations, ledgers, …) are included here."""

from __future__ import annotations

from fastapi import APIRouter

from erp_api.features import identity, organizations


def api_v1_router() -> APIRouter:
    """A fresh router per application, so two apps in one process never share routes."""
    router = APIRouter()
    router.include_router(identity.router)
    router.include_router(organizations.router)
    return router
