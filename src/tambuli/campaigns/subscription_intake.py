"""Group commit for subscriptions: concurrent subscribeContact requests share one transaction.

Each request checks its body's shape on its own, then waits in the process's intake
(db/batch_intake.py). A batch reads each campaign and checks that it can send once, looks every
number up (locking the missing ones, so a number gets one contact however many requests name
it), refuses what must be refused before anything is written, then creates the missing contacts
and the runs in a few statements. A request's outcome is the same as if it had been alone: a
refusal found only after its contact was written (a reminder without its date, say) makes the
batch be written again one request at a time, so the refused request changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.campaigns import reply_store, store
from tambuli.campaigns.delays import (
    Delay,
    choose_delay_zone,
    compute_fire_time,
    parse_delay,
    resolve_zone,
)
from tambuli.campaigns.models import Campaign
from tambuli.campaigns.readiness import check_campaign_sendable_within
from tambuli.campaigns.subscriptions import (
    Subscribed,
    SubscribeRequest,
    check_args,
    open_campaign_within,
    plan_run,
    read_field_names_within,
)
from tambuli.clock import Clock
from tambuli.contacts import service as contacts
from tambuli.contacts.models import Contact, ContactInput, PhoneNumber
from tambuli.db.batch_intake import BatchIntake
from tambuli.db.engine import Database
from tambuli.errors import (
    ActiveSubscription,
    ContactOptedOut,
    InvalidField,
    ResubscribeRefused,
    TambuliError,
    UnknownContact,
)


@dataclass(frozen=True)
class SubscribeDraft:
    """A subscription whose body was checked, waiting for its batch."""

    request: SubscribeRequest
    delay: Delay


class SubscriptionIntake(BatchIntake[SubscribeDraft, Subscribed]):
    """Writes subscriptions in batches; one per process, shared by the API and the console."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        server_sender: str,
        max_batch: int = 200,
        max_waiting: int = 5000,
    ) -> None:
        super().__init__(db, max_batch, max_waiting)
        self._clock = clock
        self._server_sender = server_sender

    async def write_batch(
        self, conn: AsyncConnection, drafts: list[SubscribeDraft]
    ) -> list[Subscribed | TambuliError]:
        """Write the batch's runs (and contacts) in the caller's transaction."""
        return await write_subscriptions_within(conn, self._clock, drafts, self._server_sender)

    async def find_duplicate(self, draft: SubscribeDraft) -> TambuliError:
        """Another process started a run for the same contact and campaign first."""
        return ActiveSubscription()


async def subscribe_contact(intake: SubscriptionIntake, request: SubscribeRequest) -> Subscribed:
    """Start a run of the campaign for one contact (found, created or updated first).

    A campaign that cannot send is refused (readiness.py), naming why.
    """
    delay = parse_delay(request.delay)
    check_args(request.args)
    if request.time_zone:
        try:
            resolve_zone(request.time_zone, None, None)
        except InvalidField as exc:
            raise InvalidField(exc.message, {"field": "timeZone"}) from None
    return await intake.submit(SubscribeDraft(request, delay))


@dataclass
class _Batch:
    """What a batch knows about its drafts while it is written."""

    drafts: list[SubscribeDraft]
    outcomes: list[Subscribed | TambuliError | None]
    campaigns: dict[tuple[int, int], Campaign]
    # Each live draft's contact; None for a number that has none yet.
    contacts: dict[int, Contact | None]

    def live(self) -> list[int]:
        """The drafts not refused so far, in order."""
        return [i for i, outcome in enumerate(self.outcomes) if outcome is None]


