"""Group commit for accepted WhatsApp messages: many concurrent sends share one transaction.

As for SMS (messaging/intake.py): each request checks its message against every rule and makes
its draft on its own, and a batch of drafts is written in one transaction (db/batch_intake.py):
one balance update per organization, one insert each for reservations, ledger entries,
messages, their files and clientDedup keys, and one read of what was stored. Campaign steps
write their drafts with `write_drafts_within` inside their own transaction.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.billing import reservations as funds
from tambuli.channels.whatsapp.base import MediaKind
from tambuli.clock import Clock
from tambuli.contacts import service as contacts
from tambuli.contacts.models import Contact, PhoneNumber
from tambuli.db.batch_intake import BatchIntake
from tambuli.db.engine import Database
from tambuli.errors import DuplicateMessage, InsufficientFunds, TambuliError
from tambuli.whatsapp import store
from tambuli.whatsapp.models import NewWhatsApp
from tambuli.whatsapp.views import StoredWhatsApp

RESERVATION_REASON = "whatsapp"


@dataclass(frozen=True)
class WhatsAppDraft:
    """A message that passed every rule, ready to be paid for and stored."""

    message: NewWhatsApp
    media: list[tuple[MediaKind, str]]
    # A send to a number that had no contact when the draft was made: the batch gives it the
    # newest contact with the number by then, or creates one, once the message is paid for.
    new_contact: PhoneNumber | None = None


class WhatsAppIntake(BatchIntake[WhatsAppDraft, StoredWhatsApp]):
    """Writes drafts in batches; one per process, shared by every request."""

    def __init__(
        self, db: Database, clock: Clock, max_batch: int = 200, max_waiting: int = 5000
    ) -> None:
        super().__init__(db, max_batch, max_waiting)
        self._clock = clock

    async def write_batch(
        self, conn: AsyncConnection, drafts: list[WhatsAppDraft]
    ) -> list[StoredWhatsApp | TambuliError]:
        """Write drafts in the caller's transaction."""
        return await write_drafts_within(conn, self._clock, drafts)

    async def find_duplicate(self, draft: WhatsAppDraft) -> TambuliError:
        """The answer to a draft whose clientDedup another process took first."""
        org_id, key = draft.message.org_id, draft.message.client_dedup
        async with self._db.read() as conn:
            original = await store.select_message_by_dedup(conn, org_id, key)
        if original is None:
            raise RuntimeError("a clientDedup conflict without an original message")
        return DuplicateMessage(original)


async def write_drafts_within(
    conn: AsyncConnection, clock: Clock, drafts: list[WhatsAppDraft]
) -> list[StoredWhatsApp | TambuliError]:
    """Write a batch inside one transaction; per draft, the stored message or why not.

    Each organization's drafts are reserved together when its balance allows, else one by one
    in order, so those that fit still go (InsufficientFunds for the others).
    """
    outcomes: list[StoredWhatsApp | TambuliError | None] = [None] * len(drafts)
    repeats = await _refuse_duplicates(conn, drafts, outcomes)
    waiting = [i for i in range(len(drafts)) if outcomes[i] is None and i not in repeats]
    # Numbers without a contact are looked up (and locked when still missing) before any
    # balance row is locked: find-or-create elsewhere takes a number's lock first, then the
    # balance, and this keeps the same order.
    reusable = await contacts.find_contacts_to_reuse_within(
        conn,
        [
            (drafts[i].message.org_id, phone.digits)
            for i in waiting
            if (phone := drafts[i].new_contact) is not None
        ],
    )
    reservations: dict[int, int] = {}
    by_org: dict[int, list[int]] = defaultdict(list)
    for index in waiting:
        by_org[drafts[index].message.org_id].append(index)
    # Organizations in ID order: the same global lock order as billing's batches.
    for org_id in sorted(by_org):
        indexes = by_org[org_id]
        answers = await funds.reserve_each_within(
            conn,
            clock,
            org_id,
            [drafts[i].message.price_micro for i in indexes],
            RESERVATION_REASON,
            [f"whatsapp to +{drafts[i].message.recipient}" for i in indexes],
        )
        for index, answer in zip(indexes, answers, strict=True):
            if isinstance(answer, InsufficientFunds):
                outcomes[index] = answer
            else:
                reservations[index] = answer
    written = sorted(reservations)
    messages = await _attach_contacts(conn, clock, drafts, written, reusable)
    stored = await store.insert_outbound_messages(
        conn, messages, [reservations[i] for i in written], [drafts[i].media for i in written]
    )
    await contacts.mark_contacts_used_within(
        conn, clock, [m.contact_id for m in stored if m.contact_id is not None]
    )
    await store.insert_dedup_keys(
        conn, [(m.org_id, m.client_dedup, m.id) for m in stored if m.client_dedup]
    )
    for index, message in zip(written, stored, strict=True):
        outcomes[index] = message
    # Repeats of a key within this batch answer with the message that took the key.
    for index, first in repeats.items():
        taken = outcomes[first]
        outcomes[index] = DuplicateMessage(taken) if isinstance(taken, StoredWhatsApp) else taken
    assert all(o is not None for o in outcomes)
    return [o for o in outcomes if o is not None]


async def _refuse_duplicates(
    conn: AsyncConnection,
    drafts: list[WhatsAppDraft],
    outcomes: list[StoredWhatsApp | TambuliError | None],
) -> dict[int, int]:
    """Refuse drafts whose clientDedup was used before; the drafts that repeat a key of an
    earlier draft of this batch, each with the index of that draft."""
    keys = [(d.message.org_id, d.message.client_dedup) for d in drafts]
    wanted = {key for key in keys if key[1]}
    if not wanted:
        return {}
    existing = await store.select_messages_by_dedup_keys(conn, wanted)
    first_use: dict[tuple[int, str], int] = {}
    repeats: dict[int, int] = {}
    for index, key in enumerate(keys):
        if not key[1]:
            continue
        if key in existing:
            outcomes[index] = DuplicateMessage(existing[key])
        elif key in first_use:
            repeats[index] = first_use[key]
        else:
            first_use[key] = index
    return repeats


async def _attach_contacts(
    conn: AsyncConnection,
    clock: Clock,
    drafts: list[WhatsAppDraft],
    written: list[int],
    reusable: dict[tuple[int, str], Contact],
) -> list[NewWhatsApp]:
    """The messages to write, each draft that wants a contact given one (created if need be)."""
    wanted = [
        (drafts[i].message.org_id, phone)
        for i in written
        if (phone := drafts[i].new_contact) is not None
    ]
    contact_ids = await contacts.create_missing_contacts_within(conn, clock, wanted, reusable)
    messages = []
    for index in written:
        draft = drafts[index]
        message = draft.message
        if draft.new_contact is not None:
            contact_id = contact_ids[(message.org_id, draft.new_contact.digits)]
            message = replace(message, contact_id=contact_id)
        messages.append(message)
    return messages
