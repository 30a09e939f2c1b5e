"""Subscribing contacts to campaigns and unsubscribing them: the rules every subscription
follows (the campaign open, the run planned), and all-or-none batches for the legacy API and
the console. Single subscriptions share transactions through subscription_intake.py."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.campaigns import reply_store, store
from tambuli.campaigns.delays import (
    EARLIEST_AT,
    LATEST_AT,
    resolve_zone,
)
from tambuli.campaigns.models import Campaign, CampaignKind, RunStatus, check_storable_json
from tambuli.campaigns.readiness import check_campaign_sendable_within
from tambuli.campaigns.reminders import parse_reminder_date
from tambuli.campaigns.run_changes import Ended, RunChange
from tambuli.campaigns.schedule import plan_first_step, plan_remaining_steps
from tambuli.clock import Clock
from tambuli.contacts import service as contacts
from tambuli.contacts.models import Contact, ContactInput, PhoneNumber, fold_name
from tambuli.db.engine import Database
from tambuli.errors import (
    ActiveSubscription,
    CampaignClosed,
    ContactOptedOut,
    InvalidField,
    MissingReminderDate,
    ResubscribeRefused,
    UnknownCampaign,
    UnknownContact,
)

MAX_ARGS_LENGTH = 10_000


@dataclass(frozen=True)
class SubscribeRequest:
    """A subscribeContact request, its fields checked for shape."""

    org_id: int
    campaign_id: int
    contact_id: int | None
    phone: PhoneNumber | None
    allow_resubscribe: bool = True
    time_zone: str = ""
    delay: Mapping[str, object] | None = None
    args: dict[str, Any] = field(default_factory=dict)
    contact: ContactInput | None = None


@dataclass(frozen=True)
class Subscribed:
    """The run a subscription created, and its contact."""

    run_id: int
    contact_id: int


@dataclass(frozen=True)
class NewSubscriber:
    """One entry of a batch subscription: an existing contact's ID, or a contact to create."""

    contact_id: int | None = None
    phone: PhoneNumber | None = None
    fields: ContactInput = field(default_factory=ContactInput)


async def subscribe_many(
    db: Database,
    clock: Clock,
    org_id: int,
    campaign_id: int,
    subscribers: Sequence[NewSubscriber],
    *,
    reuse_newest: bool,
    server_sender: str = "",
) -> list[Contact]:
    """Subscribe a batch in one transaction (all or none); the contacts in order.

    A campaign that cannot send is refused (readiness.py).

    New contacts are created unless `reuse_newest` finds a contact with the number (whose
    other given fields are then ignored, as engageSPARK's legacy API documents).
    """
    try:
        async with db.write() as conn:
            campaign = await open_campaign_within(conn, org_id, campaign_id)
            await check_campaign_sendable_within(conn, campaign, server_sender)
            resolved = await _resolve_batch(conn, clock, org_id, subscribers, reuse_newest)
            ids = [c.id for c in resolved]
            repeated = sorted(c for c, n in Counter(ids).items() if n > 1)
            if repeated:
                raise ActiveSubscription(
                    f"Contact {repeated[0]} appears twice in the batch", {"contactIds": repeated}
                )
            await _refuse_opted_out(conn, org_id, resolved)
            earlier = await store.select_runs_of_contacts(conn, org_id, campaign_id, ids)
            _refuse_resubscribe(earlier, True, None)
            now = clock.now()
            names = await read_field_names_within(conn, campaign)
            news = [plan_run(campaign, c, now, now, "", {}, names) for c in resolved]
            await store.insert_runs(conn, news)
    except IntegrityError:
        raise ActiveSubscription() from None
    return resolved


async def unsubscribe_contact(
    db: Database, clock: Clock, org_id: int, campaign_id: int, contact_id: int
) -> int | None:
    """End the contact's active run as unsubscribed; its ID, or None when none was active.

    A contact that does not exist has no active run either: engageSPARK says it is fine to call
    this when there is no subscription, so that is not an error (docs/decisions.md).
    """
    async with db.write() as conn:
        campaign = await store.select_campaign(conn, org_id, campaign_id)
        if campaign is None:
            raise UnknownCampaign(f"No campaign with ID {campaign_id} in this organization")
        # Locked: the scheduler may be ending the same run (done, opted out) right now.
        runs = await store.select_runs_of_contacts(
            conn, org_id, campaign_id, [contact_id], for_update=True
        )
        active = [r for r in runs if r.is_active]
        if not active:
            return None
        ended = Ended(RunStatus.UNSUBSCRIBED, clock.now())
        reason = "unsubscribed by request"
        await store.update_runs(conn, [RunChange(r.id, ended, last_error=reason) for r in active])
        return active[0].id