async def write_subscriptions_within(
    conn: AsyncConnection, clock: Clock, drafts: list[SubscribeDraft], server_sender: str
) -> list[Subscribed | TambuliError]:
    """Subscribe a batch inside the caller's transaction; per draft, its run or why not.

    Raises a draft's TambuliError when it is found after that draft's contact was written:
    the caller then writes the drafts one by one.
    """
    batch = _Batch(drafts, [None] * len(drafts), {}, {})
    await _open_campaigns(conn, batch, server_sender)
    await _find_contacts(conn, batch)
    await _refuse_opted_out(conn, batch)
    await _refuse_repeats(conn, batch)
    await _write_contacts(conn, clock, batch)
    now = clock.now()
    field_names = {
        key: await read_field_names_within(conn, campaign)
        for key, campaign in sorted(batch.campaigns.items())
    }
    live = batch.live()
    news = []
    for index in live:
        request, delay = drafts[index].request, drafts[index].delay
        key = (request.org_id, request.campaign_id)
        contact = batch.contacts[index]
        assert contact is not None
        started_at = compute_fire_time(delay, now, choose_delay_zone(delay))
        news.append(
            plan_run(
                batch.campaigns[key],
                contact,
                now,
                started_at,
                request.time_zone,
                request.args,
                field_names[key],
            )
        )
    run_ids = await store.insert_runs(conn, news)
    for index, new, run_id in zip(live, news, run_ids, strict=True):
        batch.outcomes[index] = Subscribed(run_id, new.contact_id)
    return [o for o in batch.outcomes if o is not None]


async def _open_campaigns(conn: AsyncConnection, batch: _Batch, server_sender: str) -> None:
    """Read each campaign once and check it takes subscriptions and can send."""
    wanted = sorted({(d.request.org_id, d.request.campaign_id) for d in batch.drafts})
    refused: dict[tuple[int, int], TambuliError] = {}
    for org_id, campaign_id in wanted:
        try:
            campaign = await open_campaign_within(conn, org_id, campaign_id)
            await check_campaign_sendable_within(conn, campaign, server_sender)
        except TambuliError as exc:
            refused[(org_id, campaign_id)] = exc
        else:
            batch.campaigns[(org_id, campaign_id)] = campaign
    for index, draft in enumerate(batch.drafts):
        error = refused.get((draft.request.org_id, draft.request.campaign_id))
        if error is not None:
            batch.outcomes[index] = error


async def _find_contacts(conn: AsyncConnection, batch: _Batch) -> None:
    """Each live draft's contact: by ID, else the newest with its number (locked when none)."""
    live = batch.live()
    by_id = await contacts.get_contacts_within(
        conn,
        sorted({i for i in (batch.drafts[x].request.contact_id for x in live) if i is not None}),
    )
    numbers: dict[int, list[str]] = defaultdict(list)
    for index in live:
        request = batch.drafts[index].request
        if request.contact_id is not None:
            found = by_id.get(request.contact_id)
            if found is None or found.org_id != request.org_id:
                batch.outcomes[index] = UnknownContact(
                    f"No contact with ID {request.contact_id} in this organization"
                )
        else:
            assert request.phone is not None
            numbers[request.org_id].append(request.phone.digits)
    by_number: dict[tuple[int, str], Contact] = {}
    # Organizations in ID order, each one's number locks in ascending order (db/key_locks.py).
    for org_id in sorted(numbers):
        found_of_org = await contacts.find_newest_contacts_to_reuse_within(
            conn, org_id, numbers[org_id]
        )
        by_number.update({(org_id, d): c for d, c in found_of_org.items()})
    for index in batch.live():
        request = batch.drafts[index].request
        if request.contact_id is not None:
            batch.contacts[index] = by_id[request.contact_id]
        else:
            assert request.phone is not None
            batch.contacts[index] = by_number.get((request.org_id, request.phone.digits))


async def _refuse_opted_out(conn: AsyncConnection, batch: _Batch) -> None:
    """Refuse drafts whose number sent an opt-out keyword to the organization."""
    numbers: dict[int, set[str]] = defaultdict(set)
    for index in batch.live():
        numbers[batch.drafts[index].request.org_id].add(_digits_of(batch, index))
    opted_out = {
        (org_id, digits)
        for org_id in sorted(numbers)
        for digits in await reply_store.select_opted_out(conn, org_id, sorted(numbers[org_id]))
    }
    for index in batch.live():
        org_id, digits = batch.drafts[index].request.org_id, _digits_of(batch, index)
        if (org_id, digits) in opted_out:
            contact = batch.contacts[index]
            who = f"+{digits}" if contact is None else f"Contact {contact.id}"
            batch.outcomes[index] = ContactOptedOut(
                f"{who} opted out of campaign messages (its number sent an opt-out keyword); "
                "it can opt in again by sending START",
                {"contactIds": [] if contact is None else [contact.id]},
            )


