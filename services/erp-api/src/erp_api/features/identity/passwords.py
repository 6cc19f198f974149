"""Password hashing: argon2id through pwdlib, always off the event loop (docs/contract.md §9).

Parameters are OWASP's first argon2id profile (19 MiB, 2 passes, 1 lane):
one lane keeps a login on one core, and 19 MiB bounds the memory of each
one. Hashes run on the process's own hashing threads (half the cores, at
least one), at a lower CPU priority than the event loop: a burst of logins
queues there and cannot take the cores that every other request needs.
A hash made with other parameters still verifies and is replaced on the
next successful login (pwdlib's ``verify_and_update``).

The 8 to 128 character rule is checked *before* hashing, so an oversized
password costs nothing. An unknown email still costs one verification
against :func:`_dummy_hash`, so the answer's timing does not tell whether an
account exists.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import os
import threading
from collections.abc import Callable
from typing import Any, Final, TypeVar

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

MIN_PASSWORD_LENGTH: Final = 8
MAX_PASSWORD_LENGTH: Final = 128

T = TypeVar("T")


class PasswordPolicyError(ValueError):
    """A new password outside the 8 to 128 character rule; the message never holds the password."""


def check_password_policy(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise PasswordPolicyError(f"a password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters")


@functools.cache
def _password_hash() -> PasswordHash:
    return PasswordHash((Argon2Hasher(time_cost=2, memory_cost=19_456, parallelism=1),))


# Below the event loop's priority (nice 0): when hashing and serving compete
# for a core, the scheduler gives the loop ~9 of every 10 slices (CFS weights
# 1024 vs 110), so a burst of logins slows logins, not every other request.
HASHING_NICENESS: Final = 10


def _lower_priority() -> None:
    # On Linux a niceness belongs to the thread: PRIO_PROCESS with the thread's id.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)


@functools.cache
def _hashing_threads() -> concurrent.futures.ThreadPoolExecutor:
    """The process's hashing threads: half the cores (at least one), at a lower priority.

    Their own pool, not the one FastAPI and anyio share for synchronous
    code: the lowered priority stays with these threads, and a queue of
    logins never takes the threads that other work needs.
    """
    return concurrent.futures.ThreadPoolExecutor(
        max_workers=max(1, (os.cpu_count() or 2) // 2),
        thread_name_prefix="password-hashing",
        initializer=_lower_priority,
    )


async def _off_the_loop(function: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(_hashing_threads(), function, *args)


async def hash_password(password: str) -> str:
    """The argon2id PHC string of ``password``; :class:`PasswordPolicyError` outside the rule."""
    check_password_policy(password)
    return await _off_the_loop(_password_hash().hash, password)


async def verify_password(password: str, password_hash: str) -> tuple[bool, str | None]:
    """``(matches, new_hash)``: ``new_hash`` is set when the stored parameters are outdated."""
    if len(password) > MAX_PASSWORD_LENGTH:  # no stored password is longer: no need to hash it
        return False, None
    return await _off_the_loop(_password_hash().verify_and_update, password, password_hash)


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
