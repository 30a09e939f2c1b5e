"""db/direct.py and db/claims.py: statements on SQLite's own cursor read and write what
SQLAlchemy's own execution does, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.db.claims import DueRows, any_due_row, claim_due_rows
from tambuli.db.direct import IN_LIST_SIZE, fetch_one, fetch_rows, fetch_rows_in, in_list
from tambuli.db.engine import Database
from tambuli.db.schema import organizations, reservations
from tests.conftest import OrgFactory

NOW = datetime(2026, 11, 22, 8, 30, 0, tzinfo=UTC)

READ_ORG = select(
    organizations.c.id,
    organizations.c.balance_micro,
    organizations.c.auto_recharge,
    organizations.c.created_at,
).where(organizations.c.id == bindparam("org_id"))
ADD = (
    update(organizations)
    .where(organizations.c.id == bindparam("org_id"))
    .values(balance_micro=organizations.c.balance_micro + bindparam("delta"))
    .returning(organizations.c.balance_micro)
)
CLOSE = (
    update(reservations)
    .where(reservations.c.id == bindparam("b_id"))
    .values(closed_at=bindparam("b_at"), status="settled")
    .returning(reservations.c.id, reservations.c.closed_at, reservations.c.status)
)
AMOUNTS_OF = select(reservations.c.id, reservations.c.amount_micro).where(
    reservations.c.id.in_(in_list("b_id")), reservations.c.amount_micro >= bindparam("b_least")
)
DUE_HELD = DueRows(
    reservations,
    reservations.c.created_at,
    where=(reservations.c.status == "held",),
    returning=(reservations.c.id, reservations.c.amount_micro, reservations.c.created_at),
)


async def test_rows_read_directly_equal_sqlalchemys_and_can_be_read_by_name(
    db: Database, make_org: OrgFactory
) -> None:
    org = await make_org(balance_micro=1_500)
    async with db.read() as conn:
        direct = await fetch_one(conn, READ_ORG, {"org_id": org.org_id})
        usual = (await conn.execute(READ_ORG, {"org_id": org.org_id})).one()
        assert await fetch_one(conn, READ_ORG, {"org_id": -1}) is None
    assert direct is not None
    assert tuple(direct) == tuple(usual)
    assert (direct.id, direct.balance_micro, direct.auto_recharge) == (org.org_id, 1_500, False)
    assert direct.created_at.tzinfo is not None


async def test_a_write_runs_in_the_callers_transaction_and_rolls_back_with_it(
    db: Database, make_org: OrgFactory
) -> None:
    org = await make_org(balance_micro=1_000)
    with pytest.raises(RuntimeError):
        async with db.write() as conn:
            assert await fetch_rows(conn, ADD, {"org_id": org.org_id, "delta": 250}) == [(1_250,)]
            raise RuntimeError("abandon the transaction")
    async with db.write() as conn:
        assert await fetch_rows(conn, ADD, {"org_id": org.org_id, "delta": 5}) == [(1_005,)]


async def test_times_are_bound_and_read_back_as_the_same_instant(
    db: Database, make_org: OrgFactory
) -> None:
    org = await make_org()
    manila = (NOW + timedelta(microseconds=7)).astimezone(timezone(timedelta(hours=8)))
    async with db.write() as conn:
        reservation_id = await _hold(conn, org.org_id, 10, NOW)
        row = await fetch_one(conn, CLOSE, {"b_id": reservation_id, "b_at": manila})
    assert row is not None
    assert (row.id, row.status) == (reservation_id, "settled")
    assert row.closed_at == manila and row.closed_at.utcoffset() == timedelta(0)


async def test_a_claim_takes_due_rows_oldest_first_up_to_the_limit_and_leases_them(
    db: Database, make_org: OrgFactory
) -> None:
    org = await make_org()
    async with db.write() as conn:
        ids = [
            await _hold(conn, org.org_id, amount, NOW - timedelta(minutes=amount))
            for amount in (1, 3, 2)
        ]
        late = await _hold(conn, org.org_id, 9, NOW + timedelta(minutes=1))
    lease = NOW + timedelta(minutes=5)
    # Other tests' reservations share the table: claim by this organization's rows only.
    due = DueRows(
        DUE_HELD.table,
        DUE_HELD.due_at,
        where=(*DUE_HELD.where, reservations.c.org_id == org.org_id),
        returning=DUE_HELD.returning,
    )
    async with db.write() as conn:
        assert await any_due_row(conn, due, now=NOW)
        first = await claim_due_rows(
            conn, due, now=NOW, lease_until=lease, limit=2, skip_locked=not db.is_sqlite
        )
        rest = await claim_due_rows(
            conn, due, now=NOW, lease_until=lease, limit=2, skip_locked=not db.is_sqlite
        )
        assert not await any_due_row(conn, due, now=NOW)
    # The two oldest (3 and 2 minutes ago) first, handed on in ID order.
    assert [r.amount_micro for r in first] == [3, 2]
    assert [r.id for r in first] == sorted([ids[1], ids[2]])
    assert [(r.id, r.created_at) for r in rest] == [(ids[0], lease)]
    async with db.read() as conn:
        still = (
            await conn.execute(select(reservations.c.created_at).where(reservations.c.id == late))
        ).scalar_one()
    assert still == NOW + timedelta(minutes=1)


@pytest.mark.parametrize("count", [0, 1, IN_LIST_SIZE, IN_LIST_SIZE + 1, 2 * IN_LIST_SIZE + 5])
async def test_an_in_list_of_any_length_finds_each_row_once(
    db: Database, make_org: OrgFactory, count: int
) -> None:
    org = await make_org()
    async with db.write() as conn:
        ids = [await _hold(conn, org.org_id, amount, NOW) for amount in range(1, count + 1)]
        # A missing ID and a repeated one change nothing.
        wanted = [*ids, -5, *ids[:3]]
        rows = await fetch_rows_in(conn, AMOUNTS_OF, "b_id", wanted, {"b_least": 2})
    assert sorted((r.id, r.amount_micro) for r in rows) == [
        (row_id, amount) for amount, row_id in enumerate(ids, start=1) if amount >= 2
    ]


async def _hold(conn: AsyncConnection, org_id: int, amount: int, at: datetime) -> int:
    result = await conn.execute(
        insert(reservations)
        .values(
            org_id=org_id,
            amount_micro=amount,
            status="held",
            reason="direct test",
            reference=f"r{amount}",
            created_at=at,
        )
        .returning(reservations.c.id)
    )
    return int(result.scalar_one())
