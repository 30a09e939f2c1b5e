"""Find-or-create, one transaction at a time per key.

Under PostgreSQL's default isolation two transactions can both look a key up, both find
nothing and both create it. A find-or-create that finds nothing therefore takes the key's
lock, looks again and only then creates: a transaction-scoped advisory lock, held until its
transaction ends, so the next one for the key waits and then finds what the first created
(each statement under READ COMMITTED sees what committed before it began). A key that is
found at once needs no lock. SQLite needs nothing: its writers already take turns (BEGIN
IMMEDIATE, see engine.py).

Keys share a bounded number of locks per kind, so that a batch of thousands of keys takes at
most that many of PostgreSQL's shared lock slots (about 64 per connection by default); two
keys that share a lock only wait for each other's transaction. Each call takes its locks in
ascending order and callers lock kinds in the order of KeyKind, so transactions that call it
once per kind never wait for each other in a circle. (A group commit's shared transaction may
call it once per job; should two such orders ever cross, PostgreSQL's deadlock check fails one
statement.)
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum
from hashlib import blake2b

from sqlalchemy import ARRAY, Integer, bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection

# Locks per kind; a key's lock is one of them, chosen by a hash of its organization and text.
LOCKS_PER_KIND = 1024

_LOCK_ALL = text(
    "SELECT pg_advisory_xact_lock(:kind, slot) FROM unnest(:slots) AS slot"
).bindparams(bindparam("kind", type_=Integer), bindparam("slots", type_=ARRAY(Integer)))


class KeyKind(IntEnum):
    """What a find-or-create key names; a transaction locks kinds in this order."""

    # A phone number (digits) within an organization: find the newest contact or create one.
    CONTACT_PHONE = 1
    # A folded custom field name within an organization: find the oldest field or create one.
    CUSTOM_FIELD_NAME = 2


def lock_slot(org_id: int, key: str) -> int:
    """The lock, among LOCKS_PER_KIND, of one key of an organization."""
    digest = blake2b(f"{org_id}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % LOCKS_PER_KIND


async def lock_keys(conn: AsyncConnection, kind: KeyKind, org_id: int, keys: Iterable[str]) -> None:
    """Hold the keys' locks until the caller's write transaction ends (no-op on SQLite).

    Call it for the keys a lookup did not find, then look them up again before creating them:
    a concurrent transaction holding one of them is waited for, and the second lookup sees
    what that transaction committed.
    """
    if conn.dialect.name != "postgresql":
        return
    slots = sorted({lock_slot(org_id, key) for key in keys})
    if slots:
        await conn.execute(_LOCK_ALL, {"kind": int(kind), "slots": slots})
