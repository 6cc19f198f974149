import logging

from prometheus_client import REGISTRY

from erp_api import create_app
from erp_api_testing import serve_in_process
from erp_core.testing import capture_logs


async def test_one_access_line_per_request_with_the_contract_fields(client):
    with capture_logs(logging.INFO) as logs:
        response = await client.get("/healthz/live", headers={"X-Request-ID": "access-1"})

    access = [r for r in logs.records if r["logger"] == "erp_api.access"]
    assert len(access) == 1
    line = access[0]
    assert line["method"] == "GET"
    assert line["path"] == "/healthz/live"
    assert line["status_code"] == response.status_code == 200
    assert line["duration_ms"] >= 0
    assert line["client"] == "203.0.113.7:51234"
    assert line["request_id"] == "access-1"
    assert {"timestamp", "level", "logger", "message"} <= set(line)


async def test_error_answers_are_logged_with_their_final_status(client):
    with capture_logs(logging.INFO) as logs:
        await client.get("/nowhere")

    (line,) = [r for r in logs.records if r["logger"] == "erp_api.access"]
    assert line["status_code"] == 404


async def test_a_newline_in_the_path_cannot_start_a_new_log_line(client):
    with capture_logs(logging.INFO) as logs:
        await client.get("/x%0A%7B%22level%22%3A%22CRITICAL%22%7D%0D")

    assert len(logs.lines) == len(logs.records)  # every line parses as one JSON object
    (line,) = [r for r in logs.records if r["logger"] == "erp_api.access"]
    assert line["path"] == '/x\n{"level":"CRITICAL"}\r'
    assert not any(r.get("level") == "CRITICAL" for r in logs.records)


async def test_the_query_string_is_not_logged(client):
    with capture_logs(logging.INFO) as logs:
        await client.get("/healthz/live?token=very-secret")

    service_lines = [line for line, r in zip(logs.lines, logs.records, strict=True) if r["logger"] != "httpx"]
    assert service_lines
    assert "very-secret" not in "\n".join(service_lines)


async def test_probes_can_be_left_out_of_the_access_log_and_are_still_counted(make_settings):
    app = create_app(make_settings(ACCESS_LOG_HEALTH_PROBES="false"))
    counted = REGISTRY.get_sample_value(
        "http_requests_total", {"method": "GET", "route": "/healthz/live", "status": "200"}
    )
    async with serve_in_process(app) as client:
        with capture_logs(logging.INFO) as logs:
            await client.get("/healthz/live")
            await client.get("/healthz/ready")
            await client.get("/nowhere")

    paths = [r["path"] for r in logs.records if r["logger"] == "erp_api.access"]
    assert paths == ["/nowhere"]
    after = REGISTRY.get_sample_value(
        "http_requests_total", {"method": "GET", "route": "/healthz/live", "status": "200"}
    )
    assert after == (counted or 0) + 1
