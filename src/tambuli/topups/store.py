"""SQL for the topups and topup_dedup tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.db.claims import DueRows, any_due_row, claim_due_rows, count_queued_rows
from tambuli.db.schema import contacts, topup_dedup, topups
from tambuli.db.statements import execute, execute_many
from tambuli.db.text_search import escape_like
from tambuli.topups.models import StoredTopup, TopupStatus
from tambuli.topups.planning import TopupDraft

_OPEN = (TopupStatus.QUEUED.value, TopupStatus.SENDING.value)
_DUE_TOPUPS = DueRows(
    topups,
    topups.c.next_attempt_at,
    where=(or_(*(topups.c.status == status for status in _OPEN)),),
    returning=tuple(topups.c),
    leased=("lease_until",),
)
_COLUMNS = (*topups.c, contacts.c.first_name, contacts.c.last_name)
# Contacts are joined for their names only; a deleted contact leaves the names empty.
_WITH_CONTACT = topups.outerjoin(
    contacts, and_(contacts.c.id == topups.c.contact_id, contacts.c.org_id == topups.c.org_id)
)


def _to_topup(row: Any) -> StoredTopup:
    return StoredTopup(
        row_id=int(row.id),
        org_id=int(row.org_id),
        contact_id=None if row.contact_id is None else int(row.contact_id),
        recipient=row.recipient,
        country=row.country,
        operator_code=row.operator_code,
        operator_name=row.operator_name,
        provider_operator_ref=row.provider_operator_ref,
        currency=row.currency,
        minor_digits=int(row.minor_digits),
        max_amount=row.max_amount,
        desired_amount=row.desired_amount,
        amount_minor=int(row.amount_minor),
        received_minor=None if row.received_minor is None else int(row.received_minor),
        received_currency=row.received_currency,
        price_micro=int(row.price_micro),
        reservation_id=None if row.reservation_id is None else int(row.reservation_id),
        charged_micro=int(row.charged_micro),
        status=TopupStatus(row.status),
        error=row.error,
        attempts=int(row.attempts),
        next_attempt_at=row.next_attempt_at,
        pending_ref=row.pending_ref,
        rerouted=bool(row.rerouted),
        provider=row.provider,
        provider_transaction_id=row.provider_transaction_id,
        client_ref=row.client_ref,
        client_dedup=row.client_dedup,
        results_url=row.results_url,
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
        first_name=getattr(row, "first_name", None) or "",
        last_name=getattr(row, "last_name", None) or "",
    )


async def insert_topups(
    conn: AsyncConnection,
    now: datetime,
    lease_until: datetime,
    drafts: Sequence[TopupDraft],
    reservation_ids: Sequence[int],
) -> list[StoredTopup]:
    """Store new top-ups, each paid by its reservation, in one statement; them, in order.

    A draft whose request claims it is stored under a claim until `lease_until`; the others
    are due at once.
    """
    if not drafts:
        return []
    rows = [
        _new_topup_row(draft, reservation_id, now, lease_until if draft.claim else None)
        for draft, reservation_id in zip(drafts, reservation_ids, strict=True)
    ]
    result = await execute_many(
        conn, insert(topups).returning(*topups.c, sort_by_parameter_order=True), rows
    )
    return [_to_topup(row) for row in result]


def _new_topup_row(
    draft: TopupDraft, reservation_id: int, now: datetime, lease_until: datetime | None
) -> dict[str, object]:
    plan = draft.plan
    operator = plan.operator
    return {
        "org_id": draft.org_id,
        "contact_id": draft.contact_id,
        "recipient": draft.recipient,
        "country": operator.country,
        "operator_code": operator.code,
        "operator_name": operator.name,
        "provider_operator_ref": operator.provider_ref,
        "currency": operator.currency,
        "minor_digits": operator.minor_digits,
        "max_amount": plan.max_amount,
        "desired_amount": plan.desired_amount,
        "amount_minor": plan.amount_minor,
        "received_minor": plan.received_minor,
        "received_currency": plan.received_currency,
        "price_micro": plan.price_micro,
        "client_ref": draft.client_ref,
        "client_dedup": draft.client_dedup,
        "results_url": draft.results_url,
        "reservation_id": reservation_id,
        "status": TopupStatus.QUEUED.value,
        "attempts": 0,
        "next_attempt_at": lease_until or now,
        "lease_until": lease_until,
        "created_at": now,
        "updated_at": now,
    }


async def insert_dedup_keys(conn: AsyncConnection, keys: Sequence[tuple[int, str, int]]) -> None:
    """Claim clientDedup keys (org_id, key, top-up row ID); the primary key refuses repeats."""
    if keys:
        await execute_many(
            conn,
            insert(topup_dedup),
            [{"org_id": o, "client_dedup": k, "topup_id": t} for o, k, t in keys],
        )


async def select_topups_by_dedup_keys(
    conn: AsyncConnection, keys: set[tuple[int, str]]
) -> dict[tuple[int, str], StoredTopup]:
    """The top-ups that first used any of these (org_id, clientDedup) keys."""
    found: dict[tuple[int, str], StoredTopup] = {}
    for org_id in sorted({org for org, _ in keys}):
        wanted = sorted(key for org, key in keys if org == org_id)
        rows = await execute(
            conn,
            select(*_COLUMNS, topup_dedup.c.client_dedup.label("dedup_key"))
            .select_from(_WITH_CONTACT.join(topup_dedup, topup_dedup.c.topup_id == topups.c.id))
            .where(topup_dedup.c.org_id == org_id, topup_dedup.c.client_dedup.in_(wanted)),
        )
        for row in rows:
            found[(org_id, row.dedup_key)] = _to_topup(row)
    return found


async def select_topup(conn: AsyncConnection, org_id: int, row_id: int) -> StoredTopup | None:
    """One top-up of the organization, with its contact's names."""
    row = (
        await execute(
            conn,
            select(*_COLUMNS)
            .select_from(_WITH_CONTACT)
            .where(topups.c.id == row_id, topups.c.org_id == org_id),
        )
    ).first()
    return None if row is None else _to_topup(row)


