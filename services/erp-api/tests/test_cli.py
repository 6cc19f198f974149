"""`erp-api serve` as a real process: readiness, logs on stdout, SIGTERM exits 0."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from erp_core.testing import free_port

ERP_API = str(Path(sys.executable).parent / "erp-api")


def _env(**values: str) -> dict[str, str]:
    keep = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    return {**keep, "ENVIRONMENT": "test", **values}


def _wait_ready(port: int, process: subprocess.Popen, deadline_s: float = 30) -> httpx.Response:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        assert process.poll() is None, "erp-api serve exited before answering"
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/healthz/ready", timeout=5)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("erp-api serve never became ready")


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_answers_ready_logs_json_and_exits_0_on_sigterm(erp_db_url, redis_url, tmp_path, workers):
    port = free_port()
    env = _env(DATABASE_URL=erp_db_url, APP_CACHE_REDIS_URL=redis_url, APP_NAME="erp-api-cli-test")
    stdout_path = tmp_path / "stdout.log"
    with stdout_path.open("wb") as stdout:
        process = subprocess.Popen(
            [ERP_API, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
            env=env, stdout=stdout, stderr=subprocess.PIPE, cwd=tmp_path,
        )  # fmt: skip
        try:
            ready = _wait_ready(port, process)
            live = httpx.get(
                f"http://127.0.0.1:{port}/healthz/live?token=cli-secret", headers={"X-Request-ID": "cli-1"}
            )
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=30)

    assert ready.json()["status"] == "ok"
    assert "server" not in ready.headers
    assert live.headers["x-request-id"] == "cli-1"
    assert process.returncode == 0, stderr.decode()
    lines = stdout_path.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every stdout line is one JSON object
    # One access line per request, ours: uvicorn's would be a second, with the query string.
    assert [r["logger"] for r in records if r.get("request_id") == "cli-1"] == ["erp_api.access"]
    assert "cli-secret" not in stdout_path.read_text()
    assert any(r["logger"].startswith("uvicorn") for r in records)
    assert stderr.decode().strip() == ""


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
