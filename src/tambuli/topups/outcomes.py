"""Recording what a provider said about claimed top-ups: settle, retry, wait, reroute, fail.

One batch of answers is written with a few bulk statements in one commit; synchronous
requests' answers share commits through SyncOutcomes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.billing import reservations as funds
from tambuli.channels.airtime.base import AirtimeOutcome, AirtimeProvider, AirtimeResult
from tambuli.clock import Clock
from tambuli.db.batch_intake import BatchIntake
from tambuli.db.engine import Database
from tambuli.errors import InsufficientFunds, TambuliError
from tambuli.metrics import TOPUPS
from tambuli.records import frozen_record
from tambuli.topups import store
from tambuli.topups.catalogue import Catalogue
from tambuli.topups.catalogue_service import CatalogueCache
from tambuli.topups.intake import RESERVATION_REASON
from tambuli.topups.models import TOPUP_RETRIES, StoredTopup, TopupStatus, find_lookup_at
from tambuli.topups.planning import plan_for_operator
from tambuli.topups.results import enqueue_result_pushes_within

# A provider that keeps a top-up pending longer than this is given up on (the reservation is
# released): see docs/decisions.md.
PENDING_GIVE_UP = timedelta(hours=24)
MAX_ERROR_TEXT = 500


@frozen_record
class ProviderAnswer:
    """What the provider said about one claimed top-up."""

    topup: StoredTopup
    result: AirtimeResult
    # The end of the claim's lease: the claim is still ours only while the row has it.
    lease_until: datetime


class SyncOutcomes(BatchIntake[ProviderAnswer, StoredTopup]):
    """Records the answers to synchronous requests' attempts in shared transactions.

    Many requests waiting on a provider at once each used to record their answer in a commit
    of their own; here they share one, as their top-ups were accepted (intake.py).
    """

    def __init__(
        self, db: Database, clock: Clock, catalogue: CatalogueCache, provider: AirtimeProvider
    ) -> None:
        super().__init__(db)
        self._clock = clock
        self._catalogue = catalogue
        self._provider = provider

    async def write_batch(
        self, conn: AsyncConnection, drafts: list[ProviderAnswer]
    ) -> list[StoredTopup | TambuliError]:
        """Record the answers; each top-up as it is now (unchanged if no longer ours)."""
        catalogue = await self._catalogue.get_within(conn)
        after = await record_answers_within(
            conn, self._clock, self._provider.name, catalogue, drafts
        )
        return [after.get(a.topup.row_id, a.topup) for a in drafts]

    async def find_duplicate(self, draft: ProviderAnswer) -> TambuliError:
        """Never asked: recording an answer takes no unique key."""
        raise RuntimeError("recording a top-up's answer took a unique key")


def _clip(text: str) -> str:
    return text[:MAX_ERROR_TEXT]


class _Outcomes:
    """What one batch of provider answers makes of its top-ups, gathered for a few statements."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.settles: list[tuple[int, int]] = []
        self.releases: list[int] = []
        self.finished: list[StoredTopup] = []
        # Each top-up as its answer leaves it, by row ID.
        self.after: dict[int, StoredTopup] = {}

    def succeed(self, topup: StoredTopup, result: AirtimeResult, provider: str) -> None:
        received = topup.received_minor if result.received_minor is None else result.received_minor
        after = replace(
            topup,
            status=TopupStatus.SUCCEEDED,
            error="",
            pending_ref=None,
            next_attempt_at=None,
            charged_micro=topup.price_micro,
            received_minor=received,
            received_currency=result.received_currency or topup.received_currency,
            provider=provider,
            provider_transaction_id=result.transaction_id[:100],
            finished_at=self.now,
            updated_at=self.now,
        )
        if topup.reservation_id is not None:
            self.settles.append((topup.reservation_id, topup.price_micro))
        self._apply(after, finished=True)

    def fail(self, topup: StoredTopup, error: str, provider: str) -> None:
        after = replace(
            topup,
            status=TopupStatus.FAILED,
            error=_clip(error or "the top-up failed"),
            pending_ref=None,
            next_attempt_at=None,
            charged_micro=0,
            provider=provider,
            finished_at=self.now,
            updated_at=self.now,
        )
        if topup.reservation_id is not None:
            self.releases.append(topup.reservation_id)
        self._apply(after, finished=True)

    def wait(self, topup: StoredTopup, result: AirtimeResult, provider: str) -> None:
        if self.now - topup.created_at > PENDING_GIVE_UP:
            self.fail(topup, "the provider never confirmed the top-up", provider)
            return
        after = replace(
            topup,
            status=TopupStatus.SENDING,
            next_attempt_at=find_lookup_at(self.now - topup.updated_at, self.now),
            provider=provider,
            provider_transaction_id=result.transaction_id[:100],
            updated_at=self.now,
        )
        self._apply(after, finished=False)

    def retry(self, topup: StoredTopup, error: str, provider: str) -> None:
        retry_at = TOPUP_RETRIES.next_attempt(max(topup.attempts, 1), self.now)
        if retry_at is None:
            self.fail(topup, error or "the top-up failed after every retry", provider)
            return
        after = replace(
            topup,
            status=TopupStatus.QUEUED,
            error=_clip(error),
            pending_ref=None,
            next_attempt_at=retry_at,
            provider=provider,
            updated_at=self.now,
        )
        self._apply(after, finished=False)

    def resend(self, topup: StoredTopup, provider: str) -> None:
        """An interrupted attempt the provider never received: make it again, at once.

        It does not count against the retries, and it keeps its reference: should the lost
        request reach the provider after all, the provider refuses the repeat.
        """
        after = replace(
            topup,
            status=TopupStatus.QUEUED,
            attempts=max(topup.attempts - 1, 0),
            pending_ref=None,
            next_attempt_at=self.now,
            provider=provider,
            updated_at=self.now,
        )
        self._apply(after, finished=False)

    def reroute(self, after: StoredTopup) -> None:
        self._apply(after, finished=False)

    def _apply(self, after: StoredTopup, finished: bool) -> None:
        self.after[after.row_id] = after
        if finished:
            self.finished.append(after)


