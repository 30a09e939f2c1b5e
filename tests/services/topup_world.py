"""A small world for top-up service tests: a database of its own, a fake clock, a provider.

Top-up tests use a database of their own because a running `tambuli serve` carries out
whatever top-up is due in the shared one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, select

from tambuli.billing import service as billing
from tambuli.channels.airtime.base import (
    AirtimeOrder,
    AirtimeOutcome,
    AirtimeProvider,
    AirtimeResult,
)
from tambuli.clock import FakeClock
from tambuli.contacts import phones
from tambuli.db.engine import Database
from tambuli.db.schema import simulator_topups, webhook_deliveries
from tambuli.organizations import service as organizations
from tambuli.settings import Settings
from tambuli.topups import listing
from tambuli.topups.attempts import carry_out_due_topups
from tambuli.topups.desk import TopupDesk
from tambuli.topups.models import StoredTopup
from tambuli.topups.providers import open_topup_desk
from tambuli.topups.service import TopupAnswer, TopupRequest, request_topup

GLOBE = "639171230000"
SMART = "639181230000"


def number_ending(prefix_number: str, ending: str) -> str:
    """A number of the same operator whose last four digits choose a simulator behaviour."""
    return prefix_number[:-4] + ending


@dataclass
class ScriptedProvider:
    """A stand-in aggregator that answers from a script; it counts what it really "sent"."""

    answers: list[AirtimeResult]
    name: str = "scripted"
    sent: list[AirtimeOrder] = field(default_factory=list)
    delivered: dict[str, AirtimeResult] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)

    async def send_topup(self, order: AirtimeOrder) -> AirtimeResult:
        """The next scripted answer; a success or pending answer counts as sent."""
        self.sent.append(order)
        answer = self.answers.pop(0) if self.answers else AirtimeResult(AirtimeOutcome.SUCCEEDED)
        if answer.outcome in {AirtimeOutcome.SUCCEEDED, AirtimeOutcome.PENDING}:
            self.delivered[order.reference] = answer
        return answer

    async def find_topup(self, reference: str) -> AirtimeResult:
        """What became of a reference: its recorded answer, else NOT_FOUND."""
        self.lookups.append(reference)
        return self.delivered.get(reference, AirtimeResult(AirtimeOutcome.NOT_FOUND))


@dataclass
class TopupWorld:
    """One database, one clock, one desk over a provider (the simulator unless given)."""

    db: Database
    clock: FakeClock
    sync_seconds: float = 5.0
    slow_seconds: float = 0.5
    provider: AirtimeProvider | None = None

    def __post_init__(self) -> None:
        settings = Settings(
            topup_sync_seconds=self.sync_seconds,
            simulator_topup_delay=self.slow_seconds,
            topup_attempt_seconds=5.0,
        )
        self.desk: TopupDesk = open_topup_desk(
            self.db, self.clock, settings, provider=self.provider
        )

    async def new_org(self, balance_micro: int = 10_000_000) -> int:
        """An organization with money; its ID."""
        created = await organizations.create_organization(self.db, self.clock, "Top-up org")
        if balance_micro:
            await billing.credit_balance(
                self.db, self.clock, created.org_id, balance_micro, "test funds"
            )
        return created.org_id

    async def balance(self, org_id: int) -> int:
        """The organization's balance in micro-USD."""
        return (await billing.get_balance(self.db, org_id)).balance_micro

    async def top_up(
        self,
        org_id: int,
        number: str,
        max_amount: object,
        desired: object | None = None,
        **options: object,
    ) -> TopupAnswer:
        """Request a top-up to a full number."""
        request = TopupRequest(
            org_id=org_id,
            contact_id=None,
            phone=phones.normalise_full_number(f"+{number}"),
            max_amount=max_amount,
            desired_amount=desired,
            **options,  # type: ignore[arg-type]
        )
        return await request_topup(self.desk, request)

    async def run_worker(self, limit: int = 500) -> int:
        """One pass of the top-up worker at the fake clock's time."""
        return await carry_out_due_topups(self.desk, limit, skip_locked=not self.db.is_sqlite)

    async def finish_sync_attempts(self) -> None:
        """Wait for synchronous attempts that outlived their request."""
        if self.desk.running:
            await asyncio.gather(*self.desk.running)

    async def get(self, topup: StoredTopup) -> StoredTopup:
        """The top-up as stored now."""
        return await listing.get_topup(self.db, topup.org_id, topup.topup_id)

    async def simulator_sends(self, recipient: str) -> int:
        """How many top-ups the simulated provider carried out to a number."""
        async with self.db.read() as conn:
            found = await conn.execute(
                select(func.count())
                .select_from(simulator_topups)
                .where(
                    simulator_topups.c.recipient == recipient,
                    simulator_topups.c.outcome == AirtimeOutcome.SUCCEEDED.value,
                )
            )
            return int(found.scalar_one())

    async def pushes(self, org_id: int) -> Sequence[tuple[str, str, str]]:
        """The pushes queued for an organization: (url, event, payload)."""
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(
                    webhook_deliveries.c.url,
                    webhook_deliveries.c.event,
                    webhook_deliveries.c.payload,
                )
                .where(webhook_deliveries.c.org_id == org_id)
                .order_by(webhook_deliveries.c.id)
            )
            return [(r.url, r.event, r.payload) for r in rows]

    def advance(self, minutes: float) -> None:
        """Move the fake clock forward."""
        self.clock.advance(timedelta(minutes=minutes))
