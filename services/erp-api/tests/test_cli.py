"""`erp-api serve` as a real process: readiness, logs on stdout, SIGTERM exits 0."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from erp_api_testing import ServiceProcess
from erp_core.testing import free_port

ERP_API = str(Path(sys.executable).parent / "erp-api")


def _env(**values: str) -> dict[str, str]:
    keep = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    # METRICS_PORT: a free one, the default 9464 would collide with a neighbour's serve.
    return {**keep, "ENVIRONMENT": "test", "METRICS_PORT": str(free_port()), **values}


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_answers_ready_logs_json_and_exits_0_on_sigterm(erp_db_url, redis_url, tmp_path, workers):
    env = {"ENVIRONMENT": "test", "DATABASE_URL": erp_db_url, "APP_CACHE_REDIS_URL": redis_url,
           "APP_NAME": "erp-api-cli-test"}  # fmt: skip
    service = ServiceProcess(env, tmp_path, workers=workers).start()
    try:
        ready = service.wait_for("/healthz/ready", 200)
        live = httpx.get(
            f"{service.base_url}/healthz/live?token=cli-secret", headers={"X-Request-ID": "cli-1"}
        )
    finally:
        exit_status = service.stop()

    assert ready.json()["status"] == "ok"
    assert "server" not in ready.headers
    assert live.headers["x-request-id"] == "cli-1"
    assert exit_status == 0, service.log_tail()
    records = service.log_records()  # every stdout line is one JSON object
    # One access line per request, ours: uvicorn's would be a second, with the query string.
    assert [r["logger"] for r in records if r.get("request_id") == "cli-1"] == ["erp_api.access"]
    assert "cli-secret" not in service.log_path.read_text()
    assert any(r["logger"].startswith("uvicorn") for r in records)
    assert service.stderr_text().strip() == ""


def test_bad_configuration_stops_before_listening_naming_the_variable(tmp_path):
    port = free_port()
    env = _env(DATABASE_URL="postgresql://erp:pw-cli-secret@db/erp", REDIS_PORT="six", LOG_LEVEL="LOUD")
    result = subprocess.run(
        [ERP_API, "serve", "--port", str(port)], env=env, capture_output=True, text=True, timeout=30,
        cwd=tmp_path,
    )  # fmt: skip

    assert result.returncode != 0
    assert "REDIS_PORT" in result.stderr
    assert "LOG_LEVEL" in result.stderr
    assert "pw-cli-secret" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # nothing listens


@pytest.mark.parametrize("argument", [["--port", "99999"], ["--port", "http"], ["--workers", "0"]])
def test_out_of_range_arguments_are_refused(argument, tmp_path):
    result = subprocess.run(
        [ERP_API, "serve", *argument], env=_env(DATABASE_URL="postgresql://erp@db/erp"),
        capture_output=True, text=True, timeout=30, cwd=tmp_path,
    )  # fmt: skip

    assert result.returncode == 2
    assert argument[0] in result.stderr
