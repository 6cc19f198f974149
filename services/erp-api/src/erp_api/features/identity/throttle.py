"""The password throttle: guesses per account, counted atomically in Redis (docs/contract.md §9).

Shared by every replica, since the counts live in Redis.

Every check of a password against an account, a login or the
``current_password`` of ``PATCH /users/me``, first *reserves* one guess:
one Lua script (atomic in Redis, one round trip) refuses when the email's
counter has reached ``LOGIN_MAX_FAILURES``, and otherwise increments it,
starting the window (``LOGIN_FAILURE_WINDOW_S``) with the first guess. A
wrong password keeps its reservation: it is the failure that the counter
counts. A right one gives it back (:meth:`PasswordThrottle.release`).

So the counter is failures plus verifications in flight, and a burst of any
size gets at most ``LOGIN_MAX_FAILURES`` verifications per email and window:
the rest are refused before any hashing. (Reading the counter first and
counting the failure after the hash, as a plain ``GET`` then ``INCR`` does,
let every request of a burst through the check.) A fixed window rather than
a sliding one: one key, and an attacker still gets at most
``LOGIN_MAX_FAILURES`` guesses per window. A release that finds the window
already expired gives nothing back, so it can never create a counter.

The key holds a SHA-256 of the email's canonical form
(:func:`erp_db.canonical_email`, the form the account lookup uses), never
the email itself. Redis unreachable (or failing): the check goes on
unthrottled and one warning is logged per check; ``/healthz/ready`` already
reports Redis.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Final

from redis.asyncio import Redis
from redis.exceptions import RedisError

from erp_db import canonical_email

logger = logging.getLogger(__name__)

UNAVAILABLE_WARNING = "login throttle unavailable (Redis unreachable): this login is not throttled"

# KEYS[1] the counter; ARGV[1] the limit, ARGV[2] the window in seconds.
# Returns the number of the reserved guess (1..limit), or minus the seconds
# until the window ends when the limit is reached.
RESERVE_SCRIPT: Final = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count >= tonumber(ARGV[1]) then
  local ttl = redis.call('TTL', KEYS[1])
  if ttl < 0 then
    redis.call('EXPIRE', KEYS[1], ARGV[2])
    ttl = tonumber(ARGV[2])
  end
  return -math.max(ttl, 1)
end
count = redis.call('INCR', KEYS[1])
if count == 1 or redis.call('TTL', KEYS[1]) < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return count
"""
# Give one reservation back, unless the window has ended meanwhile.
RELEASE_SCRIPT: Final = """
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then
  return redis.call('DECR', KEYS[1])
end
return 0
"""


@dataclass(frozen=True, slots=True)
class Reservation:
    """``retry_after_s`` set: refuse; ``held``: a guess is reserved and may be given back."""

    held: bool
    retry_after_s: int | None


@dataclass(frozen=True, slots=True)
class PasswordThrottle:
    """The throttle of one application: its Redis client, key prefix and limits."""

    redis: Redis
    key_prefix: str
    max_failures: int
    window_s: int

    def key(self, email: str) -> str:
        digest = hashlib.sha256(canonical_email(email).encode()).hexdigest()
        return f"{self.key_prefix}:login-failures:{digest}"

    async def reserve(self, email: str) -> Reservation:
        """Take one of ``email``'s guesses of this window, or learn how long until the next one."""
        try:
            answer = int(
                await self.redis.eval(RESERVE_SCRIPT, 1, self.key(email), self.max_failures, self.window_s)
            )
        except (RedisError, OSError):
            logger.warning(UNAVAILABLE_WARNING)
            return Reservation(held=False, retry_after_s=None)
        if answer < 0:
            return Reservation(held=False, retry_after_s=-answer)
        return Reservation(held=True, retry_after_s=None)

    async def release(self, email: str, reservation: Reservation) -> None:
        """Give back the guess of a password that matched: it was no failure."""
        if not reservation.held:
            return
        try:
            await self.redis.eval(RELEASE_SCRIPT, 1, self.key(email))
        except (RedisError, OSError):
            logger.warning(UNAVAILABLE_WARNING)
