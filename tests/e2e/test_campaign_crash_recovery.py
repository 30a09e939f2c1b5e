"""Kill -9 while campaign steps fire: every step of every run is queued exactly once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from sqlalchemy import func, select

from tambuli.billing import service as billing
from tambuli.campaigns import service as campaigns
from tambuli.campaigns.subscriptions import NewSubscriber, subscribe_many
from tambuli.clock import SystemClock
from tambuli.contacts import phones
from tambuli.db.engine import Database
from tambuli.db.migrate import apply_migrations
from tambuli.db.schema import campaign_runs, messages
from tambuli.messaging.models import MessageStatus
from tambuli.organizations import service as organizations
from tambuli.organizations.profile import update_profile
from tests.support.server import running_server

RUNS = 3_000
PRICE = 20_000
ENV = {
    "TAMBULI_CLAIM_LEASE_SECONDS": "2",
    # Small batches, so the kill lands between and inside step batches.
    "TAMBULI_CAMPAIGN_BATCH_SIZE": "40",
    "TAMBULI_SIMULATOR_RECEIPT_DELAY": "0.2",
}
DRIP = {
    "name": "Crash drip",
    "kind": "drip",
    "steps": [
        {"message": "first"},
        {"delay": {"unit": "second", "value": 2}, "message": "second"},
    ],
}


async def _count(db: Database, table: object, *where: object) -> int:
    async with db.read() as conn:
        query = select(func.count()).select_from(table).where(*where)  # type: ignore[arg-type]
        return int((await conn.execute(query)).scalar_one())


async def test_a_killed_scheduler_neither_loses_nor_repeats_a_step(
    fresh_database_url: str, tmp_path: Path
) -> None:
    db = Database(fresh_database_url)
    clock = SystemClock()
    try:
        await apply_migrations(db)
        created = await organizations.create_organization(db, clock, "Crash")
        org = created.org_id
        funds = RUNS * 2 * PRICE + 1_000_000
        await billing.credit_balance(db, clock, org, funds, "test")
        await update_profile(db, org, default_sender_id="COOP")
        campaign = await campaigns.create_campaign(db, clock, org, DRIP)
        await campaigns.launch_campaign(db, clock, org, campaign.id)
        await subscribe_many(
            db,
            clock,
            org,
            campaign.id,
            [
                NewSubscriber(phone=phones.normalise_full_number(f"6391{i:07d}7"))
                for i in range(RUNS)
            ],
            reuse_newest=False,
        )
        outbound = messages.c.direction == "egress"

        with running_server(fresh_database_url, tmp_path, ENV) as server:
            deadline = time.monotonic() + 60
            while await _count(db, messages, outbound) < RUNS // 3:
                assert time.monotonic() < deadline, "the scheduler never started"
                await asyncio.sleep(0.01)
            server.process.kill()
            server.process.wait()
        assert await _count(db, messages, outbound) < 2 * RUNS, "the kill came too late"

        with running_server(fresh_database_url, tmp_path, ENV):
            deadline = time.monotonic() + 180
            while await _count(
                db, campaign_runs, campaign_runs.c.status == "done"
            ) < RUNS or await _count(db, messages, messages.c.status == MessageStatus.QUEUED.value):
                assert time.monotonic() < deadline, "the runs did not finish after the restart"
                await asyncio.sleep(0.2)

        async with db.read() as conn:
            per_run = (
                await conn.execute(
                    select(messages.c.campaign_run_id, messages.c.body, func.count())
                    .where(outbound)
                    .group_by(messages.c.campaign_run_id, messages.c.body)
                )
            ).all()
        assert len(per_run) == RUNS * 2, "a step was never sent"
        assert {count for _, _, count in per_run} == {1}, "a step was sent twice"
        balance = (await billing.get_balance(db, org)).balance_micro
        assert balance == funds - RUNS * 2 * PRICE, "a step was charged twice or not at all"
    finally:
        await db.dispose()