async def _refuse_repeats(conn: AsyncConnection, batch: _Batch) -> None:
    """Refuse a contact's second subscription to a campaign: an active run, an earlier run
    when resubscribing is not allowed, or an earlier draft of this batch."""
    known: dict[tuple[int, int], list[int]] = defaultdict(list)
    for index in batch.live():
        contact = batch.contacts[index]
        if contact is not None:
            request = batch.drafts[index].request
            known[(request.org_id, request.campaign_id)].append(contact.id)
    earlier: defaultdict[tuple[int, int, int], list[store.Run]] = defaultdict(list)
    for (org_id, campaign_id), contact_ids in sorted(known.items()):
        for run in await store.select_runs_of_contacts(conn, org_id, campaign_id, contact_ids):
            earlier[(org_id, campaign_id, run.contact_id)].append(run)
    taken: set[tuple[int, int, object]] = set()
    for index in batch.live():
        request = batch.drafts[index].request
        contact = batch.contacts[index]
        # A number still without a contact is one contact, whichever draft creates it.
        who: object = contact.id if contact is not None else _digits_of(batch, index)
        key = (request.org_id, request.campaign_id, who)
        runs = [] if contact is None else earlier[(request.org_id, request.campaign_id, contact.id)]
        active = [r for r in runs if r.is_active]
        if active or key in taken:
            batch.outcomes[index] = ActiveSubscription(
                f"Contact {who} already has an active subscription to this campaign"
                if contact is not None
                else f"+{who} already has an active subscription to this campaign",
                {"contactIds": [contact.id] if contact is not None else []},
            )
        elif runs and not request.allow_resubscribe:
            batch.outcomes[index] = ResubscribeRefused(
                f"Contact {who} was subscribed to this campaign before and "
                "allowResubscribe is false",
                {"runIds": sorted(r.id for r in runs)},
            )
        else:
            taken.add(key)


async def _write_contacts(conn: AsyncConnection, clock: Clock, batch: _Batch) -> None:
    """Create the missing contacts (once per number) and apply the given fields to the rest."""
    to_create: dict[int, dict[str, int]] = defaultdict(dict)
    for index in batch.live():
        if batch.contacts[index] is None:
            org_id = batch.drafts[index].request.org_id
            to_create[org_id].setdefault(_digits_of(batch, index), index)
    creators: set[int] = set()
    for org_id in sorted(to_create):
        firsts = list(to_create[org_id].values())
        creators.update(firsts)
        created = await contacts.create_contacts_within(
            conn,
            clock,
            org_id,
            [_phone_and_fields(batch.drafts[i].request) for i in firsts],
        )
        made = {c.phone: c for c in created}
        for index in batch.live():
            request = batch.drafts[index].request
            if batch.contacts[index] is None and request.org_id == org_id:
                batch.contacts[index] = made[_digits_of(batch, index)]
    # In contact order, so batches that change the same contacts lock them in the same order.
    changes = [i for i in batch.live() if i not in creators and batch.drafts[i].request.contact]
    for index in sorted(changes, key=lambda i: _contact_of(batch, i).id):
        request = batch.drafts[index].request
        given = request.contact
        assert given is not None
        contact = _contact_of(batch, index)
        if given.groups is not None:
            # The subscribe API adds groups; it never takes the contact out of one.
            given = replace(given, groups=sorted(set(contact.groups) | set(given.groups)))
        batch.contacts[index] = await contacts.update_contact_within(
            conn, clock, request.org_id, contact.id, given
        )


def _phone_and_fields(request: SubscribeRequest) -> tuple[PhoneNumber, ContactInput]:
    assert request.phone is not None
    return request.phone, request.contact or ContactInput()


def _contact_of(batch: _Batch, index: int) -> Contact:
    contact = batch.contacts[index]
    assert contact is not None
    return contact


def _digits_of(batch: _Batch, index: int) -> str:
    """The number a draft subscribes: its contact's, else the one the request names."""
    contact = batch.contacts.get(index)
    if contact is not None:
        return contact.phone
    phone = batch.drafts[index].request.phone
    assert phone is not None
    return phone.digits
