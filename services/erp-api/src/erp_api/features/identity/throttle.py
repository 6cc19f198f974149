"""The login throttle: failed logins per email, counted in Redis and shared by replicas (docs/contract.md §9).

A fixed window per email: the first failure creates the counter with a
lifetime of ``LOGIN_FAILURE_WINDOW_S`` (``INCR`` then ``EXPIRE … NX``, one
round trip); once it reaches ``LOGIN_MAX_FAILURES``, every login for that
email, the right password included, is refused with ``Retry-After`` = the
counter's remaining lifetime, until it expires. A fixed window rather than a
sliding one: one key, two commands, and an attacker still gets at most
``LOGIN_MAX_FAILURES`` guesses per window.

The key holds a SHA-256 of the lower-cased email, not the email itself.
Redis unreachable (or failing): logins go on unthrottled and one warning is
logged per login; ``/healthz/ready`` already reports Redis.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

UNAVAILABLE_WARNING = "login throttle unavailable (Redis unreachable): this login is not throttled"


@dataclass(frozen=True, slots=True)
class Verdict:
    """``retry_after_s`` set: refuse the login; ``available`` false: Redis could not be asked."""

    available: bool
    retry_after_s: int | None


@dataclass(frozen=True, slots=True)
class LoginThrottle:
    """The throttle of one application: its Redis client, key prefix and limits."""

    redis: Redis
    key_prefix: str
    max_failures: int
    window_s: int

    def key(self, email: str) -> str:
        digest = hashlib.sha256(email.lower().encode()).hexdigest()
        return f"{self.key_prefix}:login-failures:{digest}"

    async def check(self, email: str) -> Verdict:
        """Whether ``email`` may try to log in now; Redis down means yes (and one warning)."""
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.get(self.key(email))
                pipe.ttl(self.key(email))
                count, ttl = await pipe.execute()
        except (RedisError, OSError):
            logger.warning(UNAVAILABLE_WARNING)
            return Verdict(available=False, retry_after_s=None)
        if count is None or int(count) < self.max_failures:
            return Verdict(available=True, retry_after_s=None)
        # TTL -1 (no expiry) cannot follow INCR + EXPIRE NX in one transaction,
        # but a counter without one must not lock an email out for ever.
        return Verdict(available=True, retry_after_s=ttl if ttl > 0 else 1)

    async def record_failure(self, email: str) -> None:
        """Count one failed login; call it only after a :meth:`check` that found Redis available."""
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incr(self.key(email))
                pipe.expire(self.key(email), self.window_s, nx=True)
                await pipe.execute()
        except (RedisError, OSError):
            logger.warning(UNAVAILABLE_WARNING)