async def select_topup_by_dedup(
    conn: AsyncConnection, org_id: int, client_dedup: str
) -> StoredTopup | None:
    """The top-up that used this clientDedup, if any."""
    found = (
        await execute(
            conn,
            select(topup_dedup.c.topup_id).where(
                topup_dedup.c.org_id == org_id, topup_dedup.c.client_dedup == client_dedup
            ),
        )
    ).first()
    return None if found is None else await select_topup(conn, org_id, int(found.topup_id))


async def claim_due_topups(
    conn: AsyncConnection, now: datetime, lease_until: datetime, limit: int, skip_locked: bool
) -> list[StoredTopup]:
    """Take up to `limit` due top-ups; they come due again at `lease_until` if not recorded."""
    rows = await claim_due_rows(
        conn, _DUE_TOPUPS, now=now, lease_until=lease_until, limit=limit, skip_locked=skip_locked
    )
    return [_to_topup(r) for r in rows]


async def claim_topup(
    conn: AsyncConnection, row_id: int, now: datetime, lease_until: datetime
) -> StoredTopup | None:
    """Take one top-up if it is due now (a synchronous request carrying on after a reroute)."""
    row = (
        await execute(
            conn,
            update(topups)
            .where(
                topups.c.id == row_id,
                topups.c.status.in_(_OPEN),
                topups.c.next_attempt_at <= now,
            )
            .values(next_attempt_at=lease_until, lease_until=lease_until)
            .returning(*topups.c),
        )
    ).first()
    return None if row is None else _to_topup(row)


async def any_due_topup(conn: AsyncConnection, now: datetime) -> bool:
    """Whether some top-up is due."""
    return await any_due_row(conn, _DUE_TOPUPS, now=now)


_BEGIN_ATTEMPT = (
    update(topups)
    .where(topups.c.id == bindparam("topup_id"))
    .values(
        status=TopupStatus.SENDING.value,
        attempts=bindparam("attempts"),
        pending_ref=bindparam("ref"),
        updated_at=bindparam("now"),
    )
)
# Sets the columns each row names beside its topup_id (an executemany sets a parameter named
# like a column that the statement does not bind itself), and ends the claim.
_RECORD_OUTCOME = (
    update(topups).where(topups.c.id == bindparam("topup_id")).values(lease_until=None)
)


async def begin_attempts(conn: AsyncConnection, started: Sequence[StoredTopup]) -> None:
    """Mark claimed top-ups as being sent, with their attempt count and reference."""
    if not started:
        return
    await execute_many(
        conn,
        _BEGIN_ATTEMPT,
        [
            {
                "topup_id": t.row_id,
                "attempts": t.attempts,
                "ref": t.pending_ref,
                "now": t.updated_at,
            }
            for t in started
        ],
    )


async def select_still_claimed(
    conn: AsyncConnection, claims: Sequence[tuple[int, datetime]]
) -> set[int]:
    """Which of these top-ups (ID, claim's lease end) are still open under that very claim,
    locked until commit.

    A worker that outlived its claim finds the top-up taken over and must record nothing.
    """
    if not claims:
        return set()
    leases = dict(claims)
    rows = await execute(
        conn,
        select(topups.c.id, topups.c.lease_until)
        .where(topups.c.id.in_(list(leases)), topups.c.status.in_(_OPEN))
        .with_for_update(),
    )
    return {int(r.id) for r in rows if r.lease_until == leases[int(r.id)]}


