"""Group commit for accepted SMS: many concurrent sends share one transaction.

Each request prepares its message (recipient, text, parts, price) on its own; a batch is written
in one transaction (see db/batch_intake.py): one balance update per organization, one insert
each for reservations, ledger entries, messages and clientDedup keys. The bound on waiting
sends keeps intake from crowding out delivery.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.billing import reservations as funds
from tambuli.clock import Clock
from tambuli.contacts import service as contacts
from tambuli.contacts.models import Contact, PhoneNumber
from tambuli.db.batch_intake import BatchIntake
from tambuli.db.engine import Database
from tambuli.errors import DuplicateMessage, InsufficientFunds, TambuliError
from tambuli.messaging import senders, store
from tambuli.messaging.segments import SegmentedMessage
from tambuli.messaging.views import StoredMessage
from tambuli.records import frozen_record

RESERVATION_REASON = "sms"


@frozen_record
class Draft:
    """A message ready to be written; its times are set when its batch is written."""

    message: store.NewMessage
    delivery_window: timedelta
    segments: SegmentedMessage
    # A send to a number that had no contact when the draft was made: the batch gives it the
    # newest contact with the number by then, or creates one, once the message is paid for.
    new_contact: PhoneNumber | None = None


class SmsIntake(BatchIntake[Draft, StoredMessage]):
    """Writes drafts in batches; one per process, shared by every request."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        max_batch: int = 200,
        max_waiting: int = 5000,
    ) -> None:
        super().__init__(db, max_batch, max_waiting)
        self._clock = clock

    async def write_batch(
        self, conn: AsyncConnection, drafts: list[Draft]
    ) -> list[StoredMessage | TambuliError]:
        """Write drafts, their times set now, in the caller's transaction."""
        now = self._clock.now()
        return await write_drafts_within(
            conn, self._clock, [set_draft_times(d, now) for d in drafts]
        )

    async def find_duplicate(self, draft: Draft) -> TambuliError:
        """The answer to a draft whose clientDedup another process took first."""
        message = draft.message
        async with self._db.read() as conn:
            original = await store.select_message_by_dedup(
                conn, message.org_id, message.client_dedup
            )
        if original is None:
            raise RuntimeError("a clientDedup conflict without an original message")
        return DuplicateMessage(original)


def set_draft_times(draft: Draft, now: datetime) -> Draft:
    """The draft as written at `now`: created then, due by its delivery window."""
    # Built field by field: dataclasses.replace, twice per message, was a visible share of a
    # busy intake's time.
    m = draft.message
    message = store.NewMessage(
        org_id=m.org_id,
        contact_id=m.contact_id,
        sender=m.sender,
        recipient=m.recipient,
        body=m.body,
        encoding=m.encoding,
        parts=m.parts,
        price_per_part_micro=m.price_per_part_micro,
        client_ref=m.client_ref,
        client_dedup=m.client_dedup,
        client_push_url=m.client_push_url,
        deadline_at=now + draft.delivery_window,
        created_at=now,
        campaign_run_id=m.campaign_run_id,
    )
    return Draft(message, draft.delivery_window, draft.segments, draft.new_contact)


