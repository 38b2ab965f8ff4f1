"""Staff passwords, hashed with argon2id (argon2-cffi's recommended parameters).

One argon2 hash costs tens of milliseconds of CPU and 64 MiB of memory. Done on the event loop,
twenty wrong sign-ins at once held every other request of the process for over a second. So
hashing and verifying run on a small pool of threads of their own (argon2-cffi releases the GIL
while it works), one per core: the loop stays free, and a burst of sign-ins waits in line for
the pool instead of taking every core and all that memory at once.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


@cache
def _pool() -> ThreadPoolExecutor:
    # Made on first use, so that every API process (started by fork or spawn) has its own.
    return ThreadPoolExecutor(max_workers=hash_concurrency(), thread_name_prefix="argon2")


def hash_concurrency() -> int:
    """How many passwords this process hashes or verifies at once: one per core."""
    return os.cpu_count() or 1


@cache
def _dummy_hash() -> str:
    # Verified against when the username is unknown, so that a miss costs the same time as a
    # hit; made on first use rather than at every process start.
    return _hasher.hash("memberhub-no-such-user")


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return (
            _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False


async def hash_password(password: str) -> str:
    """The argon2id hash to store for a new password, computed off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(_pool(), _hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches; unknown users are checked against a dummy hash.

    Computed off the event loop, like `hash_password`.
    """
    return await asyncio.get_running_loop().run_in_executor(
        _pool(), _verify, password_hash, password
    )
