"""Bulk seeding for the console benchmark: one organization with many contacts (in groups, with
custom fields), messages spread over 30 days, top-ups, ledger entries and campaign runs, written
with multi-row Core inserts straight into the tables (the API one by one would take hours).

The rows are plausible rather than exact: message and top-up rows are final (nothing for the
workers to pick up), and the ledger's running balance is made up. Campaigns themselves are
created through the API by the caller, so their definitions are the service's own; this module
only adds their runs and poll answers.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.db import schema
from tambuli.db.engine import Database

BATCH = 5_000
FIRST_NAMES = ("Maria", "Jose", "Ana", "Juan", "Rosa", "Pedro", "Liza", "Ramon", "Grace", "Noel")
LAST_NAMES = ("Santos", "Reyes", "Cruz", "Bautista", "Garcia", "Mendoza", "Torres", "Flores")
LANGUAGES = ("", "", "Tagalog", "Cebuano", "English")
GROUPS = ("Farmers", "Teachers", "Nurses", "Barangay 1", "Barangay 2", "Volunteers",
          "Parents", "Youth", "Cooperative", "Pilot")  # fmt: skip
FIELDS = ("City", "Plan")
CITIES = ("Manila", "Cebu", "Davao", "Iloilo", "Baguio", "Tacloban")
BODIES = (
    "Hello {name}, your appointment is tomorrow at 9:00.",
    "Reminder: the cooperative meets on Friday.",
    "Salamat po! Your answer was recorded.",
    "Day 3: water the seedbed in the morning.",
)
REPLIES = ("YES", "NO", "Salamat", "STOP", "1", "2")


@dataclass(frozen=True)
class SeedSize:
    """How much to seed."""

    contacts: int
    messages: int
    topups: int
    ledger_entries: int
    runs_per_campaign: int
    other_orgs: int


def phone_of(index: int) -> str:
    """The n-th contact's number; none ends in a simulator behaviour (0001 to 0008)."""
    return f"63917{1_000_000 + index * 10 + 9:07d}"


def _batches(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


async def _insert(
    db: Database, table: Table, rows: Iterator[dict[str, Any]], say: Callable[[str], None]
) -> int:
    began, count = time.perf_counter(), 0
    for batch in _batches(rows):
        async with db.write() as conn:
            await conn.execute(table.insert(), batch)
        count += len(batch)
    say(f"  {table.name}: {count:,} rows in {time.perf_counter() - began:.1f} s")
    return count


async def _ids(conn: AsyncConnection, table: Table, org_id: int) -> list[int]:
    found = await conn.execute(
        select(table.c.id).where(table.c.org_id == org_id).order_by(table.c.id)
    )
    return [int(i) for i in found.scalars()]


async def seed_organization(
    url: str, org_id: int, campaign_ids: list[int], size: SeedSize, say: Callable[[str], None]
) -> None:
    """Fill the organization (made by the CLI) with the rows of `size`."""
    db = Database(url)
    rng = random.Random(20)
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        await _seed_contacts(db, org_id, size, rng, now, say)
        await _seed_messages(db, org_id, size, rng, now, say)
        await _seed_money(db, org_id, size, rng, now, say)
        await _seed_runs(db, org_id, campaign_ids, size, rng, now, say)
        await _insert(
            db,
            schema.organizations,
            (
                {"name": f"Bench neighbour {n}", "balance_micro": n * 1_000_000, "created_at": now}
                for n in range(size.other_orgs)
            ),
            say,
        )
        if not db.is_sqlite:
            # What autovacuum does soon after a bulk load: plans depend on the statistics, and
            # index-only counts (group sizes) on the visibility map.
            async with db.engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("VACUUM ANALYZE"))
    finally:
        await db.dispose()