async def select_contact_names(
    conn: AsyncConnection, org_id: int, contact_ids: Sequence[int]
) -> dict[int, tuple[str, str]]:
    """First and last names of the organization's contacts among these IDs."""
    if not contact_ids:
        return {}
    rows = await execute(
        conn,
        select(contacts.c.id, contacts.c.first_name, contacts.c.last_name).where(
            contacts.c.org_id == org_id, contacts.c.id.in_(sorted(set(contact_ids)))
        ),
    )
    return {int(r.id): (r.first_name or "", r.last_name or "") for r in rows}


async def record_outcomes(conn: AsyncConnection, answered: Sequence[StoredTopup]) -> None:
    """Store each top-up as its provider's answer left it; its claim ends."""
    if not answered:
        return
    await execute_many(conn, _RECORD_OUTCOME, [_outcome_row(t) for t in answered])


def _outcome_row(t: StoredTopup) -> dict[str, object]:
    """The columns a provider's answer may change (a reroute changes operator and price)."""
    return {
        "topup_id": t.row_id,
        "status": t.status.value,
        "error": t.error,
        "attempts": t.attempts,
        "next_attempt_at": t.next_attempt_at,
        "pending_ref": t.pending_ref,
        "rerouted": t.rerouted,
        "operator_code": t.operator_code,
        "operator_name": t.operator_name,
        "provider_operator_ref": t.provider_operator_ref,
        "currency": t.currency,
        "minor_digits": t.minor_digits,
        "amount_minor": t.amount_minor,
        "received_minor": t.received_minor,
        "received_currency": t.received_currency,
        "price_micro": t.price_micro,
        "reservation_id": t.reservation_id,
        "charged_micro": t.charged_micro,
        "provider": t.provider,
        "provider_transaction_id": t.provider_transaction_id,
        "updated_at": t.updated_at,
        "finished_at": t.finished_at,
    }


@dataclass(frozen=True)
class TopupFilter:
    """Which top-ups a list asks for; None means no filter."""

    failed: bool | None = None
    search: str | None = None
    start: datetime | None = None
    end: datetime | None = None


def _filter_clause(org_id: int, wanted: TopupFilter) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = [topups.c.org_id == org_id]
    if wanted.failed is True:
        clauses.append(topups.c.status == TopupStatus.FAILED.value)
    elif wanted.failed is False:
        clauses.append(topups.c.status != TopupStatus.FAILED.value)
    if wanted.start is not None:
        clauses.append(topups.c.created_at >= wanted.start)
    if wanted.end is not None:
        clauses.append(topups.c.created_at < wanted.end)
    if wanted.search:
        pattern = f"%{escape_like(wanted.search.lower())}%"
        # "Keyword search in the contact fields": the contact's names and number, plus the
        # top-up's own number and clientRef.
        clauses.append(
            or_(
                func.lower(contacts.c.first_name).like(pattern, escape="\\"),
                func.lower(contacts.c.last_name).like(pattern, escape="\\"),
                func.lower(contacts.c.first_name + " " + contacts.c.last_name).like(
                    pattern, escape="\\"
                ),
                topups.c.recipient.like(pattern, escape="\\"),
                func.lower(topups.c.client_ref).like(pattern, escape="\\"),
            )
        )
    return and_(*clauses)


async def select_topups_before(
    conn: AsyncConnection, org_id: int, wanted: TopupFilter, before_id: int | None, limit: int
) -> list[StoredTopup]:
    """Newest first, keyset-paged: top-ups with an ID below `before_id` (all when None)."""
    clause = _filter_clause(org_id, wanted)
    if before_id is not None:
        clause = and_(clause, topups.c.id < before_id)
    rows = await execute(
        conn,
        select(*_COLUMNS)
        .select_from(_WITH_CONTACT)
        .where(clause)
        .order_by(topups.c.id.desc())
        .limit(limit),
    )
    return [_to_topup(r) for r in rows]


async def select_topups_page(
    conn: AsyncConnection, org_id: int, wanted: TopupFilter, offset: int, limit: int
) -> list[StoredTopup]:
    """Newest first, classic paging."""
    rows = await execute(
        conn,
        select(*_COLUMNS)
        .select_from(_WITH_CONTACT)
        .where(_filter_clause(org_id, wanted))
        .order_by(topups.c.id.desc())
        .offset(offset)
        .limit(limit),
    )
    return [_to_topup(r) for r in rows]


async def count_open_topups(conn: AsyncConnection, now: datetime) -> dict[str, int]:
    """Top-ups waiting for an attempt or its outcome, by state (see db/claims.py)."""
    return await count_queued_rows(conn, _DUE_TOPUPS, now=now)