async def find_campaign_org(db: Database, campaign_id: int) -> int | None:
    """The organization a campaign belongs to (the legacy API names campaigns only by ID)."""
    async with db.read() as conn:
        found = await store.select_campaigns_by_ids(conn, [campaign_id])
    campaign = found.get(campaign_id)
    return None if campaign is None else campaign.org_id


def plan_run(
    campaign: Campaign,
    contact: Contact,
    now: datetime,
    started_at: datetime,
    time_zone: str,
    args: dict[str, Any],
    field_names: Mapping[int, str],
) -> store.NewRun:
    """A new run: its zone, its reminder date and its first step.

    The run's zone is `time_zone` (the subscription's timeZone), else the contact's number's;
    a given timeZone also sets the time of day of drip and reminder steps (schedule.py).
    """
    zone = resolve_zone(time_zone or None, None, contact.phone)
    override = zone if time_zone else None
    anchor_at = None
    if campaign.kind is CampaignKind.REMINDER:
        anchor_at = _find_reminder_date(campaign, contact, args, zone, field_names)
    first = plan_first_step(
        campaign.kind,
        campaign.rules,
        started_at=started_at,
        anchor_at=anchor_at,
        zone=zone,
        override=override,
    )
    if first is not None:
        # Every later step must have a moment too: a run that cannot be planned to its end is
        # refused now, not found out by the scheduler weeks later.
        plan_remaining_steps(
            campaign.kind,
            campaign.rules,
            first.index,
            next_due_at=first.due_at,
            started_at=started_at,
            anchor_at=anchor_at,
            zone=zone,
            override=override,
        )
    return store.NewRun(
        org_id=campaign.org_id,
        campaign_id=campaign.id,
        contact_id=contact.id,
        time_zone=zone.key,
        time_zone_given=override is not None,
        args=args,
        started_at=started_at,
        anchor_at=anchor_at,
        step_index=len(campaign.rules.steps) if first is None else first.index,
        step_due_at=None if first is None else first.due_at,
        created_at=now,
    )


def _find_reminder_date(
    campaign: Campaign,
    contact: Contact,
    args: Mapping[str, Any],
    zone: ZoneInfo,
    field_names: Mapping[int, str],
) -> datetime:
    rules = campaign.rules
    if rules.reminder_arg and args.get(rules.reminder_arg) not in (None, ""):
        where = f"args.{rules.reminder_arg}"
        return _check_year(parse_reminder_date(args[rules.reminder_arg], zone, where), where)
    if rules.reminder_field:
        # The field's value on the contact; names compare without case, as everywhere.
        wanted = fold_name(rules.reminder_field)
        for field_id, name in field_names.items():
            if fold_name(name) == wanted and contact.custom_fields.get(field_id):
                found = parse_reminder_date(contact.custom_fields[field_id], zone, name)
                return _check_year(found, name)
    where = f'args "{rules.reminder_arg}"' if rules.reminder_arg else ""
    if rules.reminder_field:
        where += (" or " if where else "") + f'custom field "{rules.reminder_field}"'
    raise MissingReminderDate(f"A reminder campaign needs the date in {where}")


def _check_year(moment: datetime, where: str) -> datetime:
    if not EARLIEST_AT <= moment.year <= LATEST_AT:
        raise InvalidField(
            f"{where} must be between {EARLIEST_AT} and {LATEST_AT}", {"field": where}
        )
    return moment


async def open_campaign_within(conn: AsyncConnection, org_id: int, campaign_id: int) -> Campaign:
    """The campaign, if it takes subscriptions now; UnknownCampaign or CampaignClosed if not."""
    campaign = await store.select_campaign(conn, org_id, campaign_id)
    if campaign is None:
        raise UnknownCampaign(f"No campaign with ID {campaign_id} in this organization")
    if not campaign.accepts_subscriptions:
        why = (
            "is closed for new subscriptions"
            if campaign.state.value == "launched"
            else f"is {campaign.state.value}, not launched"
        )
        raise CampaignClosed(f"Campaign {campaign_id} {why}", {"state": campaign.state.value})
    return campaign


