"""ServerErrorMiddleware over a bare ASGI app: an unhandled exception becomes the 500 problem."""

import asyncio
import json
import logging

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from erp_api.middleware.server_errors import ServerErrorMiddleware
from erp_core.testing import capture_logs


async def _fails_before_answering(scope: Scope, receive: Receive, send: Send) -> None:
    raise KeyError("internal detail")


async def _fails_midway(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    raise KeyError("internal detail")


async def test_an_exception_before_the_answer_is_a_500_problem_and_a_logged_traceback():
    transport = httpx.ASGITransport(app=ServerErrorMiddleware(_fails_before_answering))
    with capture_logs(logging.ERROR) as logs:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/x")

    assert response.status_code == 500
    assert response.json()["title"] == "Internal Server Error"
    assert "internal detail" not in response.text
    (record,) = logs.records
    assert "KeyError: 'internal detail'" in record["exc_info"]


async def test_an_exception_after_the_answer_started_is_logged_and_reraised_for_the_server():
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/x", "headers": []}
    with capture_logs(logging.ERROR) as logs, pytest.raises(KeyError):
        await ServerErrorMiddleware(_fails_midway)(scope, receive, send)

    assert [message["type"] for message in sent] == ["http.response.start"]
    assert len(logs.records) == 1


async def test_a_request_cancelled_before_answering_gets_the_503_problem_and_the_cancellation_goes_on():
    # What uvicorn does at the graceful-shutdown deadline: cancel the request's task.
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(60)

    scope = {"type": "http", "method": "GET", "path": "/slow", "headers": []}
    task = asyncio.create_task(ServerErrorMiddleware(slow)(scope, receive, send))
    await asyncio.sleep(0.01)
    with capture_logs(logging.WARNING) as logs:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    start, body = sent
    assert start["status"] == 503
    assert (b"content-type", b"application/problem+json") in start["headers"]
    assert json.loads(body["body"])["detail"] == "The server is shutting down; retry the request"
    assert [record["level"] for record in logs.records] == ["WARNING"]


async def test_a_request_cancelled_after_answering_is_left_to_the_server():
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def started_then_slow(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.sleep(60)

    scope = {"type": "http", "method": "GET", "path": "/slow", "headers": []}
    task = asyncio.create_task(ServerErrorMiddleware(started_then_slow)(scope, None, send))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert [message["type"] for message in sent] == ["http.response.start"]
