"""Pushing the final result of top-ups: to the organization's top-up URL and to a resultsUrl."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.organizations.profile import read_profile_within
from tambuli.topups.models import StoredTopup, TopupStatus
from tambuli.topups.views import render_legacy_result, render_topup_record
from tambuli.webhooks import service as webhooks


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
    pushes: list[tuple[int, str, str, dict[str, Any]]] = []
    for topup in finished:
        if topup.org_id not in urls:
            profile = await read_profile_within(conn, topup.org_id)
            urls[topup.org_id] = "" if profile is None else profile.topup_url
        event = name_result_event(topup)
        if urls[topup.org_id]:
            payload: dict[str, Any] = msgspec.to_builtins(render_topup_record(topup))
            payload["event"] = event
            pushes.append((topup.org_id, urls[topup.org_id], event, payload))
        if topup.results_url:
            legacy = render_legacy_result(topup)
            legacy["event"] = event
            pushes.append((topup.org_id, topup.results_url, event, legacy))
    await webhooks.enqueue_pushes_within(conn, now, pushes)