async def read_field_names_within(conn: AsyncConnection, campaign: Campaign) -> dict[int, str]:
    """The custom field names a reminder needs to find its date on contacts."""
    if campaign.kind is CampaignKind.REMINDER and campaign.rules.reminder_field:
        return await contacts.read_custom_field_names_within(conn, campaign.org_id)
    return {}


async def _resolve_batch(
    conn: AsyncConnection,
    clock: Clock,
    org_id: int,
    subscribers: Sequence[NewSubscriber],
    reuse_newest: bool,
) -> list[Contact]:
    """The contact of each entry: by ID, reused by number, or created."""
    resolved: list[Contact | None] = [None] * len(subscribers)
    wanted = sorted({s.contact_id for s in subscribers if s.contact_id is not None})
    existing = await contacts.get_contacts_within(conn, wanted)
    missing = [c for c in wanted if c not in existing or existing[c].org_id != org_id]
    if missing:
        raise UnknownContact(
            f"No contact with ID {missing[0]} in this organization", {"contactIds": missing}
        )
    newest: dict[str, Contact] = {}
    if reuse_newest:
        numbers = [s.phone.digits for s in subscribers if s.phone is not None]
        newest = await contacts.find_newest_contacts_to_reuse_within(conn, org_id, numbers)
    for index, subscriber in enumerate(subscribers):
        if subscriber.contact_id is not None:
            resolved[index] = existing[subscriber.contact_id]
        elif reuse_newest:
            resolved[index] = newest.get(_phone_of(subscriber).digits)
    to_create = [i for i, c in enumerate(resolved) if c is None]
    if reuse_newest:
        # A number given twice is one contact, as it would be in two requests.
        first_of: dict[str, int] = {}
        for i in to_create:
            first_of.setdefault(_phone_of(subscribers[i]).digits, i)
        to_create = sorted(first_of.values())
    created = await contacts.create_contacts_within(
        conn,
        clock,
        org_id,
        [(_phone_of(subscribers[i]), subscribers[i].fields) for i in to_create],
    )
    by_number = {c.phone: c for c in created}
    for index, contact in zip(to_create, created, strict=True):
        resolved[index] = contact
    for index, subscriber in enumerate(subscribers):
        if resolved[index] is None:
            resolved[index] = by_number[_phone_of(subscriber).digits]
    return [c for c in resolved if c is not None]


def _phone_of(subscriber: NewSubscriber) -> PhoneNumber:
    assert subscriber.phone is not None, "an entry without a contact ID has a number"
    return subscriber.phone


async def _refuse_opted_out(conn: AsyncConnection, org_id: int, found: Sequence[Contact]) -> None:
    refused = await reply_store.select_opted_out(conn, org_id, [c.phone for c in found])
    if refused:
        ids = sorted(c.id for c in found if c.phone in refused)
        raise ContactOptedOut(
            f"Contact {ids[0]} opted out of campaign messages (its number sent an opt-out "
            "keyword); it can opt in again by sending START",
            {"contactIds": ids},
        )


def _refuse_resubscribe(
    earlier: Sequence[store.Run], allow_resubscribe: bool, contact_id: int | None
) -> None:
    active = sorted(r.contact_id for r in earlier if r.is_active)
    if active:
        raise ActiveSubscription(
            f"Contact {active[0]} already has an active subscription to this campaign",
            {"contactIds": active},
        )
    if earlier and not allow_resubscribe:
        raise ResubscribeRefused(
            f"Contact {contact_id} was subscribed to this campaign before and "
            "allowResubscribe is false",
            {"runIds": sorted(r.id for r in earlier)},
        )


def check_args(args: object) -> None:
    """InvalidField unless a subscription's args are a storable JSON object of bounded size."""
    if not isinstance(args, dict):
        raise InvalidField("args must be an object", {"field": "args"})
    check_storable_json("args", args)
    if len(json.dumps(args)) > MAX_ARGS_LENGTH:
        raise InvalidField(
            f"args must be at most {MAX_ARGS_LENGTH} characters as JSON", {"field": "args"}
        )
