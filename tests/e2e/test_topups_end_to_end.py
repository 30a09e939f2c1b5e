"""Top-ups through a real `tambuli serve`: the sync bound, signed result pushes, and kill -9."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from tambuli.billing import service as billing
from tambuli.channels.airtime.base import AirtimeOutcome
from tambuli.clock import SystemClock
from tambuli.db.engine import Database
from tambuli.db.migrate import apply_migrations
from tambuli.db.schema import simulator_topups, topups
from tambuli.organizations import service as organizations
from tambuli.topups.models import TopupStatus
from tambuli.webhooks.signing import verify_webhook
from tests.support.cli import run_cli_json
from tests.support.receiver import running_receiver
from tests.support.server import running_server

GLOBE = "639171230000"
ENV = {
    "TAMBULI_WEBHOOKS_ALLOW_PRIVATE": "1",
    "TAMBULI_WORKER_POLL_SECONDS": "0.05",
    "TAMBULI_WORKER_IDLE_POLL_SECONDS": "0.05",
    "TAMBULI_TOPUP_SYNC_SECONDS": "1",
    "TAMBULI_SIMULATOR_TOPUP_DELAY": "3",
}


def _number(ending: str) -> str:
    return GLOBE[:-4] + ending


def test_the_sync_bound_answers_202_and_every_final_result_is_pushed_signed(
    fresh_database_url: str, tmp_path: Path
) -> None:
    url = fresh_database_url
    org = run_cli_json(url, "org", "create", "--name", "Clinic", "--balance", "20")
    org_id = org["orgId"]
    with running_receiver() as receiver:
        run_cli_json(
            url,
            "org",
            "set",
            "--org",
            str(org_id),
            "--topup-url",
            f"{receiver.url}/topups",
            "--json",
        )
        secret = run_cli_json(url, "org", "webhook-secret", "--org", str(org_id))["webhookSecret"]
        with (
            running_server(url, tmp_path, ENV) as server,
            httpx.Client(
                base_url=server.base_url,
                headers={"Authorization": f"Token {org['token']}"},
                timeout=30,
            ) as client,
        ):
            base = f"/v1/organizations/{org_id}"
            started = time.monotonic()
            slow = client.post(
                f"{base}/topup/", json={"fullPhoneNumber": _number("0007"), "maxAmount": 25}
            )
            assert slow.status_code == 202, slow.text
            assert slow.json()["queued"] is True
            assert time.monotonic() - started < 2.5, "the request did not stop at the sync bound"
            done = client.post(f"{base}/topup/", json={"fullPhoneNumber": GLOBE, "maxAmount": 25})
            assert done.status_code == 200 and done.json()["queued"] is False
            refused = client.post(
                f"{base}/topup/", json={"fullPhoneNumber": _number("0001"), "maxAmount": 25}
            )
            assert refused.status_code == 400
            legacy = client.post(
                "/v1/airtime-topup",
                json={
                    "organizationId": str(org_id),
                    "phoneNumber": _number("0007"),
                    "maxAmount": "10",
                    "resultsUrl": f"{receiver.url}/legacy",
                },
            )
            assert legacy.status_code == 200 and legacy.json()["status"] == "Queued"
            pushes = receiver.wait_for(
                lambda got: (
                    len([p for p in got if p.path == "/topups"]) == 4
                    and len([p for p in got if p.path == "/legacy"]) == 1
                ),
                timeout=30,
            )
            slow_record = client.get(f"{base}/topups/{slow.json()['id']}/").json()
            assert slow_record["success"] is True and slow_record["attempts"] == 1
    now = datetime.now(UTC)
    for push in pushes:
        assert verify_webhook(secret, push.headers, push.body, now), push.headers
    events = sorted(
        (p.json()["event"], p.json()["fullPhoneNumber"]) for p in pushes if p.path == "/topups"
    )
    assert events == sorted(
        [
            ("topup.succeeded", _number("0007")),
            ("topup.succeeded", _number("0007")),
            ("topup.succeeded", GLOBE),
            ("topup.failed", _number("0001")),
        ]
    )
    legacy_push = next(p for p in pushes if p.path == "/legacy").json()
    assert legacy_push["status"] == "Success" and legacy_push["amountSent"] == 10


TOPUPS = 600
CRASH_ENV = {
    # Claims of the killed server expire quickly, so the restart takes them over.
    "TAMBULI_TOPUP_ATTEMPT_SECONDS": "1",
    "TAMBULI_WORKER_POLL_SECONDS": "0.05",
    "TAMBULI_WORKER_IDLE_POLL_SECONDS": "0.05",
    "TAMBULI_TOPUP_BATCH_SIZE": "50",
}


async def _queue_topups(base_url: str, org_id: int, token: str) -> None:
    async with httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Token {token}"}, timeout=30
    ) as client:
        pending = iter(range(TOPUPS))

        async def sender() -> None:
            for i in pending:
                answer = await client.post(
                    f"/v1/organizations/{org_id}/topup/",
                    json={"fullPhoneNumber": f"63917{i:06d}5", "maxAmount": 10, "async": True},
                )
                assert answer.status_code == 202, answer.text

        await asyncio.gather(*(sender() for _ in range(16)))


async def _count(db: Database, table: Any, *where: Any) -> int:
    async with db.read() as conn:
        found = await conn.execute(select(func.count()).select_from(table).where(*where))
        return int(found.scalar_one())


async def test_a_killed_server_never_pays_a_topup_twice_and_loses_none(
    fresh_database_url: str, tmp_path: Path
) -> None:
    db = Database(fresh_database_url)
    try:
        await apply_migrations(db)
        created = await organizations.create_organization(db, SystemClock(), "Crash")
        funds = 1_000_000_000
        await billing.credit_balance(db, SystemClock(), created.org_id, funds, "test")
        with running_server(fresh_database_url, tmp_path, extra_args=["--no-workers"]) as server:
            await _queue_topups(server.base_url, created.org_id, created.token)
        queued = TopupStatus.QUEUED.value
        assert await _count(db, topups, topups.c.status == queued) == TOPUPS

        with running_server(fresh_database_url, tmp_path, CRASH_ENV) as server:
            deadline = time.monotonic() + 60
            succeeded = TopupStatus.SUCCEEDED.value
            while await _count(db, topups, topups.c.status == succeeded) < 150:
                assert time.monotonic() < deadline, "top-ups never started"
                await asyncio.sleep(0.005)
            # Kill while attempts are with the provider, so the restart must look them up.
            while await _count(db, topups, topups.c.pending_ref.is_not(None)) == 0:
                assert time.monotonic() < deadline, "no attempt was ever seen in flight"
            server.process.kill()
            server.process.wait()
        assert await _count(db, topups, topups.c.status == succeeded) < TOPUPS
        # Attempts written down but not recorded: the restart must look these up, not resend.
        interrupted = await _count(db, topups, topups.c.pending_ref.is_not(None))
        assert interrupted > 0, "the kill did not land in the middle of an attempt"

        with running_server(fresh_database_url, tmp_path, CRASH_ENV):
            deadline = time.monotonic() + 120
            while await _count(db, topups, topups.c.status != succeeded) > 0:
                assert time.monotonic() < deadline, "top-ups did not finish after the restart"
                await asyncio.sleep(0.1)

        async with db.read() as conn:
            sent = await conn.execute(
                select(simulator_topups.c.recipient, func.count())
                .where(simulator_topups.c.outcome == AirtimeOutcome.SUCCEEDED.value)
                .group_by(simulator_topups.c.recipient)
            )
            per_number = {row[0]: int(row[1]) for row in sent}
            charged = await conn.execute(select(func.sum(topups.c.charged_micro)))
            total_charged = int(charged.scalar_one())
        assert len(per_number) == TOPUPS, "a top-up was never carried out"
        assert set(per_number.values()) == {1}, "a number was topped up twice"
        balance = (await billing.get_balance(db, created.org_id)).balance_micro
        assert balance == funds - total_charged, "the ledger and the top-ups disagree"
        async with db.read() as conn:
            prices = await conn.execute(select(func.sum(topups.c.price_micro)))
            assert total_charged == int(prices.scalar_one())
    finally:
        await db.dispose()
