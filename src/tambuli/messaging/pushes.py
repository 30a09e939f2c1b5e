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
    stored = [m for m in found if m.client_push_url]
    choices = await profiles.read_client_push_events_within(conn, {m.org_id for m in stored})
    pushes: list[NewPush] = []
    for message in stored:
        event = wanted[message.id]
        every_event = choices[message.org_id] == ClientPushEvents.ALL
        if event not in SPEC_PUSH_EVENTS and not every_event:
            continue
        payload: dict[str, Any] = msgspec.to_builtins(render_record(message))
        if every_event:
            payload["event"] = event
        pushes.append(NewPush(message.org_id, message.client_push_url, event, payload))
    await webhooks.enqueue_pushes_within(conn, now, pushes)
