"""OpenTelemetry traces (docs/contract.md §12), from the ``erp-api[tracing]`` extra.

Imported by :func:`erp_api.app.create_app` only when
:func:`erp_api.tracing_switch.tracing_requested` says OpenTelemetry's own variables
ask for traces; otherwise neither the SDK, the exporter nor an
instrumentation is imported. (FastAPI 0.16x itself imports the
``opentelemetry`` API for its native telemetry, idle without a tracer
provider and replaced by the instrumentation below when tracing is on; redis-py
8 imports the SDK's metrics part whenever the SDK is installed.)

What a trace holds: one server span per request, without a child span per
ASGI ``send``/``receive`` message; child spans for each SQL statement and
Redis command; the request id as the ``http.request.id`` attribute. The
health probes are not traced. Sampling, the exporter's endpoint, headers
and batching are OpenTelemetry's standard ``OTEL_*`` variables, read by the
SDK itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from erp_api.middleware.request_id import RequestIdMiddleware
from erp_api.routes.health import HEALTH_PATHS, PREFIX
from erp_api.settings import ApiSettings
from erp_core import get_request_id

READY_PATH = f"{PREFIX}/ready"
# Regexes searched in the URL without its query (the instrumentation's format). The probes
# never reach the instrumentation (see _route_probes_around_the_instrumentation); kept as a guard.
EXCLUDED_URLS = ",".join(f"{re.escape(path)}$" for path in sorted(HEALTH_PATHS))
REQUEST_ID_ATTRIBUTE = "http.request.id"


class TraceContextFilter(logging.Filter):
    """Adds ``trace_id`` and ``span_id`` (hex) to each record written inside a recording span.

    Attached to the root logger's handlers, like the request-id filter, so
    every logger's records get them.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        return True


class RequestTraceMiddleware:
    """Just inside :class:`RequestIdMiddleware`: puts the request id on the request's server span."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        span = trace.get_current_span()
        request_id = get_request_id()
        if request_id is not None and span.is_recording():
            span.set_attribute(REQUEST_ID_ATTRIBUTE, request_id)
        await self.app(scope, receive, send)


def exporter_from_environment() -> SpanExporter:
    """The exporter ``OTEL_TRACES_EXPORTER`` names: ``otlp`` (the default, over HTTP) or ``console``."""
    names = {name.strip() for name in os.environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",")}
    if names <= {"otlp", "otlp_proto_http"}:
        return OTLPSpanExporter()  # endpoint, headers, timeout: OTEL_EXPORTER_OTLP_* variables
    if names == {"console"}:
        return ConsoleSpanExporter()
    raise ValueError(f"OTEL_TRACES_EXPORTER: unsupported value(s) {sorted(names)}; use otlp or console")


def install_tracing(
    app: FastAPI, settings: ApiSettings, *, span_processor: SpanProcessor | None = None
) -> TracerProvider:
    """Trace ``app`` and the SQL and Redis calls it makes; ``span_processor`` replaces the exporter (tests).

    The provider becomes the global one when none is set yet (a process
    serves one application); the instrumentations get it explicitly.
    """
    service_name = os.environ.get("OTEL_SERVICE_NAME") or settings.app_name
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    provider.add_span_processor(span_processor or BatchSpanProcessor(exporter_from_environment()))
    trace.set_tracer_provider(provider)

    build_untraced = app.build_middleware_stack
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, excluded_urls=EXCLUDED_URLS, exclude_spans=["send", "receive"]
    )
    _route_probes_around_the_instrumentation(app, build_untraced)
    redis = RedisInstrumentor()
    if not redis.is_instrumented_by_opentelemetry:
        redis.instrument(tracer_provider=provider)
    # Just inside the request-id middleware: the id is bound, the server span current.
    position = next(
        index
        for index, middleware in enumerate(app.user_middleware)
        if middleware.cls is RequestIdMiddleware  # type: ignore[comparison-overlap]
    )
    app.user_middleware.insert(position + 1, Middleware(RequestTraceMiddleware))
    for handler in logging.getLogger().handlers:
        handler.addFilter(TraceContextFilter())

    # The engine is created by the lifespan: instrument it there, and flush the
    # spans still batched when the application stops.
    lifespan = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def traced_lifespan(app: FastAPI) -> AsyncIterator[Mapping[str, Any] | None]:
        async with lifespan(app) as state:
            engine = state.get("engine") if state else None
            if isinstance(engine, AsyncEngine):
                # The instrumentation (0.5xb) declares sqlalchemy < 2.1 and would do
                # nothing on 2.1; its engine events are unchanged there (tested).
                SQLAlchemyInstrumentor().instrument(
                    engine=engine.sync_engine, tracer_provider=provider, skip_dep_check=True
                )
            try:
                yield state
            finally:
                provider.shutdown()

    app.router.lifespan_context = traced_lifespan  # type: ignore[assignment]  # same shape, None or state
    return provider


def _route_probes_around_the_instrumentation(app: FastAPI, build_untraced: Callable[[], ASGIApp]) -> None:
    """Send the health probes to a middleware stack without the instrumentation's layers.

    The FastAPI instrumentation wraps the whole stack in four layers (two
    ``ServerErrorMiddleware``, its own middleware, an exception recorder) that
    an excluded URL still passes through: 1.5 x the CPU of an untraced probe,
    measured (``benchmarks/``). The probes get the same stack as without
    tracing (the same middleware, the same routes) instead; the readiness
    probe's SQL and Redis calls run with instrumentation suppressed, so they
    start no trace of their own (its checks' tasks inherit that context).
    """
    build_traced = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        traced, untraced = build_traced(), build_untraced()

        async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
            path = scope.get("path")
            if path == READY_PATH:
                with suppress_instrumentation():
                    await untraced(scope, receive, send)
            elif path in HEALTH_PATHS:
                await untraced(scope, receive, send)
            else:
                await traced(scope, receive, send)

        return dispatch

    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]
