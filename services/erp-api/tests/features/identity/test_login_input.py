"""Bad input to POST /auth/token: a problem answer each, never a 500, nothing echoed (docs/contract.md §9)."""

from __future__ import annotations

import time

import httpx

from erp_api_testing.identity import unique_email

TOKEN = "/api/v1/auth/token"
SECRET = "s3cret-Passw0rd"


async def test_malformed_forms_are_422_problems_that_quote_nothing(client: httpx.AsyncClient) -> None:
    email = unique_email()
    bodies = {
        "no fields": {},
        "no password": {"username": email},
        "no username": {"password": SECRET},
        "username not an email": {"username": "root' OR 1=1 --", "password": SECRET},
        "empty password": {"username": email, "password": ""},
        "over-long password": {"username": email, "password": SECRET * 20},
        "another grant type": {"username": email, "password": SECRET, "grant_type": "client_credentials"},
    }
    for name, form in bodies.items():
        response = await client.post(TOKEN, data=form)

        assert response.status_code == 422, name
        assert response.headers["content-type"] == "application/problem+json", name
        assert SECRET not in response.text, name
        assert "OR 1=1" not in response.text, name


async def test_a_body_that_is_not_a_form_is_a_problem_not_a_500(client: httpx.AsyncClient) -> None:
    answers = [
        await client.post(TOKEN, json={"username": unique_email(), "password": SECRET}),
        await client.post(
            TOKEN,
            content=b"\xff\xfe\x00garbage",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
        await client.post(
            TOKEN, content=b"--x\r\nbroken", headers={"Content-Type": "multipart/form-data; boundary=x"}
        ),
    ]

    for answer in answers:
        assert 400 <= answer.status_code < 500
        assert answer.headers["content-type"] == "application/problem+json"
        assert SECRET not in answer.text


async def test_a_huge_password_is_refused_before_any_hashing(client: httpx.AsyncClient) -> None:
    started = time.perf_counter()
    response = await client.post(TOKEN, data={"username": unique_email(), "password": "p" * 500_000})
    elapsed = time.perf_counter() - started

    assert response.status_code == 422
    assert "p" * 100 not in response.text
    assert elapsed < 5  # no argon2 pass over half a megabyte
