"""Password hashing: argon2id through pwdlib, always off the event loop (docs/contract.md §9).

Parameters are OWASP's first argon2id profile (19 MiB, 2 passes, 1 lane):
one lane keeps a login on one core, so a burst of logins cannot take every
core from the event loop, and 19 MiB bounds the memory of each one. At most
:func:`hashing_slots` hashes run at once per process (half the cores); the
others wait their turn in a thread-free queue rather than in the thread pool.
A hash made with other parameters still verifies and is replaced on the
next successful login (pwdlib's ``verify_and_update``).

The 8 to 128 character rule is checked *before* hashing, so an oversized
password costs nothing. An unknown email still costs one verification
against :func:`_dummy_hash`, so the answer's timing does not tell whether an
account exists.
"""

from __future__ import annotations

import asyncio
import functools
import os
import weakref
from typing import Final

import anyio
import anyio.to_thread
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

MIN_PASSWORD_LENGTH: Final = 8
MAX_PASSWORD_LENGTH: Final = 128


class PasswordPolicyError(ValueError):
    """A new password outside the 8 to 128 character rule; the message never holds the password."""


def check_password_policy(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise PasswordPolicyError(f"a password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters")


@functools.cache
def _password_hash() -> PasswordHash:
    return PasswordHash((Argon2Hasher(time_cost=2, memory_cost=19_456, parallelism=1),))


_SLOTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


def hashing_slots() -> anyio.CapacityLimiter:
    """How many hashes may run at once in this process: half the cores, at least one.

    One limiter per event loop (a limiter belongs to the loop it first waits on).
    """
    loop = asyncio.get_running_loop()
    slots = _SLOTS.get(loop)
    if slots is None:
        slots = _SLOTS[loop] = anyio.CapacityLimiter(max(1, (os.cpu_count() or 2) // 2))
    return slots


async def hash_password(password: str) -> str:
    """The argon2id PHC string of ``password``; :class:`PasswordPolicyError` outside the rule."""
    check_password_policy(password)
    return await anyio.to_thread.run_sync(_password_hash().hash, password, limiter=hashing_slots())


async def verify_password(password: str, password_hash: str) -> tuple[bool, str | None]:
    """``(matches, new_hash)``: ``new_hash`` is set when the stored parameters are outdated."""
    if len(password) > MAX_PASSWORD_LENGTH:  # no stored password is longer: no need to hash it
        return False, None
    return await anyio.to_thread.run_sync(
        _password_hash().verify_and_update, password, password_hash, limiter=hashing_slots()
    )


async def verify_against_dummy(password: str) -> None:
    """Spend what a verification costs, for a login whose email has no (active) account."""
    await verify_password(password[:MAX_PASSWORD_LENGTH], await _dummy_hash())


_DUMMY: list[str] = []


async def _dummy_hash() -> str:
    # Made on first use (not at import), with the current parameters, so it
    # costs exactly what verifying a real, current hash costs.
    if not _DUMMY:
        _DUMMY.append(await hash_password("not-a-password-of-anyone"))
    return _DUMMY[0]
