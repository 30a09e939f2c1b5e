"""The clientPushURL pushes a message's progress queues: which events, in which body."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.messaging import store
from tambuli.messaging.views import render_record
from tambuli.organizations import profile as profiles
from tambuli.organizations.models import ClientPushEvents
from tambuli.webhooks import service as webhooks
from tambuli.webhooks.models import NewPush

# The clientPushURL events engageSPARK sends: a delivery receipt, and (since no receipt will
# follow) a message that failed for good.
SPEC_PUSH_EVENTS = frozenset({"receipt", "failed"})


async def enqueue_message_pushes_within(
    conn: AsyncConnection, now: datetime, events: Sequence[tuple[int, str]]
) -> None:
    """Queue a push for each (message row ID, event) its organization wants at its clientPushURL.

    By default only `receipt` and `failed` are pushed, as the bare message record: what an
    engageSPARK client expects. Organizations that chose every event also get `accepted`, and
    an `event` field in each body.
    """
    if not events:
        return
    wanted = dict(events)
    found = await store.select_messages_by_ids(conn, list(wanted))
    await enqueue_record_pushes_within(
        conn,
        now,
        [
            (m.org_id, m.client_push_url, wanted[m.id], msgspec.to_builtins(render_record(m)))
            for m in found
            if m.client_push_url
        ],
    )


async def enqueue_record_pushes_within(
    conn: AsyncConnection, now: datetime, records: Sequence[tuple[int, str, str, dict[str, Any]]]
) -> None:
    """Queue the pushes of (org ID, clientPushURL, event, record body) that each organization
    wants: `receipt` and `failed` by default, every event with an `event` field if it chose so.
    The one rule of clientPushURL pushes, for SMS and WhatsApp records alike."""
    if not records:
        return
    choices = await profiles.read_client_push_events_within(conn, {r[0] for r in records})
    pushes: list[NewPush] = []
    for org_id, url, event, payload in records:
        every_event = choices[org_id] == ClientPushEvents.ALL
        if event not in SPEC_PUSH_EVENTS and not every_event:
            continue
        if every_event:
            payload = {**payload, "event": event}
        pushes.append(NewPush(org_id, url, event, payload))
    await webhooks.enqueue_pushes_within(conn, now, pushes)
