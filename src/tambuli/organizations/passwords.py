"""Argon2id password hashes for console users.

Hashing takes tens of milliseconds of CPU on purpose, so callers on the event loop run it in a
thread (`hash_password_soon`, `verify_password_soon`).
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2-cffi's defaults are RFC 9106's "low memory" Argon2id profile (64 MiB, 3 passes).
_HASHER = PasswordHasher()
# Verified against when an email names no user, so a refusal takes as long either way.
_DECOY_HASH = _HASHER.hash("no user has this password")


def hash_password(password: str) -> str:
    """The Argon2id hash (PHC string) stored for a password."""
    return _HASHER.hash(password)


def verify_password(password: str, stored_hash: str | None) -> bool:
    """Whether a password matches a stored hash (always False without one)."""
    try:
        return _HASHER.verify(stored_hash or _DECOY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def hash_password_soon(password: str) -> str:
    """hash_password in a worker thread."""
    return await asyncio.to_thread(hash_password, password)


async def verify_password_soon(password: str, stored_hash: str | None) -> bool:
    """verify_password in a worker thread."""
    return await asyncio.to_thread(verify_password, password, stored_hash)
