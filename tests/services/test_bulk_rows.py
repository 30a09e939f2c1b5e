"""db/bulk.py: statements over many rows write what SQLAlchemy's own execution writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import bindparam, insert, select, text, update

from tambuli.clock import FakeClock
from tambuli.db.bulk import execute_rows, insert_rows, insert_rows_returning_ids
from tambuli.db.engine import Database
from tambuli.db.schema import reservations
from tambuli.organizations import service as organizations
from tests.conftest import OrgFactory
from tests.support.databases import migrated_database

NOW = datetime(2026, 11, 22, 8, 30, 0, tzinfo=UTC)

# A fixed value in the statement beside per-row ones, as the dispatch and billing updates have.
SETTLE = (
    update(reservations)
    .where(reservations.c.id == bindparam("b_id"), reservations.c.status == "held")
    .values(status="settled", charged_micro=bindparam("b_charged"), closed_at=bindparam("b_now"))
)


def held(org_id: int, amount: int, reference: str, at: datetime = NOW) -> dict[str, object]:
    return {
        "org_id": org_id,
        "amount_micro": amount,
        "status": "held",
        "reason": "bulk test",
        "reference": reference,
        "created_at": at,
    }


async def test_inserted_rows_get_their_ids_in_order_and_read_back_as_written(
    db: Database, make_org: OrgFactory
) -> None:
    org = await make_org()
    # A time given in another zone is stored as the same instant in UTC.
    manila = NOW.astimezone(timezone(timedelta(hours=8)))
    rows = [
        held(org.org_id, 100 + i, f"r{i}", manila if i == 2 else NOW + timedelta(microseconds=i))
        for i in range(5)
    ]
    async with db.write() as conn:
        first = await insert_rows_returning_ids(conn, reservations, rows[:3])
        second = await insert_rows_returning_ids(conn, reservations, rows[3:])
        assert await insert_rows_returning_ids(conn, reservations, []) == []
    ids = first + second
    assert len(set(ids)) == 5 and ids == sorted(ids)
    async with db.read() as conn:
        found = {
            r.id: (r.amount_micro, r.reference, r.created_at, r.closed_at)
            for r in await conn.execute(select(reservations).where(reservations.c.id.in_(ids)))
        }
    assert [found[i] for i in ids] == [
        (100, "r0", NOW, None),
        (101, "r1", NOW + timedelta(microseconds=1), None),
        (102, "r2", NOW, None),
        (103, "r3", NOW + timedelta(microseconds=3), None),
        (104, "r4", NOW + timedelta(microseconds=4), None),
    ]


async def test_many_row_updates_apply_fixed_and_per_row_values_and_skip_rows_not_matching(
    db: Database, make_org: OrgFactory
) -> None:
    org = await make_org()
    async with db.write() as conn:
        ids = await insert_rows_returning_ids(
            conn, reservations, [held(org.org_id, 500, f"u{i}") for i in range(3)]
        )
        later = NOW + timedelta(minutes=5)
        rows = [{"b_id": ids[0], "b_charged": 200, "b_now": later}]
        rows.append({"b_id": ids[1], "b_charged": 500, "b_now": later})
        await execute_rows(conn, SETTLE, rows)
        # Already settled: the status condition keeps the first charge.
        await execute_rows(conn, SETTLE, [{"b_id": ids[0], "b_charged": 1, "b_now": NOW}])
        await execute_rows(conn, SETTLE, [])
    async with db.read() as conn:
        found = {
            r.id: (r.status, r.charged_micro, r.closed_at)
            for r in await conn.execute(select(reservations).where(reservations.c.id.in_(ids)))
        }
    assert [found[i] for i in ids] == [
        ("settled", 200, later),
        ("settled", 500, later),
        ("held", 0, None),
    ]


async def test_times_are_stored_as_the_same_text_as_sqlalchemy_stores_them(
    db: Database, make_org: OrgFactory
) -> None:
    org = await make_org()
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)  # no microseconds: still written out
    async with db.write() as conn:
        await insert_rows(conn, reservations, [held(org.org_id, 7, "bulk-time", at)])
        await conn.execute(insert(reservations).values(**held(org.org_id, 7, "core-time", at)))
        stored = await conn.execute(
            text("SELECT reference, created_at FROM reservations WHERE reference LIKE '%-time'")
        )
        texts = {r.reference: r.created_at for r in stored}
    assert texts["bulk-time"] == texts["core-time"]
    # Text and row order agree, so comparisons in SQL (due times, leases) see the same order.
    if db.is_sqlite:
        assert texts["bulk-time"] == "2026-01-02 03:04:05.000000"


async def test_a_row_without_a_required_value_or_an_in_list_is_refused_on_sqlite(
    tmp_path: Path, clock: FakeClock
) -> None:
    # The compiled plan is SQLite's own; PostgreSQL runs SQLAlchemy's path, which has its errors.
    by_list = (
        update(reservations)
        .where(reservations.c.id.in_([1, 2]))
        .values(charged_micro=bindparam("b_charged"))
    )
    async with migrated_database("sqlite", tmp_path) as db:
        org = await organizations.create_organization(db, clock, "Bulk")
        async with db.write() as conn:
            [reservation_id] = await insert_rows_returning_ids(
                conn, reservations, [held(org.org_id, 9, "refused")]
            )
            with pytest.raises(KeyError):
                await execute_rows(conn, SETTLE, [{"b_id": reservation_id, "b_charged": 1}])
            with pytest.raises(TypeError):
                await execute_rows(conn, by_list, [{"b_charged": 1}])
