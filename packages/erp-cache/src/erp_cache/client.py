"""The application's Redis client: created at start-up, handed out, closed at shutdown.

The service's lifespan calls :func:`create_redis` (or :func:`redis_from_settings`),
yields the client in its state for request handlers to read, and calls
:func:`close_redis` on the way out. There is no module-level client: whoever
creates one owns it and closes it.

redis-py's defaults suit a script better than a service: 5 s socket timeouts,
ten retries and an unbounded wait for a connection would let one slow Redis
hold a request for a minute. Everything here is bounded instead.
"""

from __future__ import annotations

import re

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError, TimeoutError

from erp_cache.errors import InvalidClientName, InvalidRedisUrl
from erp_cache.settings import RedisSettings

# The pause before retry n is a random value up to min(cap, base * 2**n): a
# short first pause rides over a dropped connection, and the jitter keeps the
# workers of a restarting service from reconnecting in lockstep.
RETRY_BACKOFF_BASE_S = 0.05
RETRY_BACKOFF_CAP_S = 0.5

# What Redis accepts in CLIENT SETNAME: printable ASCII, no space.
_CLIENT_NAME = re.compile(r"[!-~]+")


def create_redis(
    url: str,
    *,
    client_name: str,
    max_connections: int = 50,
    socket_timeout: float = 2.0,
    socket_connect_timeout: float = 2.0,
    health_check_interval: int = 30,
    retries: int = 2,
) -> Redis:
    """A client over its own pool of at most ``max_connections`` connections to ``url``.

    Nothing connects here: the first command opens the first connection, so
    the service starts while Redis is down and recovers when it is back.
    Every connection names itself ``client_name`` (``CLIENT LIST`` shows whose
    it is) and is checked with a PING before use when idle for longer than
    ``health_check_interval`` seconds. Connection errors and timeouts are
    retried ``retries`` times with jittered exponential backoff; a task that
    finds all connections busy waits up to ``socket_timeout`` for one, and
    then gets a :class:`redis.exceptions.ConnectionError` (the pool is a
    :class:`~redis.asyncio.BlockingConnectionPool`: a burst of requests
    queues briefly instead of failing at once with "Too many connections").

    Options in the URL's query string (``?socket_timeout=5``) override these
    arguments, as in redis-py. Raises :class:`InvalidRedisUrl` or
    :class:`InvalidClientName` at once rather than on the first command.
    """
    if not _CLIENT_NAME.fullmatch(client_name):
        raise InvalidClientName("client_name must be printable ASCII without spaces")
    _require(max_connections >= 1, "max_connections must be at least 1")
    _require(socket_timeout > 0, "socket_timeout must be positive")
    _require(socket_connect_timeout > 0, "socket_connect_timeout must be positive")
    _require(health_check_interval >= 0, "health_check_interval must not be negative")
    _require(retries >= 0, "retries must not be negative")
    # redis-py's AuthenticationError is a ConnectionError, so a wrong password is
    # retried too: a wasted fraction of a second, bounded like everything else.
    retry = Retry(
        ExponentialWithJitterBackoff(base=RETRY_BACKOFF_BASE_S, cap=RETRY_BACKOFF_CAP_S),
        retries,
        supported_errors=(ConnectionError, TimeoutError),
    )
    try:
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=socket_timeout,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_connect_timeout,
            health_check_interval=health_check_interval,
            client_name=client_name,
            retry=retry,
        )
    except ValueError:
        # `from None`: redis-py's and urllib's messages may quote parts of the URL.
        raise InvalidRedisUrl("not a usable redis://, rediss:// or unix:// URL") from None
    # from_pool hands the pool to the client, so closing the client closes the pool.
    return Redis.from_pool(pool)


def redis_from_settings(settings: RedisSettings, *, client_name: str) -> Redis:
    """:func:`create_redis` for :attr:`RedisSettings.url`, with the default bounds."""
    return create_redis(settings.url.get_secret_value(), client_name=client_name)


async def close_redis(client: Redis) -> None:
    """Close the client and disconnect every connection of its pool; safe to call twice.

    Connections in use by other tasks are closed too: call it after the
    server has stopped taking requests, as a lifespan's shutdown does.
    """
    await client.aclose(close_connection_pool=True)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)
