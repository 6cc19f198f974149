"""The cache's readiness probe: can the application's client reach Redis right now?

``/healthz/ready`` must answer within ``HEALTH_CHECK_TIMEOUT_S`` even when
Redis hangs, yet the client's own bounds are looser (a socket timeout per
attempt, several attempts). The probe therefore goes through the same
client as the requests do, so it sees what they would see, and leaves the
deadline to :func:`erp_core.run_probe`, which stops waiting on time and
cancels the PING without waiting for it to wind down.
"""

from __future__ import annotations

from redis.asyncio import Redis

from erp_core import ProbeFailed, ProbeResult, run_probe


async def probe_redis(client: Redis, *, timeout: float) -> ProbeResult:
    """PING through ``client``: ``ok``, or ``fail`` with a short reason, within ``timeout`` seconds.

    Never raises. The reason names the error and the server's address, never
    the password: redis-py's messages carry host and port only.
    """

    async def ping() -> None:
        if not await client.ping():
            raise ProbeFailed("Redis did not answer PING with PONG")

    return await run_probe(ping, timeout=timeout)
