"""The application factory: settings in, a fully wired FastAPI application out.

Middleware, outermost first (each one pure ASGI, see ``erp_api.middleware``)::

    Starlette ServerErrorMiddleware   (reached only by a failure after the answer started)
    MetricsMiddleware                 Prometheus series by route template, timing every layer below
    RequestIdMiddleware               binds the id for every line logged below
    AccessLogMiddleware               one line per request, with its final status
    SecurityHeadersMiddleware         headers on every answer, errors included
    StrictCORSMiddleware              preflights answered here, with the headers above
    BodyLimitMiddleware               413 problem, inside the headers
    ServerErrorMiddleware (ours)      unhandled exception -> 500 problem, inside the headers
    FastAPI ExceptionMiddleware       HTTPException / validation / DomainError /
                                      unforeseen unique or foreign-key violation -> problem answers
    routes                            /healthz/*, API_V1_PREFIX/*
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from importlib import metadata
from typing import TypeAlias

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from erp_api.errors import DomainError
from erp_api.features.identity import document_token_url
from erp_api.lifespan import lifespan_for
from erp_api.middleware.access_log import AccessLogMiddleware
from erp_api.middleware.body_limit import BodyLimitMiddleware
from erp_api.middleware.cors import ALLOWED_HEADERS, ALLOWED_METHODS, EXPOSED_HEADERS, StrictCORSMiddleware
from erp_api.middleware.metrics import MetricsMiddleware
from erp_api.middleware.request_id import RequestIdMiddleware
from erp_api.middleware.security_headers import SecurityHeadersMiddleware
from erp_api.middleware.server_errors import ServerErrorMiddleware
from erp_api.openapi import install_openapi, operation_id
from erp_api.problems import (
    domain_error_handler,
    http_exception_handler,
    integrity_error_handler,
    validation_exception_handler,
)
from erp_api.routes.api_v1 import include_api_v1
from erp_api.routes.health import HEALTH_PATHS, add_health_routes
from erp_api.settings import ApiSettings
from erp_api.tenancy import refusal_of_unsettled_claim
from erp_api.tracing_switch import tracing_requested
from erp_core import Environment, configure_logging

DOCS_URL, REDOC_URL, OPENAPI_URL = "/docs", "/redoc", "/openapi.json"
ExceptionHandler: TypeAlias = Callable[[Request, Exception], Awaitable[Response]]


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """Build the service; with no ``settings``, read them from the environment (and ``.env``).

    Configures logging for in-process use (a test, a notebook); under
    ``erp-api serve`` uvicorn has already applied the same configuration.
    Nothing connects here: the lifespan creates the pools, lazily.
    """
    settings = settings if settings is not None else ApiSettings()
    configure_logging(settings.log_level, settings.log_format)
    # AccessLogMiddleware writes the one access line per request (docs/contract.md §7).
    # The configuration just applied lets uvicorn's own access logger reach
    # the root handler again (`erp-api serve` had switched it off): it would
    # add a second line per request, its query string (tokens) included.
    logging.getLogger("uvicorn.access").propagate = False
    # DEBUG_MODE shows SQL in the log, through our handler (SQLAlchemy's own
    # `echo` would add a second, differently formatted stream).
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO if settings.debug_mode else logging.WARNING)

    public_docs = settings.environment is not Environment.PRODUCTION
    app = FastAPI(
        title=settings.app_name,
        version=metadata.version("erp-api"),
        lifespan=lifespan_for(settings),
        docs_url=DOCS_URL if public_docs else None,
        redoc_url=REDOC_URL if public_docs else None,
        openapi_url=OPENAPI_URL if public_docs else None,
        generate_unique_id_function=operation_id,
        # FastAPI's own OpenTelemetry hooks stay off: erp_api.tracing instruments
        # the application when asked to, and the check costs every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_openapi(app)

    app.add_exception_handler(StarletteHTTPException, _claim_first(http_exception_handler))
    app.add_exception_handler(RequestValidationError, _claim_first(validation_exception_handler))
    app.add_exception_handler(DomainError, _claim_first(domain_error_handler))
    app.add_exception_handler(IntegrityError, _claim_first(integrity_error_handler))

    add_health_routes(app)
    include_api_v1(app, settings.api_v1_prefix)
    document_token_url(app, settings.api_v1_prefix)

    # add_middleware wraps: the last one added is the outermost.
    app.add_middleware(ServerErrorMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_request_body_bytes)
    app.add_middleware(
        StrictCORSMiddleware,
        allow_origins=settings.cors_allowed_origins,
        allow_credentials=settings.cors_allow_credentials,
        allow_methods=ALLOWED_METHODS,
        allow_headers=ALLOWED_HEADERS,
        expose_headers=EXPOSED_HEADERS,
    )
    app.add_middleware(
        SecurityHeadersMiddleware,
        hsts=settings.environment.is_deployed,
        docs_paths=frozenset({DOCS_URL, REDOC_URL, f"{DOCS_URL}/oauth2-redirect"})
        if public_docs
        else frozenset(),
    )
    app.add_middleware(
        AccessLogMiddleware,
        unlogged_paths=frozenset() if settings.access_log_health_probes else HEALTH_PATHS,
    )
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(MetricsMiddleware)
    if tracing_requested():
        _install_tracing(app, settings)
    return app


def _install_tracing(app: FastAPI, settings: ApiSettings) -> None:
    try:
        # Imported only when asked for (docs/contract.md §12): the `tracing` extra.
        from erp_api.tracing import install_tracing
    except ImportError as exc:
        raise RuntimeError(
            "OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_TRACES_EXPORTER is set, but tracing needs "
            f"the erp-api[tracing] extra installed ({exc})"
        ) from exc
    install_tracing(app, settings)


def _claim_first(handler: ExceptionHandler) -> ExceptionHandler:
    """``handler``, after the refusal of a create's claim that its statement never settled, if any.

    A create route checks its caller in its ``INSERT``
    (:func:`erp_api.tenancy.organization_claim`); an error raised before
    that statement ran is answered as the claim's refusal when there is
    one, so that a non-member gets 404 (not the 422 of their body).
    """

    async def handle(request: Request, exc: Exception) -> Response:
        refusal = await refusal_of_unsettled_claim(request)
        if refusal is not None:
            return await domain_error_handler(request, refusal)
        return await handler(request, exc)

    return handle
