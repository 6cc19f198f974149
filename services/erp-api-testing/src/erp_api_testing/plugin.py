"""erp-api's pytest plugin, loaded through erp-api-testing's ``pytest11`` entry point.

Installing ``erp-api-testing`` is all a feature team's tests need: these
fixtures are found by name, and a ``conftest.py`` imports nothing of ours.

- ``erp_db_url``, ``erp_db_engine``, ``erp_db_session``: erp_db.testing's, on
  one database migrated to head per test session (``TEST_DATABASE_URL``);
- ``redis_url``: ``TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``);
- ``make_settings(**variables)``: :class:`~erp_api.ApiSettings` from exactly
  those variables on top of the test database and Redis; ``erp_api_settings``
  is ``make_settings()``;
- ``app``: ``create_app(erp_api_settings)``;
- ``db_session``: the test's session, on one connection inside one outer
  transaction that is rolled back after the test; a ``commit()`` only
  releases a savepoint, so nothing a test writes outlives it;
- ``client``: an ``httpx.AsyncClient`` over ``app`` (lifespan run) whose
  ``get_db_session`` is ``db_session``: what a request commits, the test
  sees through ``db_session`` and the next test does not;
- ``committing_client``: the same application with its own pool, as
  deployed: each request commits for real, visible to other connections
  (races between connections, rows read through ``erp_db_engine``);
- identity: ``make_user(**fields)`` (a user in the test's transaction,
  unique email), ``make_committed_user(**fields)`` (committed, for
  ``committing_client`` and other connections),
  ``auth_headers(user)`` (a valid ``Authorization`` header),
  ``signed_in_user`` and ``authenticated_client`` (``client`` sending that
  user's access token);
- organisations: ``make_caller(**fields)`` (a signed-in user in the test's
  transaction), ``api`` (:class:`~erp_api_testing.organizations.OrganizationsApi`
  over ``client``), ``team`` (an organisation with an owner, an admin, a
  member and an outsider), and their committed twins
  ``make_committed_caller``, ``committing_api``, ``committed_team``.

Async fixtures run in the session's event loop: set
``asyncio_default_test_loop_scope = "session"`` (and
``asyncio_default_fixture_loop_scope``) in the project's pytest settings.

Private servers (:mod:`erp_testing.servers`), as ``TEST_PRIVATE_SERVERS``
says: ``auto`` (the default) starts one where nothing listens at the
*default* test URL (an explicitly chosen URL that cannot be reached fails
its tests, loudly) and the server binaries are installed; ``always`` starts
both whatever listens; ``never`` starts none. The run's
``TEST_DATABASE_URL``/``TEST_REDIS_URL`` then point at them, and pytest's
header says so. With servers listening at the defaults, nothing changes.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI, Request
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from erp_api.app import create_app
from erp_api.dependencies import get_db_session, unit_of_work_stack
from erp_api.settings import ApiSettings
from erp_api_testing.identity import bearer_headers, insert_user
from erp_api_testing.in_process import MakeSettings, serve_in_process
from erp_api_testing.organizations import Caller, OrganizationsApi, Team, make_team
from erp_core.testing import settings_from_env
from erp_db import User
from erp_testing.servers import PostgresServer, RedisServer

# erp_db.testing's fixtures, registered with this plugin. Registering it lets pytest
# import it (and rewrite its asserts): this module only names it, never imports it.
pytest_plugins = ["erp_db.testing"]

PRIVATE_SERVERS_VARIABLE = "TEST_PRIVATE_SERVERS"
TEST_REDIS_URL_VARIABLE = "TEST_REDIS_URL"
DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/15"
# Fixed, so a token minted with one test's settings verifies in another's app.
TEST_JWT_SECRET_KEY = "test-only-jwt-secret-key-of-at-least-32-bytes"  # noqa: S105 -- a test value
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})

Server = TypeVar("Server", PostgresServer, RedisServer)


_STARTED = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    """Start private PostgreSQL and Redis servers for the run where ``TEST_PRIVATE_SERVERS`` asks."""
    from erp_db.testing import DEFAULT_TEST_DATABASE_URL, admin_url_from_env  # registered by now

    mode = os.environ.get(PRIVATE_SERVERS_VARIABLE) or "auto"
    if mode not in {"auto", "always", "never"}:
        raise pytest.UsageError(f"{PRIVATE_SERVERS_VARIABLE} must be auto, always or never")
    started = config.stash.setdefault(_STARTED, [])
    database = admin_url_from_env()
    address = make_url(database)
    if _wanted(mode, database == DEFAULT_TEST_DATABASE_URL, address.host, address.port or 5432) and (
        postgres := _start(config, PostgresServer)
    ):
        os.environ["TEST_DATABASE_URL"] = postgres.admin_url
        started.append(f"PostgreSQL on port {postgres.port}")
    redis_url = os.environ.get(TEST_REDIS_URL_VARIABLE) or DEFAULT_TEST_REDIS_URL
    redis_address = urlsplit(redis_url)
    if _wanted(
        mode, redis_url == DEFAULT_TEST_REDIS_URL, redis_address.hostname, redis_address.port or 6379
    ) and (redis := _start(config, RedisServer)):
        os.environ[TEST_REDIS_URL_VARIABLE] = redis.url
        started.append(f"Redis on port {redis.port}")


def pytest_report_header(config: pytest.Config) -> str | None:
    started = config.stash.get(_STARTED, [])
    return f"erp_api_testing: nothing listened, started private {', '.join(started)}" if started else None


def _wanted(mode: str, is_default: bool, host: str | None, port: int) -> bool:
    if mode != "auto":
        return mode == "always"
    return is_default and host in _LOOPBACK and _nothing_listens(host, port)


def _nothing_listens(host: str | None, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return False
    except OSError:
        return True


def _start(config: pytest.Config, server_class: type[Server]) -> Server | None:
    """A private server for the run, removed at its end; ``None`` without the binaries."""
    try:
        server = server_class()
    except (RuntimeError, KeyError):  # no binaries (or, as root, no postgres account to run them)
        return None
    config.add_cleanup(server.remove)
    server.start()
    return server


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis of the tests: ``TEST_REDIS_URL``, or database 15 of the local server."""
    return os.environ.get(TEST_REDIS_URL_VARIABLE) or DEFAULT_TEST_REDIS_URL


