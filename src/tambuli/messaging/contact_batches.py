"""Queueing many messages to known contacts inside the caller's transaction (campaign steps).

The same rules as a single send (sender, segments, prices, reservations), but a whole batch
costs one statement per table: the campaign scheduler fires thousands of steps a second.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.billing import reservations as funds
from tambuli.clock import Clock
from tambuli.contacts import service as contacts
from tambuli.contacts.models import Contact
from tambuli.db.engine import Database
from tambuli.db.schema import messages
from tambuli.errors import TambuliError
from tambuli.messaging import queue_store, store
from tambuli.messaging.intake import Draft, write_drafts_within
from tambuli.messaging.personalisation import has_variables, render_for_contact
from tambuli.messaging.sending import Outbox, compose_message, require_price
from tambuli.messaging.views import StoredMessage

Item = TypeVar("Item")
DraftT = TypeVar("DraftT")
StoredT = TypeVar("StoredT")


@dataclass(frozen=True)
class ContactSms:
    """One message to a contact: text already chosen, personalised here."""

    contact: Contact
    text: str
    sender: str
    campaign_run_id: int | None = None
    # The delivery deadline ends here at the latest (a campaign's sending window closing).
    deadline_cap: datetime | None = None


async def enqueue_contact_messages_within(
    conn: AsyncConnection, outbox: Outbox, items: Sequence[ContactSms]
) -> list[StoredMessage | TambuliError]:
    """Queue each message (reserving its price) or say why not, in the order given."""
    now = outbox.clock.now()
    field_names: dict[int, dict[int, str]] = {}

    async def draft(item: ContactSms) -> Draft:
        return await _draft(conn, outbox, item, now, field_names)

    return await draft_and_write(items, draft, partial(write_drafts_within, conn, outbox.clock))


async def draft_and_write(
    items: Sequence[Item],
    draft: Callable[[Item], Awaitable[DraftT]],
    write: Callable[[list[DraftT]], Awaitable[list[StoredT | TambuliError]]],
) -> list[StoredT | TambuliError]:
    """Draft each item and write the drafts as one batch; per item, in the order given, what
    was stored or why not (an item that breaks a rule is answered with its error, the batch
    goes on)."""
    outcomes: list[StoredT | TambuliError | None] = [None] * len(items)
    drafts: list[DraftT] = []
    placed: list[int] = []
    for index, item in enumerate(items):
        try:
            drafts.append(await draft(item))
            placed.append(index)
        except TambuliError as exc:
            outcomes[index] = exc
    written = await write(drafts)
    for index, outcome in zip(placed, written, strict=True):
        outcomes[index] = outcome
    return [o for o in outcomes if o is not None]


async def read_field_names_within(
    conn: AsyncConnection, found: dict[int, dict[int, str]], org_id: int
) -> dict[int, str]:
    """The organization's custom field names, read once a batch (`found` keeps them)."""
    if org_id not in found:
        found[org_id] = await contacts.read_custom_field_names_within(conn, org_id)
    return found[org_id]


async def _draft(
    conn: AsyncConnection,
    outbox: Outbox,
    item: ContactSms,
    now: datetime,
    field_names: dict[int, dict[int, str]],
) -> Draft:
    contact = item.contact
    # Read on the caller's connection when stale, never on a second one (db/engine.py).
    profile = await outbox.profiles.get_within(conn, contact.org_id)
    found_price = await outbox.prices.price_for_within(conn, contact.region, contact.phone)
    price_micro = require_price(found_price, contact.phone, contact.region)
    body = item.text
    if has_variables(body):
        names = await read_field_names_within(conn, field_names, contact.org_id)
        body = render_for_contact(body, contact, names)
    new, segments = compose_message(
        contact.org_id,
        item.sender,
        profile,
        contact,
        body,
        contact.phone,
        price_micro,
        now,
        server_sender=outbox.default_sender_id,
        campaign_run_id=item.campaign_run_id,
    )
    window = timedelta(seconds=profile.delivery_window_seconds)
    if item.deadline_cap is not None and item.deadline_cap < new.deadline_at:
        window = max(item.deadline_cap - now, timedelta(seconds=1))
        new = replace(new, deadline_at=now + window)
    return Draft(new, window, segments)


async def cancel_run_messages_within(
    conn: AsyncConnection, clock: Clock, run_ids: Sequence[int], reason: str
) -> None:
    """Fail (and refund) the messages of these campaign runs that are still queued."""
    reservations = await queue_store.fail_queued_messages_of_runs(
        conn, messages, run_ids, clock.now(), reason
    )
    await funds.release_many_within(conn, clock, reservations)


async def find_runs_with_failed_messages(db: Database, run_ids: Sequence[int]) -> set[int]:
    """Campaign runs (of these) that have a message that failed to reach the phone."""
    async with db.read() as conn:
        return await store.select_runs_with_failed_messages(conn, run_ids)
