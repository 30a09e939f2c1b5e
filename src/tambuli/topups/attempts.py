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
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.billing import reservations as funds
from tambuli.channels.airtime.base import AirtimeOrder, AirtimeOutcome, AirtimeResult
from tambuli.db.batch_intake import BatchIntake
from tambuli.errors import InsufficientFunds, TambuliError
from tambuli.metrics import TOPUPS
from tambuli.records import frozen_record
from tambuli.topups import store
from tambuli.topups.catalogue import Catalogue
from tambuli.topups.models import (
    TOPUP_RETRIES,
    StoredTopup,
    TopupStatus,
    find_lookup_at,
    make_attempt_reference,
)
from tambuli.topups.planning import plan_for_operator
from tambuli.topups.results import enqueue_result_pushes_within
from tambuli.topups.service import RESERVATION_REASON, TopupDesk

log = logging.getLogger("tambuli.topups")
# A provider that keeps a top-up pending longer than this is given up on (the reservation is
# released): see docs/decisions.md.
PENDING_GIVE_UP = timedelta(hours=24)
MAX_ERROR_TEXT = 500


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


@frozen_record
class _Answer:
    """What the provider said about one claimed top-up."""

    topup: StoredTopup
    result: AirtimeResult
    # The end of the claim's lease: the claim is still ours only while the row has it.
    lease_until: datetime


class SyncOutcomes(BatchIntake[_Answer, StoredTopup]):
    """Records the answers to synchronous requests' attempts in shared transactions.

    Many requests waiting on a provider at once each used to record their answer in a commit
    of their own; here they share one, as their top-ups were accepted (intake.py).
    """

    def __init__(self, desk: TopupDesk) -> None:
        super().__init__(desk.db)
        self._desk = desk

    async def write_batch(
        self, conn: AsyncConnection, drafts: list[_Answer]
    ) -> list[StoredTopup | TambuliError]:
        """Record the answers; each top-up as it is now (unchanged if no longer ours)."""
        catalogue = await self._desk.catalogue.get_within(conn)
        after = await _record_within(conn, self._desk, catalogue, drafts)
        return [after.get(a.topup.row_id, a.topup) for a in drafts]

    async def find_duplicate(self, draft: _Answer) -> TambuliError:
        """Never asked: recording an answer takes no unique key."""
        raise RuntimeError("recording a top-up's answer took a unique key")


def _sync_outcomes(desk: TopupDesk) -> SyncOutcomes:
    if desk.sync_outcomes is None:
        desk.sync_outcomes = SyncOutcomes(desk)
    assert isinstance(desk.sync_outcomes, SyncOutcomes)
    return desk.sync_outcomes


async def carry_out_sync_attempt(
    desk: TopupDesk, topup: StoredTopup, lease_until: datetime
) -> StoredTopup:
    """The first attempt of a synchronous request (and one more after a ported-number reroute)."""
    while True:
        result = await _ask_provider(desk, topup, lookup=False)
        current = await _sync_outcomes(desk).submit(_Answer(topup, result, lease_until))
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
    rows = []
    for topup in claimed:
        if topup.pending_ref is not None:
            started.append(topup)
            continue
        attempt = topup.attempts + 1
        reference = make_attempt_reference(topup.topup_id, attempt)
        rows.append({"topup_id": topup.row_id, "attempts": attempt, "ref": reference, "now": now})
        started.append(
            replace(
                topup,
                status=TopupStatus.SENDING,
                attempts=attempt,
                pending_ref=reference,
                updated_at=now,
            )
        )
    await store.begin_attempts(conn, rows)
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


def _clip(text: str) -> str:
    return text[:MAX_ERROR_TEXT]


