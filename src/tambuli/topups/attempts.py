"""Carrying out top-ups: claim due ones, ask the provider, record what it said.

Each attempt is written down (its provider reference, in `pending_ref`) before the provider is
called, and cleared only when the outcome is recorded. A top-up found with a reference still
set was interrupted mid-call: the provider is asked what became of it before anything is sent
again, so a crash at any point cannot pay twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.channels.airtime.base import AirtimeOrder, AirtimeOutcome, AirtimeResult
from tambuli.topups import store
from tambuli.topups.desk import TopupDesk
from tambuli.topups.models import StoredTopup, TopupStatus, make_attempt_reference
from tambuli.topups.outcomes import ProviderAnswer, record_answers_within

log = logging.getLogger("tambuli.topups")


def _order(topup: StoredTopup) -> AirtimeOrder:
    assert topup.pending_ref is not None
    return AirtimeOrder(
        reference=topup.pending_ref,
        recipient=topup.recipient,
        country=topup.country,
        operator_code=topup.operator_code,
        provider_operator_ref=topup.provider_operator_ref,
        amount_minor=topup.amount_minor,
        currency=topup.currency,
        minor_digits=topup.minor_digits,
        attempt=topup.attempts,
    )


async def _ask_provider(desk: TopupDesk, topup: StoredTopup, lookup: bool) -> AirtimeResult:
    """Send the attempt (or look an interrupted one up); never raises."""
    try:
        if lookup:
            assert topup.pending_ref is not None
            call = desk.provider.find_topup(topup.pending_ref)
        else:
            call = desk.provider.send_topup(_order(topup))
        return await asyncio.wait_for(call, desk.attempt_seconds)
    except TimeoutError:
        # The provider may still carry it out: only a lookup can tell.
        return AirtimeResult(AirtimeOutcome.PENDING, error="the provider did not answer in time")
    except Exception:  # a provider bug must not lose the top-up: look it up later
        log.exception(
            "top-up %s: the provider call failed",
            topup.row_id,
            extra={"org_id": topup.org_id, "topup_id": topup.row_id},
        )
        return AirtimeResult(AirtimeOutcome.PENDING, error="the provider call failed")


async def carry_out_sync_attempt(
    desk: TopupDesk, topup: StoredTopup, lease_until: datetime
) -> StoredTopup:
    """The first attempt of a synchronous request (and one more after a ported-number reroute)."""
    while True:
        result = await _ask_provider(desk, topup, lookup=False)
        current = await desk.sync_outcomes.submit(ProviderAnswer(topup, result, lease_until))
        if not (current.rerouted and current.status is TopupStatus.QUEUED) or topup.rerouted:
            return current
        # Rerouted to the operator the provider named: due at once, so this request carries on.
        claimed = await _claim_one(desk, current.row_id)
        if claimed is None:
            return current
        topup, lease_until = claimed


async def _claim_one(desk: TopupDesk, row_id: int) -> tuple[StoredTopup, datetime] | None:
    now = desk.clock.now()
    lease_until = now + desk.lease
    async with desk.db.write() as conn:
        claimed = await store.claim_topup(conn, row_id, now, lease_until)
        if claimed is None:
            return None
        started = await _begin_attempts_within(conn, [claimed], now)
    return started[0], lease_until


async def _begin_attempts_within(
    conn: AsyncConnection, claimed: Sequence[StoredTopup], now: datetime
) -> list[StoredTopup]:
    """Give each fresh claim its next attempt and reference; interrupted ones keep theirs."""
    started: list[StoredTopup] = []
    begun: list[StoredTopup] = []
    for topup in claimed:
        if topup.pending_ref is not None:
            started.append(topup)
            continue
        attempt = topup.attempts + 1
        fresh = replace(
            topup,
            status=TopupStatus.SENDING,
            attempts=attempt,
            pending_ref=make_attempt_reference(topup.topup_id, attempt),
            updated_at=now,
        )
        started.append(fresh)
        begun.append(fresh)
    await store.begin_attempts(conn, begun)
    return started


async def carry_out_due_topups(desk: TopupDesk, limit: int, skip_locked: bool) -> int:
    """Claim due top-ups, ask the provider about each at once, record the outcomes; how many."""
    now = desk.clock.now()
    lease_until = now + desk.lease
    async with desk.db.read() as conn:
        if not await store.any_due_topup(conn, now):
            return 0
    async with desk.db.write() as conn:
        claimed = await store.claim_due_topups(conn, now, lease_until, limit, skip_locked)
        interrupted = {t.row_id for t in claimed if t.pending_ref is not None}
        started = await _begin_attempts_within(conn, claimed, now)
    if not started:
        return 0
    results = await asyncio.gather(
        *(_ask_provider(desk, t, lookup=t.row_id in interrupted) for t in started)
    )
    await record_outcomes(desk, list(zip(started, results, strict=True)), lease_until)
    return len(started)


async def record_outcomes(
    desk: TopupDesk,
    answered: Sequence[tuple[StoredTopup, AirtimeResult]],
    lease_until: datetime,
) -> dict[int, StoredTopup]:
    """Store what the provider said about each top-up, in one commit; the top-ups after it.

    A top-up no longer under this claim (the claim expired and another worker took it over)
    is left alone.
    """
    if not answered:
        return {}
    async with desk.db.write() as conn:
        catalogue = await desk.catalogue.get_within(conn)
        return await record_answers_within(
            conn,
            desk.clock,
            desk.provider.name,
            catalogue,
            [ProviderAnswer(t, r, lease_until) for t, r in answered],
        )