async def write_drafts_within(
    conn: AsyncConnection, clock: Clock, drafts: list[Draft]
) -> list[StoredMessage | TambuliError]:
    """Write a batch inside one transaction; per draft, the stored message or why not."""
    outcomes: list[StoredMessage | TambuliError | None] = [None] * len(drafts)
    await _refuse_duplicates(conn, drafts, outcomes)
    await _refuse_foreign_senders(conn, drafts, outcomes)
    # Numbers without a contact are looked up (and locked when still missing) before any
    # balance row is locked: find-or-create elsewhere takes a number's lock first, then the
    # balance, and this keeps the same order.
    reusable = await contacts.find_contacts_to_reuse_within(
        conn,
        [
            (d.message.org_id, d.new_contact.digits)
            for i, d in enumerate(drafts)
            if outcomes[i] is None and d.new_contact is not None
        ],
    )
    reservations: dict[int, int | None] = {}
    by_org: dict[int, list[int]] = defaultdict(list)
    for index, draft in enumerate(drafts):
        if outcomes[index] is None:
            if _total(draft) > 0:
                by_org[draft.message.org_id].append(index)
            else:
                reservations[index] = None
    # Organizations in ID order: the same global lock order as billing's batches.
    for org_id in sorted(by_org):
        indexes = by_org[org_id]
        await _reserve_for_org(conn, clock, org_id, drafts, indexes, reservations, outcomes)
    written = sorted(reservations)
    messages = await _attach_contacts(conn, clock, drafts, written, reusable)
    row_ids = await store.insert_queued_messages(conn, messages, [reservations[i] for i in written])
    await contacts.mark_contacts_used_within(
        conn, clock, [m.contact_id for m in messages if m.contact_id is not None]
    )
    keys = []
    for index, message, row_id in zip(written, messages, row_ids, strict=True):
        outcomes[index] = store.queued_message(row_id, message)
        if message.client_dedup:
            keys.append((message.org_id, message.client_dedup, row_id))
    await store.insert_dedup_keys(conn, keys)
    # Repeats of a key within this batch answer with the message that took the key.
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, _SameBatchRepeat):
            first = outcomes[outcome.first]
            outcomes[index] = DuplicateMessage(first) if isinstance(first, StoredMessage) else first
    assert all(o is not None for o in outcomes)
    return [o for o in outcomes if o is not None]


class _SameBatchRepeat(TambuliError):
    """A clientDedup key that an earlier draft of the same batch uses."""

    def __init__(self, first: int) -> None:
        super().__init__()
        self.first = first


async def _attach_contacts(
    conn: AsyncConnection,
    clock: Clock,
    drafts: list[Draft],
    written: list[int],
    reusable: dict[tuple[int, str], Contact],
) -> list[store.NewMessage]:
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


def _total(draft: Draft) -> int:
    return draft.message.parts * draft.message.price_per_part_micro


async def _refuse_duplicates(
    conn: AsyncConnection,
    drafts: list[Draft],
    outcomes: list[StoredMessage | TambuliError | None],
) -> None:
    wanted = {(d.message.org_id, d.message.client_dedup) for d in drafts if d.message.client_dedup}
    if not wanted:
        return
    existing = await store.select_messages_by_dedup_keys(conn, wanted)
    first_use: dict[tuple[int, str], int] = {}
    for index, draft in enumerate(drafts):
        key = (draft.message.org_id, draft.message.client_dedup)
        if not draft.message.client_dedup:
            continue
        if key in existing:
            outcomes[index] = DuplicateMessage(existing[key])
        elif key in first_use:
            outcomes[index] = _SameBatchRepeat(first_use[key])
        else:
            first_use[key] = index


async def _refuse_foreign_senders(
    conn: AsyncConnection,
    drafts: list[Draft],
    outcomes: list[StoredMessage | TambuliError | None],
) -> None:
    """Refuse, before anything is reserved, drafts from another organization's sender ID."""
    foreign = await senders.find_foreign_senders_within(
        conn, {(d.message.org_id, d.message.sender) for d in drafts}
    )
    if not foreign:
        return
    for index, draft in enumerate(drafts):
        if outcomes[index] is None and (draft.message.org_id, draft.message.sender) in foreign:
            outcomes[index] = senders.sender_owned(draft.message.sender)


async def _reserve_for_org(
    conn: AsyncConnection,
    clock: Clock,
    org_id: int,
    drafts: list[Draft],
    indexes: list[int],
    reservations: dict[int, int | None],
    outcomes: list[StoredMessage | TambuliError | None],
) -> None:
    """Reserve the org's drafts together; if the sum does not fit, one by one in order."""
    amounts = [_total(drafts[i]) for i in indexes]
    references = [f"sms to +{drafts[i].message.recipient}" for i in indexes]
    answers = await funds.reserve_each_within(
        conn, clock, org_id, amounts, RESERVATION_REASON, references
    )
    for index, answer in zip(indexes, answers, strict=True):
        if isinstance(answer, InsufficientFunds):
            outcomes[index] = answer
        else:
            reservations[index] = answer