class _Outcomes:
    """The changes one batch of provider answers makes, gathered for a few bulk statements."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.changes: list[dict[str, Any]] = []
        self.settles: list[tuple[int, int]] = []
        self.releases: list[int] = []
        self.finished: list[StoredTopup] = []
        self.after: dict[int, StoredTopup] = {}

    def succeed(self, topup: StoredTopup, result: AirtimeResult, provider: str) -> None:
        received = topup.received_minor if result.received_minor is None else result.received_minor
        currency = result.received_currency or topup.received_currency
        change = {
            "status": TopupStatus.SUCCEEDED.value,
            "error": "",
            "pending_ref": None,
            "next_attempt_at": None,
            "lease_until": None,
            "charged_micro": topup.price_micro,
            "received_minor": received,
            "received_currency": currency,
            "provider": provider,
            "provider_transaction_id": result.transaction_id[:100],
            "finished_at": self.now,
            "updated_at": self.now,
        }
        if topup.reservation_id is not None:
            self.settles.append((topup.reservation_id, topup.price_micro))
        self._apply(topup, change, finished=True)

    def fail(self, topup: StoredTopup, error: str, provider: str) -> None:
        change = {
            "status": TopupStatus.FAILED.value,
            "error": _clip(error or "the top-up failed"),
            "pending_ref": None,
            "next_attempt_at": None,
            "lease_until": None,
            "charged_micro": 0,
            "provider": provider,
            "finished_at": self.now,
            "updated_at": self.now,
        }
        if topup.reservation_id is not None:
            self.releases.append(topup.reservation_id)
        self._apply(topup, change, finished=True)

    def wait(self, topup: StoredTopup, result: AirtimeResult, provider: str) -> None:
        if self.now - topup.created_at > PENDING_GIVE_UP:
            self.fail(topup, "the provider never confirmed the top-up", provider)
            return
        change = {
            "status": TopupStatus.SENDING.value,
            "next_attempt_at": find_lookup_at(self.now - topup.updated_at, self.now),
            "lease_until": None,
            "provider": provider,
            "provider_transaction_id": result.transaction_id[:100],
            "updated_at": self.now,
        }
        self._apply(topup, change, finished=False)

    def retry(self, topup: StoredTopup, error: str, provider: str) -> None:
        retry_at = TOPUP_RETRIES.next_attempt(max(topup.attempts, 1), self.now)
        if retry_at is None:
            self.fail(topup, error or "the top-up failed after every retry", provider)
            return
        change = {
            "status": TopupStatus.QUEUED.value,
            "error": _clip(error),
            "pending_ref": None,
            "next_attempt_at": retry_at,
            "lease_until": None,
            "provider": provider,
            "updated_at": self.now,
        }
        self._apply(topup, change, finished=False)

    def resend(self, topup: StoredTopup, provider: str) -> None:
        """An interrupted attempt the provider never received: make it again, at once.

        It does not count against the retries, and it keeps its reference: should the lost
        request reach the provider after all, the provider refuses the repeat.
        """
        change = {
            "status": TopupStatus.QUEUED.value,
            "attempts": max(topup.attempts - 1, 0),
            "pending_ref": None,
            "next_attempt_at": self.now,
            "lease_until": None,
            "provider": provider,
            "updated_at": self.now,
        }
        self._apply(topup, change, finished=False)

    def reroute(self, topup: StoredTopup, change: dict[str, Any]) -> None:
        self._apply(topup, change, finished=False)

    def _apply(self, topup: StoredTopup, change: dict[str, Any], finished: bool) -> None:
        self.changes.append({"topup_id": topup.row_id, **change})
        values = {k: v for k, v in change.items() if k not in {"lease_until"}}
        if "status" in values:
            values["status"] = TopupStatus(values["status"])
        after = replace(topup, **values)
        self.after[topup.row_id] = after
        if finished:
            self.finished.append(after)


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
        return await _record_within(
            conn, desk, catalogue, [_Answer(t, r, lease_until) for t, r in answered]
        )


async def _record_within(
    conn: AsyncConnection, desk: TopupDesk, catalogue: Catalogue, answered: Sequence[_Answer]
) -> dict[int, StoredTopup]:
    provider = desk.provider.name
    now = desk.clock.now()
    live = await store.select_still_claimed(
        conn, [(a.topup.row_id, a.lease_until) for a in answered]
    )
    outcomes = _Outcomes(now)
    # A top-up still under its claim is as the claim left it: nobody else wrote to it.
    for answer in answered:
        if answer.topup.row_id in live:
            await _decide(conn, desk, catalogue, outcomes, answer.topup, answer.result, provider)
    await store.update_topups(conn, outcomes.changes)
    await funds.settle_many_within(conn, desk.clock, outcomes.settles)
    await funds.release_many_within(conn, desk.clock, outcomes.releases)
    await enqueue_result_pushes_within(conn, now, outcomes.finished)
    for answer in answered:
        if answer.topup.row_id in outcomes.after:
            TOPUPS.labels(answer.result.outcome.value).inc()
    return outcomes.after


async def _decide(
    conn: AsyncConnection,
    desk: TopupDesk,
    catalogue: Catalogue,
    outcomes: _Outcomes,
    topup: StoredTopup,
    result: AirtimeResult,
    provider: str,
) -> None:
    outcome = result.outcome
    if outcome is AirtimeOutcome.SUCCEEDED:
        outcomes.succeed(topup, result, provider)
    elif outcome is AirtimeOutcome.PENDING:
        outcomes.wait(topup, result, provider)
    elif outcome is AirtimeOutcome.NOT_FOUND:
        outcomes.resend(topup, provider)
    elif outcome is AirtimeOutcome.TRANSIENT:
        outcomes.retry(topup, result.error or "the provider did not carry it out", provider)
    elif outcome is AirtimeOutcome.WRONG_OPERATOR:
        await _reroute(conn, desk, catalogue, outcomes, topup, result, provider)
    else:
        outcomes.fail(topup, result.error or "the operator refused the top-up", provider)


async def _reroute(
    conn: AsyncConnection,
    desk: TopupDesk,
    catalogue: Catalogue,
    outcomes: _Outcomes,
    topup: StoredTopup,
    result: AirtimeResult,
    provider: str,
) -> None:
    """Try once more with the operator the provider named (a ported number)."""
    hint = result.operator_hint
    named = catalogue.find_by_provider_ref(hint) or catalogue.find_operator(hint)
    if topup.rerouted or named is None or named.code == topup.operator_code:
        why = f"the number belongs to another operator ({hint or 'not named'})"
        outcomes.fail(topup, result.error or why, provider)
        return
    try:
        plan = plan_for_operator(catalogue, named, topup.max_amount, topup.desired_amount)
    except TambuliError as exc:
        outcomes.fail(topup, f"ported to {named.name}: {exc.message}", provider)
        return
    reservation_id = topup.reservation_id
    if plan.price_micro != topup.price_micro:
        # The new operator's price replaces the old one: hand the old reservation back and
        # set the new price aside, in this same commit.
        if reservation_id is not None:
            await funds.release_many_within(conn, desk.clock, [reservation_id])
        try:
            [reservation_id] = await funds.reserve_many_within(
                conn,
                desk.clock,
                topup.org_id,
                [plan.price_micro],
                RESERVATION_REASON,
                [f"top-up to +{topup.recipient}"],
            )
        except InsufficientFunds:
            outcomes.fail(
                replace(topup, reservation_id=None),
                f"ported to {named.name}, whose price the balance does not cover",
                provider,
            )
            return
    operator = plan.operator
    outcomes.reroute(
        topup,
        {
            "status": TopupStatus.QUEUED.value,
            "error": _clip(f"ported number: sent through {operator.name} instead"),
            "pending_ref": None,
            "next_attempt_at": outcomes.now,
            "lease_until": None,
            "rerouted": True,
            "operator_code": operator.code,
            "operator_name": operator.name,
            "provider_operator_ref": operator.provider_ref,
            "currency": operator.currency,
            "minor_digits": operator.minor_digits,
            "amount_minor": plan.amount_minor,
            "price_micro": plan.price_micro,
            "received_minor": plan.received_minor,
            "received_currency": plan.received_currency,
            "reservation_id": reservation_id,
            "provider": provider,
            "updated_at": outcomes.now,
        },
    )