async def _seed_contacts(
    db: Database,
    org_id: int,
    size: SeedSize,
    rng: random.Random,
    now: datetime,
    say: Callable[[str], None],
) -> None:
    def contacts() -> Iterator[dict[str, Any]]:
        for n in range(size.contacts):
            made = now - timedelta(days=90) + timedelta(seconds=n * 7_776_000 // size.contacts)
            yield {
                "org_id": org_id,
                "phone": phone_of(n),
                "region": "PH",
                "carrier": "Globe",
                "first_name": FIRST_NAMES[n % len(FIRST_NAMES)],
                "last_name": f"{LAST_NAMES[n % len(LAST_NAMES)]} {n}",
                "language": LANGUAGES[n % len(LANGUAGES)],
                "created_at": made,
                "updated_at": made,
                "last_use_at": made,
            }

    await _insert(db, schema.contacts, contacts(), say)
    async with db.write() as conn:
        for name in GROUPS:
            await conn.execute(
                schema.contact_groups.insert(),
                {"org_id": org_id, "name": name, "name_key": name.lower(), "created_at": now},
            )
        for name in FIELDS:
            await conn.execute(
                schema.custom_fields.insert(),
                {"org_id": org_id, "name": name, "name_key": name.lower(), "created_at": now},
            )
        contact_ids = await _ids(conn, schema.contacts, org_id)
        group_ids = await _ids(conn, schema.contact_groups, org_id)
        field_ids = await _ids(conn, schema.custom_fields, org_id)

    def members() -> Iterator[dict[str, Any]]:
        # Group sizes from half the contacts down to a few hundred; most contacts in one or two.
        for i, contact_id in enumerate(contact_ids):
            for g, group_id in enumerate(group_ids):
                if i % (g + 2) == 0:
                    yield {"contact_id": contact_id, "group_id": group_id}

    def values() -> Iterator[dict[str, Any]]:
        for i, contact_id in enumerate(contact_ids):
            yield {"contact_id": contact_id, "field_id": field_ids[0], "value": CITIES[i % 6]}
            if i % 3:
                plan = rng.choice(("basic", "plus", "pro"))
                yield {"contact_id": contact_id, "field_id": field_ids[1], "value": plan}

    await _insert(db, schema.contact_group_members, members(), say)
    await _insert(db, schema.contact_field_values, values(), say)


async def _seed_messages(
    db: Database,
    org_id: int,
    size: SeedSize,
    rng: random.Random,
    now: datetime,
    say: Callable[[str], None],
) -> None:
    async with db.read() as conn:
        contact_ids = await _ids(conn, schema.contacts, org_id)
    start = now - timedelta(days=30)
    step = timedelta(days=30) / max(1, size.messages)

    def messages() -> Iterator[dict[str, Any]]:
        for n in range(size.messages):
            made = start + step * n
            index = rng.randrange(len(contact_ids))
            inbound = n % 10 == 9
            roll = rng.random()
            status = "received" if inbound else ("failed" if roll < 0.06 else "accepted")
            receipt = "unknown"
            if status == "accepted":
                receipt = "confirmed" if roll < 0.9 else ("failed" if roll < 0.93 else "unknown")
            parts = 1 if roll < 0.8 else 2
            charged = 0 if inbound or status == "failed" else parts * 20_000
            yield {
                "org_id": org_id,
                "direction": "ingress" if inbound else "egress",
                "contact_id": contact_ids[index],
                "sender": phone_of(index) if inbound else "Tambuli",
                "recipient": "Tambuli" if inbound else phone_of(index),
                "body": REPLIES[n % 6] if inbound else BODIES[n % 4].format(name="Maria"),
                "encoding": "gsm7",
                "parts": parts,
                "price_per_part_micro": 0 if inbound else 20_000,
                "charged_micro": charged,
                "status": status,
                "receipt": receipt,
                "error": "refused by the operator" if status == "failed" else "",
                "attempts": 0 if inbound else 1,
                "channel": "simulator",
                "operator_message_id": None if inbound else f"sim-{n}",
                "handed_at": None if inbound or status == "failed" else made,
                "success_parts": parts if receipt == "confirmed" else 0,
                "success_at": made + timedelta(seconds=4) if receipt == "confirmed" else None,
                "created_at": made,
                "updated_at": made,
            }

    await _insert(db, schema.messages, messages(), say)


async def _seed_money(
    db: Database,
    org_id: int,
    size: SeedSize,
    rng: random.Random,
    now: datetime,
    say: Callable[[str], None],
) -> None:
    start = now - timedelta(days=30)

    def topups() -> Iterator[dict[str, Any]]:
        step = timedelta(days=30) / max(1, size.topups)
        for n in range(size.topups):
            made = start + step * n
            ok = rng.random() < 0.9
            yield {
                "org_id": org_id,
                "recipient": phone_of(n),
                "country": "PH",
                "operator_code": "ph-globe",
                "operator_name": "Globe",
                "currency": "PHP",
                "minor_digits": 2,
                "max_amount": "1.00",
                "amount_minor": 5_000,
                "received_minor": 5_000 if ok else None,
                "received_currency": "PHP" if ok else "",
                "price_micro": 900_000,
                "charged_micro": 900_000 if ok else 0,
                "status": "succeeded" if ok else "failed",
                "error": "" if ok else "the operator refused the number",
                "attempts": 1,
                "provider": "simulator",
                "created_at": made,
                "updated_at": made,
                "finished_at": made + timedelta(seconds=3),
            }

    balance = [500_000_000]

    def entries() -> Iterator[dict[str, Any]]:
        step = timedelta(days=30) / max(1, size.ledger_entries)
        for n in range(size.ledger_entries):
            kind = ("credit", "reserve", "settle")[0 if n % 500 == 0 else 1 + n % 2]
            amount = {"credit": 50_000_000, "reserve": -40_000, "settle": 20_000}[kind]
            balance[0] += amount
            yield {
                "org_id": org_id,
                "kind": kind,
                "amount_micro": amount,
                "balance_after_micro": balance[0],
                "reason": {"credit": "operator credit", "reserve": "sms", "settle": "sms"}[kind],
                "reference": f"bench-{n // 2}",
                "created_at": start + step * n,
            }

    await _insert(db, schema.topups, topups(), say)
    await _insert(db, schema.ledger_entries, entries(), say)
    async with db.write() as conn:
        await conn.execute(
            update(schema.organizations)
            .where(schema.organizations.c.id == org_id)
            .values(balance_micro=balance[0])
        )


async def _seed_runs(
    db: Database,
    org_id: int,
    campaign_ids: list[int],
    size: SeedSize,
    rng: random.Random,
    now: datetime,
    say: Callable[[str], None],
) -> None:
    async with db.read() as conn:
        contact_ids = await _ids(conn, schema.contacts, org_id)
    later = now + timedelta(days=30)

    def runs() -> Iterator[dict[str, Any]]:
        for campaign_id in campaign_ids:
            for n in range(min(size.runs_per_campaign, len(contact_ids))):
                contact_id = contact_ids[n]
                done = n % 4 != 0
                started = now - timedelta(days=20) + timedelta(seconds=n)
                yield {
                    "org_id": org_id,
                    "campaign_id": campaign_id,
                    "contact_id": contact_id,
                    "active_contact_id": None if done else contact_id,
                    "status": "done" if done else "active",
                    "time_zone": "Asia/Manila",
                    "started_at": started,
                    "step_index": 2 if done else 1,
                    "step_due_at": None if done else later,
                    "next_fire_at": None if done else later,
                    "steps_sent": 2 if done else 1,
                    "created_at": started,
                    "ended_at": started + timedelta(days=2) if done else None,
                }

    await _insert(db, schema.campaign_runs, runs(), say)
    if not campaign_ids:
        return
    poll = campaign_ids[-1]
    async with db.read() as conn:
        found = await conn.execute(
            select(schema.campaign_runs.c.id, schema.campaign_runs.c.contact_id).where(
                schema.campaign_runs.c.campaign_id == poll
            )
        )
        poll_runs = [(int(r), int(c)) for r, c in found]

    def answers() -> Iterator[dict[str, Any]]:
        for n, (run_id, contact_id) in enumerate(poll_runs):
            if n % 4 == 0:
                continue
            answer = rng.choice(("YES", "YES", "NO"))
            yield {
                "org_id": org_id,
                "campaign_id": poll,
                "run_id": run_id,
                "contact_id": contact_id,
                "step_index": 0,
                "answer": answer,
                "reply": answer.lower(),
                "answered_at": now - timedelta(days=19) + timedelta(seconds=n),
            }

    await _insert(db, schema.poll_answers, answers(), say)


async def count_messages(url: str, org_id: int) -> int:
    """How many messages the organization has (0 when it is not seeded yet)."""
    db = Database(url)
    try:
        async with db.read() as conn:
            found = await conn.execute(
                select(func.count()).where(schema.messages.c.org_id == org_id)
            )
            return int(found.scalar_one())
    finally:
        await db.dispose()
