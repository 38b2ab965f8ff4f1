"""Staff passwords, hashed with argon2id (argon2-cffi's recommended parameters)."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    # Verified against when the username is unknown, so that a miss costs the same time as a
    # hit; made on first use rather than at every process start.
    return _hasher.hash("memberhub-no-such-user")


def hash_password(password: str) -> str:
    """The argon2id hash to store for a new password."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches; unknown users are checked against a dummy hash."""
    try:
        return (
            _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False
