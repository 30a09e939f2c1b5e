"""Which organization an inbound SMS belongs to; the ones that belong to none are kept apart.

The rule (docs/decisions.md, "Inbound SMS reach one organization or none"):

- A sender ID registered to an organization (senders.py): every SMS to it is the owner's.
- Otherwise the SMS is the organization's that has an *open conversation* with the handset
  from that sender ID, when exactly one has: an outbound message from that sender ID to that
  number queued within CONVERSATION_WINDOW before the SMS arrived, or a campaign run that sent
  from that sender ID to that number and still waits for an answer to its question.
- Anything else (no such organization, or several) is kept as unmatched for the operator and
  delivered to nobody: no inbound push, no poll answer, no opt-out.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.channels.base import InboundSms
from tambuli.clock import Clock
from tambuli.contacts import service as contacts
from tambuli.db.engine import Database
from tambuli.messaging import inbound_store, senders, store
from tambuli.messaging.models import sender_key
from tambuli.messaging.segments import segment_message
from tambuli.messaging.views import UnmatchedInbound, render_record
from tambuli.organizations import profile as profiles
from tambuli.webhooks import service as webhooks
from tambuli.webhooks.models import NewPush

log = logging.getLogger("tambuli.inbound")

# How long after an organization's last message from a shared sender ID to a number its
# conversation with that number stays open (a poll question waiting longer stays open too).
CONVERSATION_WINDOW = timedelta(days=7)

# Which of these campaign runs still wait for an answer. The campaigns answer it: they sit
# above messaging, so they hand this in rather than messaging reading their runs.
RunsAwaitingReply = Callable[[AsyncConnection, Sequence[int]], Awaitable[set[int]]]


async def find_addressee_within(
    conn: AsyncConnection, sms: InboundSms, runs_awaiting_reply: RunsAwaitingReply
) -> tuple[int | None, set[int]]:
    """The organization an inbound SMS belongs to (None: no single one), and the candidates."""
    owners = await senders.find_owners_within(conn, [sms.recipient])
    if sms.recipient in owners:
        owner = owners[sms.recipient]
        return owner, {owner}
    handset = sms.sender.strip().removeprefix("+")
    key = sender_key(sms.recipient)
    since = sms.at - CONVERSATION_WINDOW
    candidates = await inbound_store.select_orgs_messaged_since(conn, handset, key, since)
    runs = await inbound_store.select_campaign_runs_messaged(conn, handset, key)
    waiting = await runs_awaiting_reply(conn, sorted(runs)) if runs else set()
    candidates |= {runs[run_id] for run_id in waiting}
    if len(candidates) == 1:
        return next(iter(candidates)), candidates
    return None, candidates


async def record_inbound(
    db: Database,
    clock: Clock,
    messages: Sequence[InboundSms],
    runs_awaiting_reply: RunsAwaitingReply,
) -> None:
    """Store inbound SMS under the organization they belong to, or keep them unmatched."""
    if not messages:
        return
    async with db.write() as conn:
        pushes: list[NewPush] = []
        for sms in messages:
            if sms.operator_event_id and await _seen_before(conn, sms):
                # Delivered to us twice (a replay after a crash): stored once.
                continue
            org_id, candidates = await find_addressee_within(conn, sms, runs_awaiting_reply)
            if org_id is None:
                log.warning(
                    "inbound SMS from %s to %s kept unmatched: %s",
                    sms.sender,
                    sms.recipient,
                    "organizations "
                    + ", ".join(str(o) for o in sorted(candidates))
                    + " have open conversations"
                    if candidates
                    else "no open conversation",
                )
                await inbound_store.insert_unmatched(conn, sms, candidates)
                continue
            push = await _store_for_org(conn, org_id, sms)
            if push is not None:
                pushes.append(push)
        await webhooks.enqueue_pushes_within(conn, clock.now(), pushes)


async def _seen_before(conn: AsyncConnection, sms: InboundSms) -> bool:
    return await store.inbound_exists(
        conn, sms.channel, sms.operator_event_id
    ) or await inbound_store.unmatched_exists(conn, sms.channel, sms.operator_event_id)


async def _store_for_org(conn: AsyncConnection, org_id: int, sms: InboundSms) -> NewPush | None:
    """Store the SMS as the organization's inbound message; its push, if it wants one."""
    contact = await contacts.find_newest_contact_with_phone_within(conn, org_id, sms.sender)
    segments = segment_message(sms.body)
    row_id = await store.insert_inbound_message(
        conn,
        org_id,
        None if contact is None else contact.id,
        sms,
        segments.encoding.value,
        segments.part_count,
    )
    profile = await profiles.read_profile_within(conn, org_id)
    if profile is None or not profile.inbound_url:
        return None
    stored = await store.select_message(conn, org_id, row_id)
    assert stored is not None
    payload: dict[str, Any] = msgspec.to_builtins(render_record(stored))
    payload["event"] = "inbound"
    return NewPush(org_id, profile.inbound_url, "inbound", payload)


async def list_unmatched_inbound(db: Database, limit: int) -> list[UnmatchedInbound]:
    """The inbound SMS kept for the operator, newest first."""
    async with db.read() as conn:
        return await inbound_store.select_unmatched(conn, limit)
