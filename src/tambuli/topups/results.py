"""Pushing the final result of top-ups: to the organization's top-up URL and to a resultsUrl."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.organizations.profile import read_profile_within
from tambuli.topups import store
from tambuli.topups.models import StoredTopup, TopupStatus
from tambuli.topups.views import render_legacy_result, render_topup_record
from tambuli.webhooks import service as webhooks
from tambuli.webhooks.models import NewPush


def name_result_event(topup: StoredTopup) -> str:
    """The push event of a finished top-up."""
    return "topup.succeeded" if topup.status is TopupStatus.SUCCEEDED else "topup.failed"


async def enqueue_result_pushes_within(
    conn: AsyncConnection, now: datetime, finished: Sequence[StoredTopup]
) -> None:
    """Queue the signed pushes of finished top-ups inside the caller's transaction."""
    if not finished:
        return
    urls: dict[int, str] = {}
    for org_id in sorted({t.org_id for t in finished}):
        profile = await read_profile_within(conn, org_id)
        urls[org_id] = "" if profile is None else profile.topup_url
    pushes: list[NewPush] = []
    for topup in await _with_contact_names(conn, [t for t in finished if urls[t.org_id]]):
        event = name_result_event(topup)
        payload: dict[str, Any] = msgspec.to_builtins(render_topup_record(topup))
        payload["event"] = event
        pushes.append(NewPush(topup.org_id, urls[topup.org_id], event, payload))
    for topup in finished:
        if topup.results_url:
            event = name_result_event(topup)
            legacy = render_legacy_result(topup)
            legacy["event"] = event
            pushes.append(NewPush(topup.org_id, topup.results_url, event, legacy))
    await webhooks.enqueue_pushes_within(conn, now, pushes)


async def _with_contact_names(
    conn: AsyncConnection, finished: Sequence[StoredTopup]
) -> list[StoredTopup]:
    """The top-ups with their contacts' names, which the records pushed show."""
    named: list[StoredTopup] = []
    for org_id in sorted({t.org_id for t in finished}):
        mine = [t for t in finished if t.org_id == org_id]
        names = await store.select_contact_names(
            conn, org_id, [t.contact_id for t in mine if t.contact_id is not None]
        )
        for topup in mine:
            first, last = names.get(topup.contact_id or 0, ("", ""))
            named.append(replace(topup, first_name=first, last_name=last))
    return named
