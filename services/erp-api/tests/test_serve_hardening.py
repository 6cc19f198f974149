"""Hostile input and signals against `erp-api serve` as a real process (issue 11's serve points).

Each test talks to uvicorn over real sockets: the request-head bound lives in
the HTTP protocol, the log lines and the shutdown deadline in uvicorn's own
code, none of which an in-process client reaches.
"""

import contextlib
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from erp_api.http_protocol import MAX_REQUEST_HEAD_BYTES
from erp_api_testing import ServiceProcess

SERVE_WITH_TEST_ROUTES = [sys.executable, str(Path(__file__).with_name("serve_with_test_routes.py")), "serve"]


def _env(erp_db_url: str, redis_url: str, **overrides: str) -> dict[str, str]:
    return {"ENVIRONMENT": "test", "DATABASE_URL": erp_db_url, "APP_CACHE_REDIS_URL": redis_url, **overrides}


@pytest.fixture(scope="module")
def service(erp_db_url, redis_url, tmp_path_factory) -> Iterator[ServiceProcess]:
    env = _env(erp_db_url, redis_url)
    with ServiceProcess(env, tmp_path_factory.mktemp("serve"), command=SERVE_WITH_TEST_ROUTES) as service:
        yield service


def _exchange(port: int, request: bytes, timeout_s: float = 10.0) -> bytes:
    """Send ``request`` over a fresh connection; everything the server sends until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as connection:
        with contextlib.suppress(ConnectionResetError):  # refused mid-send: the answer is still readable
            connection.sendall(request)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
        return received


def _head(extra_header_bytes: int) -> bytes:
    return (
        b"GET /healthz/live HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
        + b"X-Padding: "
        + b"a" * extra_header_bytes
        + b"\r\n\r\n"
    )


@pytest.mark.parametrize("header_bytes", [MAX_REQUEST_HEAD_BYTES, 8 * 1024 * 1024])
def test_a_request_head_over_the_bound_is_a_431_problem_and_a_closed_connection(service, header_bytes):
    answer = _exchange(service.port, _head(header_bytes))

    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in header_lines)
    assert status_line == "HTTP/1.1 431 Request Header Fields Too Large"
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    assert headers["x-content-type-options"] == "nosniff"
    problem = json.loads(body)
    assert (problem["status"], problem["title"]) == (431, "Request Header Fields Too Large")
    assert problem["request_id"] == headers["x-request-id"]


def test_a_request_head_within_the_bound_is_served(service):
    answer = _exchange(service.port, _head(MAX_REQUEST_HEAD_BYTES - 200))

    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")


def test_the_head_bound_counts_one_request_at_a_time_on_a_kept_alive_connection(service):
    # Ten heads of 10 KiB each on one connection: 100 KiB in all, each one within the bound.
    with httpx.Client(base_url=service.base_url) as client:
        for _ in range(10):
            response = client.get("/healthz/live", headers={"X-Padding": "a" * 10_240})
            assert response.status_code == 200


@pytest.mark.parametrize("code", [204, 304])
def test_an_http_exception_without_content_keeps_the_connection_alive(service, code):
    with httpx.Client(base_url=service.base_url) as client:
        response = client.get(f"/test/status/{code}")
        assert (response.status_code, response.content) == (code, b"")
        assert response.headers["etag"] == '"1"'
        # The same connection serves the next request: no "Content-Length" mismatch broke it.
        assert client.get("/healthz/live").status_code == 200
        assert client.get(f"/test/status/{code}").status_code == code

    records = service.log_records()
    assert not [r for r in records if "Response content longer" in json.dumps(r)]


def test_uvicorns_exception_line_carries_the_request_id(service):
    with httpx.Client(base_url=service.base_url) as client, pytest.raises(httpx.RemoteProtocolError):
        client.get("/test/stream-fails", headers={"X-Request-ID": "stream-fails-1"})

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [r for r in service.log_records() if r["message"].startswith("Exception in ASGI application")]
        if lines:
            break
        time.sleep(0.1)
    assert [line["request_id"] for line in lines] == ["stream-fails-1"]
    assert all(r["request_id"] == "stream-fails-1" for r in service.log_records() if r["level"] == "ERROR")


@contextlib.contextmanager
def probing_liveness(service: ServiceProcess) -> Iterator[list[float]]:
    """Polls /healthz/live from a thread while the block runs; yields each probe's duration."""
    stalls: list[float] = []
    done = threading.Event()

    def probe_live() -> None:
        with httpx.Client(base_url=service.base_url, timeout=10) as client:
            while not done.is_set():
                started = time.monotonic()
                client.get("/healthz/live")
                stalls.append(time.monotonic() - started)
                time.sleep(0.02)

    prober = threading.Thread(target=probe_live)
    prober.start()
    try:
        time.sleep(0.2)
        yield stalls
        time.sleep(0.2)
    finally:
        done.set()
        prober.join()


def _post_json(service: ServiceProcess, body: bytes) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.post(
        f"{service.base_url}/test/numbers",
        content=body,
        headers={"content-type": "application/json"},
        timeout=30,
    )
    return response, time.monotonic() - started


def test_a_1_mib_list_of_bad_items_neither_stalls_liveness_nor_answers_megabytes(service, record_property):
    body = json.dumps(["x"] * 262_000, separators=(",", ":")).encode()
    assert len(body) <= 1024 * 1024  # within MAX_REQUEST_BODY_BYTES: only the values are too many
    with probing_liveness(service) as stalls:
        response, elapsed = _post_json(service, body)

    record_property("hardening", f"1 MiB bad list: {response.status_code} in {elapsed:.3f} s, "
                    f"longest /healthz/live {max(stalls):.3f} s over {len(stalls)} probes")  # fmt: skip
    assert response.status_code == 413
    assert len(response.content) < 1024
    assert max(stalls) < 0.5  # a kubelet probe gives up after 1 s


def test_the_largest_list_within_the_value_bound_keeps_liveness_within_a_probe_timeout(
    service, record_property
):
    body = json.dumps(["x"] * 10_000).encode()
    with probing_liveness(service) as stalls:
        response, elapsed = _post_json(service, body)

    record_property(
        "hardening", f"10,000 bad items: 422 in {elapsed:.3f} s, longest live {max(stalls):.3f} s"
    )
    assert response.status_code == 422
    assert (len(response.json()["errors"]), response.json()["errors_total"]) == (20, 10_000)
    assert max(stalls) < 1.0


def test_a_request_cut_at_the_shutdown_deadline_gets_the_503_problem(erp_db_url, redis_url, tmp_path):
    env = _env(erp_db_url, redis_url, SHUTDOWN_TIMEOUT_S="1")
    answer: list[httpx.Response] = []
    with ServiceProcess(env, tmp_path, command=SERVE_WITH_TEST_ROUTES) as service:

        def call_slow() -> None:
            with httpx.Client(base_url=service.base_url, timeout=30) as client:
                answer.append(
                    client.get("/test/slow", params={"seconds": 20}, headers={"X-Request-ID": "cut-1"})
                )

        caller = threading.Thread(target=call_slow)
        caller.start()
        time.sleep(0.5)  # the request is in flight
        exit_status = service.stop()
        caller.join()

    (response,) = answer
    assert exit_status == 0, service.log_tail()
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "cut-1"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.json()["detail"] == "The server is shutting down; retry the request"
    access = [
        r for r in service.log_records() if r["logger"] == "erp_api.access" and r["path"] == "/test/slow"
    ]
    assert [(r["status_code"], r["request_id"]) for r in access] == [(503, "cut-1")]
