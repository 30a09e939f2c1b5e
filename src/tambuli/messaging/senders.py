"""Sender IDs the operator registers to one organization.

A registered sender ID (alphanumeric, short code or long number) is its owner's alone: no other
organization may queue a message from it (`sms.senderowned`, checked in the transaction that
would reserve the money, so a refusal costs nothing), and every inbound SMS to it is the
owner's (see inbound.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.clock import Clock
from tambuli.db.engine import Database
from tambuli.errors import NotFound, SenderOwned
from tambuli.messaging import sender_store
from tambuli.messaging.models import check_sender_id, sender_key
from tambuli.messaging.views import RegisteredSender
from tambuli.organizations import service as organizations


def sender_owned(sender: str) -> SenderOwned:
    """The refusal of a message from a sender ID registered to another organization."""
    return SenderOwned(
        f"The sender ID {sender!r} is registered to another organization", {"field": "from"}
    )


async def register_sender(db: Database, clock: Clock, org_id: int, sender: str) -> RegisteredSender:
    """Give a sender ID to an organization; registering it again for the same one is a no-op.

    SenderOwned when another organization has it: the operator removes that one first.
    """
    checked = check_sender_id(sender)
    key = sender_key(checked)
    await organizations.get_organization(db, org_id)
    now = clock.now()
    async with db.write() as conn:
        found = await sender_store.select_sender(conn, key)
        if found is None:
            try:
                async with conn.begin_nested():
                    await sender_store.insert_sender(conn, key, checked, org_id, now)
                found = RegisteredSender(checked, org_id, now)
            except IntegrityError:
                # A concurrent command registered it first; its row is committed by now.
                found = await sender_store.select_sender(conn, key)
                assert found is not None
    if found.org_id != org_id:
        raise SenderOwned(
            f"The sender ID {found.sender!r} is registered to organization {found.org_id}"
        )
    return found


async def list_senders(db: Database, org_id: int | None = None) -> list[RegisteredSender]:
    """Registered sender IDs, of one organization or of all."""
    async with db.read() as conn:
        return await sender_store.select_senders(conn, org_id)


async def remove_sender(db: Database, sender: str) -> None:
    """Forget a registration: the sender ID is shared again (and its replies matched as such)."""
    async with db.write() as conn:
        removed = await sender_store.delete_sender(conn, sender_key(sender))
    if not removed:
        raise NotFound(f"The sender ID {sender.strip()!r} is not registered")


async def find_owners_within(conn: AsyncConnection, sender_ids: Iterable[str]) -> dict[str, int]:
    """The owner of each of these sender IDs that is registered, keyed by the ID as given."""
    given = set(sender_ids)
    owners = await sender_store.select_owners(conn, (sender_key(s) for s in given))
    return {s: owners[sender_key(s)] for s in given if sender_key(s) in owners}


async def find_foreign_senders_within(
    conn: AsyncConnection, uses: Iterable[tuple[int, str]]
) -> set[tuple[int, str]]:
    """Which (organization, sender ID) uses name a sender registered to someone else."""
    wanted = set(uses)
    owners = await find_owners_within(conn, (s for _, s in wanted))
    return {(o, s) for o, s in wanted if owners.get(s, o) != o}


async def check_sender_within(conn: AsyncConnection, org_id: int, sender: str) -> None:
    """SenderOwned when the sender ID is registered to another organization."""
    if await find_foreign_senders_within(conn, [(org_id, sender)]):
        raise sender_owned(sender)