async def record_answers_within(
    conn: AsyncConnection,
    clock: Clock,
    provider: str,
    catalogue: Catalogue,
    answered: Sequence[ProviderAnswer],
) -> dict[int, StoredTopup]:
    """Store what the provider said about each top-up still under its claim; them after it.

    A top-up no longer under its claim (the claim expired and another worker took it over)
    is left alone.
    """
    now = clock.now()
    live = await store.select_still_claimed(
        conn, [(a.topup.row_id, a.lease_until) for a in answered]
    )
    outcomes = _Outcomes(now)
    # A top-up still under its claim is as the claim left it: nobody else wrote to it.
    for answer in answered:
        if answer.topup.row_id in live:
            await _decide(conn, clock, catalogue, outcomes, answer.topup, answer.result, provider)
    await store.record_outcomes(conn, list(outcomes.after.values()))
    await funds.settle_many_within(conn, clock, outcomes.settles)
    await funds.release_many_within(conn, clock, outcomes.releases)
    await enqueue_result_pushes_within(conn, now, outcomes.finished)
    for answer in answered:
        if answer.topup.row_id in outcomes.after:
            TOPUPS.labels(answer.result.outcome.value).inc()
    return outcomes.after


async def _decide(
    conn: AsyncConnection,
    clock: Clock,
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
        await _reroute(conn, clock, catalogue, outcomes, topup, result, provider)
    else:
        outcomes.fail(topup, result.error or "the operator refused the top-up", provider)


async def _reroute(
    conn: AsyncConnection,
    clock: Clock,
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
            await funds.release_many_within(conn, clock, [reservation_id])
        try:
            [reservation_id] = await funds.reserve_many_within(
                conn,
                clock,
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
        replace(
            topup,
            status=TopupStatus.QUEUED,
            error=_clip(f"ported number: sent through {operator.name} instead"),
            pending_ref=None,
            next_attempt_at=outcomes.now,
            rerouted=True,
            operator_code=operator.code,
            operator_name=operator.name,
            provider_operator_ref=operator.provider_ref,
            currency=operator.currency,
            minor_digits=operator.minor_digits,
            amount_minor=plan.amount_minor,
            price_micro=plan.price_micro,
            received_minor=plan.received_minor,
            received_currency=plan.received_currency,
            reservation_id=reservation_id,
            provider=provider,
            updated_at=outcomes.now,
        )
    )