@pytest.fixture
def make_settings(erp_db_url: str, redis_url: str) -> MakeSettings:
    """Settings from an explicit environment: the test database and Redis, plus ``variables``."""

    def make(**variables: str) -> ApiSettings:
        env = {
            "ENVIRONMENT": "test",
            "DATABASE_URL": erp_db_url,
            "APP_CACHE_REDIS_URL": redis_url,
            "HEALTH_CHECK_TIMEOUT_S": "1.0",
            "JWT_SECRET_KEY": TEST_JWT_SECRET_KEY,
            **variables,
        }
        return settings_from_env(ApiSettings, env)

    return make


@pytest.fixture
def erp_api_settings(make_settings: MakeSettings) -> ApiSettings:
    return make_settings()


@pytest.fixture
def app(erp_api_settings: ApiSettings) -> FastAPI:
    """The application under test; include a test router before the first request if needed."""
    return create_app(erp_api_settings)


@pytest_asyncio.fixture(loop_scope="session")
async def db_session(erp_db_session: AsyncSession) -> AsyncSession:
    """The test's session: everything written through it is rolled back after the test."""
    return erp_db_session


@pytest_asyncio.fixture(loop_scope="session")
async def client(app: FastAPI, db_session: AsyncSession) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``app`` whose requests share ``db_session``: one request at a time.

    The request's unit of work keeps production's shape on the test's
    session: what the test wrote through ``db_session`` before it is
    committed first (so a failing request cannot take the test's set-up
    down with it), and the request starts with an empty identity map (as a
    new session would: what it reads, it reads with SQL); it is committed
    when the endpoint returns (a savepoint released) and rolled back to the
    savepoint on any error, so one test can answer a conflict and go on.
    """

    async def end_of_request(exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is None:
            await db_session.commit()
        else:
            await db_session.rollback()

    async def test_session(request: Request) -> AsyncSession:
        await db_session.commit()
        db_session.expunge_all()
        # Ends where the real unit of work ends: on FastAPI's function-scoped stack.
        unit_of_work_stack(request).push_async_exit(end_of_request)
        return db_session

    app.dependency_overrides[get_db_session] = test_session
    async with serve_in_process(app) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="session")
async def committing_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``app`` as deployed: every request commits through the app's own pool."""
    async with serve_in_process(app) as client:
        yield client


# --- Identity: users and their credentials (docs/contract.md §9) ----------------------------
# ``make_user`` writes through ``db_session`` (what ``client`` serves), so its
# users vanish with the test; ``make_committed_user`` commits through
# ``erp_db_engine`` for ``committing_client``: those outlive the test (unique
# emails, never a fixed one). Tokens are minted with the application's own
# settings rather than by logging in, which would cost an argon2id hash per test.

