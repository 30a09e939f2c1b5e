"""db/statements.py: statements run on SQLite's own cursor read and write what SQLAlchemy's
own execution does, on both databases.

The fast path takes a statement on its second run (the first runs on SQLAlchemy's path), so
each check here runs its statement at least twice and compares the runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.exc import MultipleResultsFound, NoResultFound
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.clock import FakeClock
from tambuli.db.claims import DueRows, any_due_row, claim_due_rows
from tambuli.db.engine import Database
from tambuli.db.schema import organizations, reservations
from tambuli.db.statements import IN_LIST_SIZES, Rows, execute, execute_many
from tambuli.organizations import service as organizations_service
from tests.conftest import OrgFactory
from tests.support.databases import migrated_database

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
# Parameters named like the columns they set or match: the module renames them.
CLOSE = (
    update(reservations)
    .where(reservations.c.id == bindparam("id"))
    .values(closed_at=bindparam("closed_at"), status="settled")
    .returning(reservations.c.id, reservations.c.closed_at, reservations.c.status)
)
AMOUNTS_OF = select(reservations.c.id, reservations.c.amount_micro).where(
    reservations.c.id.in_(bindparam("ids", expanding=True)),
    reservations.c.amount_micro >= bindparam("least"),
)
# A fixed value in the statement beside per-row ones, as the dispatch and billing updates have.
SETTLE = (
    update(reservations)
    .where(reservations.c.id == bindparam("id"), reservations.c.status == "held")
    .values(status="settled", charged_micro=bindparam("charged_micro"), closed_at=bindparam("now"))
)
INSERT_RESERVATIONS = insert(reservations).returning(
    reservations.c.id, sort_by_parameter_order=True
)
INSERT_PLAIN = insert(reservations)
DUE_HELD = DueRows(
    reservations,
    reservations.c.created_at,
    where=(reservations.c.status == "held",),
    returning=(reservations.c.id, reservations.c.amount_micro, reservations.c.created_at),
)


def held(org_id: int, amount: int, reference: str, at: datetime = NOW) -> dict[str, object]:
    return {
        "org_id": org_id,
        "amount_micro": amount,
        "status": "held",
        "reason": "statements test",
        "reference": reference,
        "created_at": at,
    }


async def test_rows_read_directly_equal_sqlalchemys_and_can_be_read_by_name(
    db: Database, make_org: OrgFactory
) -> None:
    org = await make_org(balance_micro=1_500)
    async with db.read() as conn:
        runs = [await execute(conn, READ_ORG, {"org_id": org.org_id}) for _ in range(3)]
        usual = (await conn.execute(READ_ORG, {"org_id": org.org_id})).one()
        assert (await execute(conn, READ_ORG, {"org_id": -1})).first() is None
    for rows in runs:
        row = rows.one()
        assert tuple(row) == tuple(usual)
        assert (row.id, row.balance_micro, row.auto_recharge) == (org.org_id, 1_500, False)
        assert row._mapping["balance_micro"] == 1_500
        assert row.created_at.tzinfo is not None


async def test_statements_built_for_each_call_run_too(db: Database, make_org: OrgFactory) -> None:
    org = await make_org(balance_micro=700)
    async with db.write() as conn:
        for delta in (1, 2):
            query = select(organizations.c.balance_micro).where(organizations.c.id == org.org_id)
            before = (await execute(conn, query)).scalar_one()
            changed = await execute(
                conn,
                update(organizations)
                .where(organizations.c.id == org.org_id)
                .values(balance_micro=before + delta),
            )
            assert changed.rowcount == 1
        rows = await execute(conn, text("SELECT 1 AS one"))
    assert rows.scalars() == [1]
    async with db.read() as conn:
        assert (await execute(conn, READ_ORG, {"org_id": org.org_id})).one().balance_micro == 703


async def test_a_write_runs_in_the_callers_transaction_and_rolls_back_with_it(
    db: Database, make_org: OrgFactory
) -> None:
    org = await make_org(balance_micro=1_000)
    for _ in range(2):
        with pytest.raises(RuntimeError):
            async with db.write() as conn:
                rows = await execute(conn, ADD, {"org_id": org.org_id, "delta": 250})
                assert rows == [(1_250,)] and rows.rowcount == 1
                raise RuntimeError("abandon the transaction")
    async with db.write() as conn:
        assert (await execute(conn, ADD, {"org_id": org.org_id, "delta": 5})).scalar() == 1_005


async def test_parameters_named_like_columns_are_renamed_and_times_keep_their_instant(
    db: Database, make_org: OrgFactory
) -> None:
    org = await make_org()
    manila = (NOW + timedelta(microseconds=7)).astimezone(timezone(timedelta(hours=8)))
    async with db.write() as conn:
        ids = (
            await execute_many(conn, INSERT_RESERVATIONS, [held(org.org_id, 10, "c")] * 3)
        ).scalars()
        rows = [await execute(conn, CLOSE, {"id": i, "closed_at": manila}) for i in ids]
    for reservation_id, found in zip(ids, rows, strict=True):
        row = found.one()
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


@pytest.mark.parametrize(
    "count", [1, IN_LIST_SIZES[0], IN_LIST_SIZES[0] + 1, IN_LIST_SIZES[1] * 2 + 5]
)
async def test_an_in_list_of_any_length_finds_each_row_once(
    db: Database, make_org: OrgFactory, count: int
) -> None:
    org = await make_org()
    async with db.write() as conn:
        rows = [held(org.org_id, amount, f"in{amount}") for amount in range(1, count + 1)]
        ids = (await execute_many(conn, INSERT_RESERVATIONS, rows)).scalars()
        # A missing ID and a repeated one change nothing.
        wanted = [*ids, -5, *ids[:3]]
        runs = [await execute(conn, AMOUNTS_OF, {"ids": wanted, "least": 2}) for _ in range(2)]
        assert await execute(conn, AMOUNTS_OF, {"ids": [], "least": 2}) == []
    for found in runs:
        assert sorted((r.id, r.amount_micro) for r in found) == [
            (row_id, amount) for amount, row_id in enumerate(ids, start=1) if amount >= 2
        ]


async def test_order_and_limit_cover_the_whole_in_list(db: Database, make_org: OrgFactory) -> None:
    # One statement for the whole list, never one per chunk of it.
    newest = (
        select(reservations.c.id)
        .where(reservations.c.id.in_(bindparam("ids", expanding=True)))
        .order_by(reservations.c.id.desc())
        .limit(3)
    )
    org = await make_org()
    async with db.write() as conn:
        rows = [held(org.org_id, 1, f"last{i}") for i in range(IN_LIST_SIZES[1] + 3)]
        ids = (await execute_many(conn, INSERT_RESERVATIONS, rows)).scalars()
        for _ in range(2):
            assert (await execute(conn, newest, {"ids": ids})).scalars() == ids[::-1][:3]


async def test_an_in_list_longer_than_the_largest_size_runs_too(
    db: Database, make_org: OrgFactory
) -> None:
    org = await make_org()
    async with db.write() as conn:
        [reservation_id] = (
            await execute_many(conn, INSERT_RESERVATIONS, [held(org.org_id, 5, "long")])
        ).scalars()
        wanted = [reservation_id, *range(-IN_LIST_SIZES[-1] - 10, 0)]
        for _ in range(2):
            found = await execute(conn, AMOUNTS_OF, {"ids": wanted, "least": 0})
            assert [tuple(r) for r in found] == [(reservation_id, 5)]


async def test_inserted_rows_get_their_ids_in_order_and_read_back_as_written(
    db: Database, make_org: OrgFactory
) -> None:
    org = await make_org()
    # A time given in another zone is stored as the same instant in UTC.
    manila = NOW.astimezone(timezone(timedelta(hours=8)))
    rows = [
        held(org.org_id, 100 + i, f"r{i}", manila if i == 2 else NOW + timedelta(microseconds=i))
        for i in range(7)
    ]
    async with db.write() as conn:
        ids = []
        for part in (rows[:3], rows[3:5], rows[5:]):
            inserted = await execute_many(conn, INSERT_RESERVATIONS, part)
            assert inserted.rowcount == len(part)
            ids += inserted.scalars()
        assert await execute_many(conn, INSERT_RESERVATIONS, []) == []
    assert len(set(ids)) == 7 and ids == sorted(ids)
    async with db.read() as conn:
        found = {
            r.id: (r.amount_micro, r.reference, r.created_at, r.closed_at)
            for r in await execute(conn, select(reservations).where(reservations.c.id.in_(ids)))
        }
    assert [found[i] for i in ids] == [
        (100, "r0", NOW, None),
        (101, "r1", NOW + timedelta(microseconds=1), None),
        (102, "r2", NOW, None),
        (103, "r3", NOW + timedelta(microseconds=3), None),
        (104, "r4", NOW + timedelta(microseconds=4), None),
        (105, "r5", NOW + timedelta(microseconds=5), None),
        (106, "r6", NOW + timedelta(microseconds=6), None),
    ]


async def test_many_row_updates_apply_fixed_and_per_row_values_and_skip_rows_not_matching(
    db: Database, make_org: OrgFactory
) -> None:
    org = await make_org()
    later = NOW + timedelta(minutes=5)
    async with db.write() as conn:
        ids = (
            await execute_many(
                conn, INSERT_RESERVATIONS, [held(org.org_id, 500, f"u{i}") for i in range(4)]
            )
        ).scalars()
        for reservation_id, charged in ((ids[0], 200), (ids[1], 500), (ids[2], 300)):
            row = {"id": reservation_id, "charged_micro": charged, "now": later}
            counted = (await execute_many(conn, SETTLE, [row])).rowcount
            # asyncpg does not count the rows an executemany changes.
            assert counted == 1 or not db.is_sqlite
        # Already settled: the status condition keeps the first charge.
        again = [{"id": ids[0], "charged_micro": 1, "now": NOW}]
        assert (await execute_many(conn, SETTLE, again * 2)).rowcount in (0, -1)
        assert (await execute_many(conn, SETTLE, [])).rowcount == 0
    async with db.read() as conn:
        found = {
            r.id: (r.status, r.charged_micro, r.closed_at)
            for r in await execute(conn, select(reservations).where(reservations.c.id.in_(ids)))
        }
    assert [found[i] for i in ids] == [
        ("settled", 200, later),
        ("settled", 500, later),
        ("settled", 300, later),
        ("held", 0, None),
    ]


async def test_times_are_stored_as_the_same_text_as_sqlalchemy_stores_them(
    db: Database, make_org: OrgFactory
) -> None:
    org = await make_org()
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)  # no microseconds: still written out
    async with db.write() as conn:
        for i in range(2):
            await execute_many(conn, INSERT_PLAIN, [held(org.org_id, 7, f"bulk{i}-time", at)])
        await conn.execute(insert(reservations).values(**held(org.org_id, 7, "core-time", at)))
        stored = await conn.execute(
            text("SELECT reference, created_at FROM reservations WHERE reference LIKE '%-time'")
        )
        texts = {r.reference: r.created_at for r in stored}
    assert texts["bulk0-time"] == texts["bulk1-time"] == texts["core-time"]
    # Text and row order agree, so comparisons in SQL (due times, leases) see the same order.
    if db.is_sqlite:
        assert texts["bulk1-time"] == "2026-01-02 03:04:05.000000"


def test_rows_answer_as_sqlalchemys_result_does() -> None:
    assert Rows([(1, "a")]).one() == (1, "a")
    assert Rows([(1, "a")]).scalar_one() == 1
    assert Rows().one_or_none() is None and Rows().scalar() is None
    assert Rows().scalar_one_or_none() is None
    with pytest.raises(NoResultFound):
        Rows().one()
    with pytest.raises(MultipleResultsFound):
        Rows([(1,), (2,)]).one_or_none()


async def test_a_row_without_a_required_value_is_refused_on_sqlite(
    tmp_path: Path, clock: FakeClock
) -> None:
    # The compiled plan is SQLite's own; PostgreSQL runs SQLAlchemy's path, which has its errors.
    async with migrated_database("sqlite", tmp_path) as db:
        org = await organizations_service.create_organization(db, clock, "Statements")
        async with db.write() as conn:
            for i in range(2):
                await execute_many(conn, INSERT_PLAIN, [held(org.org_id, 9, f"refused{i}")])
            await execute_many(conn, SETTLE, [{"id": 1, "charged_micro": 1, "now": NOW}])
            with pytest.raises(KeyError):
                await execute_many(conn, SETTLE, [{"id": 1, "charged_micro": 1}])
            with pytest.raises(TypeError):
                await execute_many(conn, AMOUNTS_OF, [{"ids": [1], "least": 1}])  # type: ignore[arg-type]


async def _hold(conn: AsyncConnection, org_id: int, amount: int, at: datetime) -> int:
    result = await conn.execute(
        insert(reservations)
        .values(
            org_id=org_id,
            amount_micro=amount,
            status="held",
            reason="statements test",
            reference=f"r{amount}",
            created_at=at,
        )
        .returning(reservations.c.id)
    )
    return int(result.scalar_one())
