"""OpenTelemetry traces (docs/contract.md §12), each case in a fresh interpreter.

A subprocess per case: whether a module was imported is a property of the
whole process, and the instrumentations patch libraries process-wide.

"Not imported" means the tracing SDK, the exporter, the instrumentations and
:mod:`erp_api.tracing`: FastAPI 0.16x imports the ``opentelemetry`` API for
its own (idle) telemetry, and redis-py 8 imports the SDK's metrics part
whenever the SDK is installed; neither records anything here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from erp_api.tracing_switch import tracing_requested

NOT_IMPORTED_WHEN_OFF = textwrap.dedent(
    """
    import asyncio, json, sys
    from erp_api import ApiSettings, create_app
    from erp_api_testing import serve_in_process

    async def main():
        async with serve_in_process(create_app(ApiSettings())) as client:
            assert (await client.get("/healthz/live")).status_code == 200
            assert (await client.get("/healthz/ready")).status_code == 200
    asyncio.run(main())
    loaded = [
        name for name in sys.modules
        if name.startswith(
            ("opentelemetry.sdk.trace", "opentelemetry.instrumentation", "opentelemetry.exporter")
        )
        or name == "erp_api.tracing"
    ]
    print("RESULT " + json.dumps(loaded))
    """
)

TRACED_REQUESTS = textwrap.dedent(
    """
    import asyncio, json, logging
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from sqlalchemy import text

    import erp_api.tracing
    from erp_api import ApiSettings, RedisDep, SessionDep, create_app
    from erp_api_testing import serve_in_process

    exporter = InMemorySpanExporter()
    install = erp_api.tracing.install_tracing
    erp_api.tracing.install_tracing = lambda app, settings: install(
        app, settings, span_processor=SimpleSpanProcessor(exporter)
    )

    async def traced(session: SessionDep, redis: RedisDep) -> dict[str, str]:
        await session.execute(text("SELECT 1"))
        await redis.ping()
        logging.getLogger("erp_api.tracing_test").info("inside the request")
        return {}

    app = create_app(ApiSettings())
    app.add_api_route("/traced", traced)

    async def main():
        async with serve_in_process(app) as client:
            assert (await client.get("/healthz/live")).status_code == 200
            assert (await client.get("/healthz/ready")).status_code == 200
            response = await client.get("/traced", headers={"X-Request-ID": "trace-test-1"})
            assert response.status_code == 200, response.text
    asyncio.run(main())
    spans = [
        {
            "name": span.name,
            "kind": span.kind.name,
            "trace_id": format(span.context.trace_id, "032x"),
            "span_id": format(span.context.span_id, "016x"),
            "parent": format(span.parent.span_id, "016x") if span.parent else None,
            "attributes": {key: str(value) for key, value in span.attributes.items()},
            "service": span.resource.attributes["service.name"],
        }
        for span in exporter.get_finished_spans()
    ]
    print("RESULT " + json.dumps(spans))
    """
)


def run_case(script: str, env: dict[str, str]) -> tuple[object, list[dict[str, object]]]:
    keep = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    finished = subprocess.run(
        [sys.executable, "-c", script], env={**keep, **env}, capture_output=True, text=True, timeout=120
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    lines = finished.stdout.splitlines()
    result = next(line for line in lines if line.startswith("RESULT "))
    records = [json.loads(line) for line in lines if line.startswith("{")]
    return json.loads(result.removeprefix("RESULT ")), records


@pytest.fixture
def service_env(erp_db_url, redis_url):
    return {
        "ENVIRONMENT": "test",
        "APP_NAME": "erp-api-trace-test",
        "DATABASE_URL": erp_db_url,
        "APP_CACHE_REDIS_URL": redis_url,
    }


def test_without_otel_variables_no_tracing_module_is_imported(service_env):
    loaded, _ = run_case(NOT_IMPORTED_WHEN_OFF, service_env)
    assert loaded == []


def test_a_request_is_one_server_span_with_sql_and_redis_children_and_its_logs_carry_the_ids(service_env):
    spans, records = run_case(TRACED_REQUESTS, {**service_env, "OTEL_TRACES_EXPORTER": "console"})

    servers = [span for span in spans if span["kind"] == "SERVER"]
    assert len(servers) == 1, "one server span, and none for the probes"
    server = servers[0]
    assert server["attributes"]["http.request.id"] == "trace-test-1"
    assert server["attributes"].get("http.route") == "/traced"
    assert server["service"] == "erp-api-trace-test"
    children = [span for span in spans if span is not server]
    assert all(span["trace_id"] == server["trace_id"] for span in children), "the probes' SQL is not traced"
    assert not [span for span in children if span["kind"] == "INTERNAL" and "http" in span["name"]], (
        "no per-message send/receive spans"
    )
    assert any(span["kind"] == "CLIENT" and "SELECT" in span["name"] for span in children), spans
    assert any(span["kind"] == "CLIENT" and span["name"] == "PING" for span in children)

    inside = next(record for record in records if record["message"] == "inside the request")
    assert inside["trace_id"] == server["trace_id"]
    access = next(record for record in records if record.get("path") == "/traced")
    assert access["trace_id"] == server["trace_id"]
    assert access["span_id"] == server["span_id"]
    live = next(record for record in records if record.get("path") == "/healthz/live")
    assert "trace_id" not in live


@pytest.mark.parametrize(
    ("environ", "requested"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "x", "OTEL_TRACES_SAMPLER": "always_on"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, False),
    ],
)
def test_tracing_is_on_only_when_otel_variables_ask_for_it(environ, requested):
    assert tracing_requested(environ) is requested