MakeUser = Callable[..., Awaitable[User]]


@pytest.fixture
def make_user(db_session: AsyncSession) -> MakeUser:
    """``await make_user(email=…, password=…, full_name=…, is_superuser=…, is_active=…)``: a new user.

    Written in the test's transaction: ``client`` sees it, nothing else does,
    and it is gone after the test. Every argument is optional; the email is
    unique by default. Pass ``password=`` only for a user who must log in
    through ``/auth/token``.
    """

    async def make(**fields: Any) -> User:
        return await insert_user(db_session, **fields)

    return make


@pytest.fixture
def make_committed_user(erp_db_engine: AsyncEngine) -> MakeUser:
    """As ``make_user``, but committed: for ``committing_client`` and other connections."""

    async def make(**fields: Any) -> User:
        return await insert_user(erp_db_engine, **fields)

    return make


@pytest.fixture
def auth_headers(erp_api_settings: ApiSettings) -> Callable[[User], dict[str, str]]:
    """``auth_headers(user)``: ``{"Authorization": "Bearer <access token>"}`` valid for ``app``."""

    def headers(user: User) -> dict[str, str]:
        return bearer_headers(erp_api_settings, user.id)

    return headers


@pytest_asyncio.fixture(loop_scope="session")
async def signed_in_user(make_user: MakeUser) -> User:
    """A fresh active user, not a superuser: the one ``authenticated_client`` acts as."""
    return await make_user(full_name="Signed In")


@pytest_asyncio.fixture(loop_scope="session")
async def authenticated_client(
    client: httpx.AsyncClient, signed_in_user: User, auth_headers: Callable[[User], dict[str, str]]
) -> httpx.AsyncClient:
    """``client`` itself, now sending ``signed_in_user``'s access token with every request.

    It is the same object as ``client``: for an anonymous request through
    it, pass ``headers={"Authorization": ""}``.
    """
    client.headers.update(auth_headers(signed_in_user))
    return client


# --- Organisations: callers, teams, and the API to set them up (docs/contract.md §10, §13) ---
# What every feature under /organizations/{organization_id} needs before it
# tests anything of its own. ``make_caller``, ``api`` and ``team`` work in the
# test's transaction (through ``client``); the ``committed`` ones commit, for
# ``committing_client`` and races (erp_api_testing.race).

MakeCaller = Callable[..., Awaitable[Caller]]


def _caller_factory(bind: AsyncEngine | AsyncSession, settings: ApiSettings) -> MakeCaller:
    async def make(*, email: str | None = None, full_name: str = "") -> Caller:
        user = await insert_user(bind, email=email, full_name=full_name)
        return Caller(id=user.id, email=user.email, headers=bearer_headers(settings, user.id))

    return make


@pytest.fixture
def make_caller(db_session: AsyncSession, erp_api_settings: ApiSettings) -> MakeCaller:
    """``await make_caller(email=…, full_name=…)``: a new user in the test's transaction, signed in."""
    return _caller_factory(db_session, erp_api_settings)


@pytest.fixture
def make_committed_caller(erp_db_engine: AsyncEngine, erp_api_settings: ApiSettings) -> MakeCaller:
    """As ``make_caller``, but committed: for ``committing_client`` and ``committing_api``."""
    return _caller_factory(erp_db_engine, erp_api_settings)


@pytest.fixture
def api(client: httpx.AsyncClient) -> OrganizationsApi:
    """The organisation routes through ``client``, to set up organisations, invitations and members."""
    return OrganizationsApi(client)


@pytest.fixture
def committing_api(committing_client: httpx.AsyncClient) -> OrganizationsApi:
    """As ``api``, through ``committing_client``."""
    return OrganizationsApi(committing_client)


@pytest_asyncio.fixture(loop_scope="session")
async def team(api: OrganizationsApi, make_caller: MakeCaller) -> Team:
    """An organisation with an owner, an admin, a member (joined in that order) and an outsider."""
    return await make_team(api, make_caller)


@pytest_asyncio.fixture(loop_scope="session")
async def committed_team(committing_api: OrganizationsApi, make_committed_caller: MakeCaller) -> Team:
    """As ``team``, committed: for ``committing_client`` and races."""
    return await make_team(committing_api, make_committed_caller)
