"""Kill -9 in the middle of delivering 5,000 messages: nothing is lost, duplicates are bounded."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select

from tambuli.billing import service as billing
from tambuli.clock import SystemClock
from tambuli.db.engine import Database
from tambuli.db.migrate import apply_migrations
from tambuli.db.schema import messages
from tambuli.messaging.models import MessageStatus
from tambuli.messaging.simulator_journal import count_handoffs_by_message
from tambuli.organizations import service as organizations
from tests.support.server import running_server

MESSAGES = 5_000
PRICE = 20_000
ENV = {
    "TAMBULI_CLAIM_LEASE_SECONDS": "2",
    "TAMBULI_SIMULATOR_RECEIPT_DELAY": "0.2",
    # Slow enough that the kill lands in the middle of delivery.
    "TAMBULI_SIMULATOR_PARTS_PER_SECOND": "1500",
}


def _number(i: int) -> str:
    # One number per message, so pacing by number never holds delivery back; the last four
    # digits end in 7, so no simulator failure behaviour applies.
    return f"6391{i:07d}7"


async def _queue_messages(base_url: str, org_id: int, token: str) -> None:
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Token {token}"}, limits=limits, timeout=30
    ) as client:
        pending = iter(range(MESSAGES))

        async def sender() -> None:
            for i in pending:
                answer = await client.post(
                    "/v1/sms/phonenumber",
                    json={
                        "orgId": org_id,
                        "from": "COOP",
                        "message": f"crash {i}",
                        "fullPhoneNumber": _number(i),
                    },
                )
                assert answer.status_code == 200, answer.text

        await asyncio.gather(*(sender() for _ in range(32)))


async def _count(db: Database, *where: object) -> int:
    async with db.read() as conn:
        query = select(func.count()).select_from(messages).where(*where)  # type: ignore[arg-type]
        return int((await conn.execute(query)).scalar_one())


async def test_a_killed_server_loses_nothing_and_resends_at_most_what_was_in_flight(
    fresh_database_url: str, tmp_path: Path
) -> None:
    db = Database(fresh_database_url)
    try:
        await apply_migrations(db)
        created = await organizations.create_organization(db, SystemClock(), "Crash")
        funds = MESSAGES * PRICE + 1_000_000
        await billing.credit_balance(db, SystemClock(), created.org_id, funds, "test")
        with running_server(fresh_database_url, tmp_path, extra_args=["--no-workers"]) as server:
            await _queue_messages(server.base_url, created.org_id, created.token)
        assert await _count(db, messages.c.status == MessageStatus.QUEUED.value) == MESSAGES

        with running_server(fresh_database_url, tmp_path, ENV) as server:
            deadline = time.monotonic() + 60
            while await _count(db, messages.c.status == MessageStatus.ACCEPTED.value) < 500:
                assert time.monotonic() < deadline, "delivery never started"
                await asyncio.sleep(0.01)
            server.process.kill()
            server.process.wait()
        accepted_at_kill = await _count(db, messages.c.status == MessageStatus.ACCEPTED.value)
        assert accepted_at_kill < MESSAGES, "the kill came after delivery had finished"
        # Claimed but not yet recorded: the messages in flight when the process died.
        in_flight = await _count(
            db,
            messages.c.status == MessageStatus.QUEUED.value,
            messages.c.lease_until.is_not(None),
        )

        with running_server(fresh_database_url, tmp_path, ENV):
            deadline = time.monotonic() + 120
            while await _count(db, messages.c.status == MessageStatus.QUEUED.value) > 0:
                assert time.monotonic() < deadline, "delivery did not finish after the restart"
                await asyncio.sleep(0.1)

        assert await _count(db, messages.c.status == MessageStatus.ACCEPTED.value) == MESSAGES
        handoffs = await count_handoffs_by_message(db)
        assert len(handoffs) == MESSAGES, "some message never reached the operator"
        duplicates = sum(count - 1 for count in handoffs.values())
        assert duplicates <= in_flight, (duplicates, in_flight)
        balance = (await billing.get_balance(db, created.org_id)).balance_micro
        assert balance == funds - MESSAGES * PRICE, "a message was charged twice or not at all"
    finally:
        await db.dispose()
