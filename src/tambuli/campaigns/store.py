"""SQL for campaigns and their runs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.campaigns.models import (
    ACTIVE_STATUSES,
    Campaign,
    CampaignKind,
    CampaignSpec,
    CampaignState,
    RunStatus,
    parse_rules,
)
from tambuli.campaigns.run_changes import (
    AwaitReply,
    Ended,
    FireAt,
    NextStep,
    Paused,
    RunChange,
)
from tambuli.db.claims import DueRows, any_due_row, claim_due_rows
from tambuli.db.schema import campaign_runs, campaigns
from tambuli.db.statements import execute, execute_many


@dataclass(frozen=True)
class Run:
    """A stored run (one subscription of a contact to a campaign)."""

    id: int
    org_id: int
    campaign_id: int
    contact_id: int
    status: RunStatus
    time_zone: str
    time_zone_given: bool
    args: dict[str, Any]
    started_at: datetime
    anchor_at: datetime | None
    step_index: int
    step_due_at: datetime | None
    next_fire_at: datetime | None
    attempts: int
    awaiting_reply: bool
    invalid_replies: int
    steps_sent: int
    with_failures: bool
    last_error: str
    last_message_id: int | None
    created_at: datetime
    ended_at: datetime | None

    @property
    def is_active(self) -> bool:
        """Still has steps to come (possibly paused with its campaign)."""
        return self.status.value in ACTIVE_STATUSES

    @property
    def zone(self) -> ZoneInfo:
        """The run's zone: the subscription's timeZone, else the contact's number's."""
        return ZoneInfo(self.time_zone)

    @property
    def override(self) -> ZoneInfo | None:
        """The subscription's timeZone, which sets drip and reminder step times; else None."""
        return ZoneInfo(self.time_zone) if self.time_zone_given else None


@dataclass(frozen=True)
class NewRun:
    """A run being created by a subscription."""

    org_id: int
    campaign_id: int
    contact_id: int
    time_zone: str
    time_zone_given: bool
    args: dict[str, Any]
    started_at: datetime
    anchor_at: datetime | None
    # None when no step is left to fire (a reminder whose date is too close): the run is done.
    step_index: int
    step_due_at: datetime | None
    created_at: datetime


def to_campaign(row: Any) -> Campaign:
    """A campaign from its row; the stored definition was checked when it was written."""
    kind = CampaignKind(row.kind)
    definition = json.loads(row.definition)
    return Campaign(
        id=int(row.id),
        org_id=int(row.org_id),
        name=row.name,
        kind=kind,
        state=CampaignState(row.state),
        open_for_subscriptions=bool(row.open_for_subscriptions),
        rules=parse_rules(kind, definition),
        definition=definition,
        created_at=row.created_at,
        updated_at=row.updated_at,
        launched_at=row.launched_at,
        stopped_at=row.stopped_at,
    )


def to_run(row: Any) -> Run:
    """A run from its row."""
    return Run(
        id=int(row.id),
        org_id=int(row.org_id),
        campaign_id=int(row.campaign_id),
        contact_id=int(row.contact_id),
        status=RunStatus(row.status),
        time_zone=row.time_zone,
        time_zone_given=bool(row.time_zone_given),
        args=json.loads(row.args),
        started_at=row.started_at,
        anchor_at=row.anchor_at,
        step_index=int(row.step_index),
        step_due_at=row.step_due_at,
        next_fire_at=row.next_fire_at,
        attempts=int(row.attempts),
        awaiting_reply=bool(row.awaiting_reply),
        invalid_replies=int(row.invalid_replies),
        steps_sent=int(row.steps_sent),
        with_failures=bool(row.with_failures),
        last_error=row.last_error,
        last_message_id=None if row.last_message_id is None else int(row.last_message_id),
        created_at=row.created_at,
        ended_at=row.ended_at,
    )


async def insert_campaign(
    conn: AsyncConnection, org_id: int, spec: CampaignSpec, now: datetime
) -> int:
    """Store a new draft campaign; returns its ID."""
    result = await execute(
        conn,
        insert(campaigns)
        .values(
            org_id=org_id,
            name=spec.name,
            kind=spec.kind.value,
            state=CampaignState.DRAFT.value,
            open_for_subscriptions=spec.open_for_subscriptions,
            definition=json.dumps(spec.definition, ensure_ascii=False),
            created_at=now,
            updated_at=now,
        )
        .returning(campaigns.c.id),
    )
    return int(result.scalar_one())


async def select_campaign(
    conn: AsyncConnection, org_id: int, campaign_id: int, *, for_update: bool = False
) -> Campaign | None:
    """One campaign of the organization, or None."""
    query = select(campaigns).where(campaigns.c.org_id == org_id, campaigns.c.id == campaign_id)
    if for_update:
        query = query.with_for_update()
    row = (await execute(conn, query)).one_or_none()
    return None if row is None else to_campaign(row)


async def select_campaigns_by_ids(
    conn: AsyncConnection, campaign_ids: Sequence[int]
) -> dict[int, Campaign]:
    """Campaigns by ID, of any organization."""
    if not campaign_ids:
        return {}
    rows = await execute(conn, select(campaigns).where(campaigns.c.id.in_(sorted(campaign_ids))))
    return {int(row.id): to_campaign(row) for row in rows}


async def select_campaigns(conn: AsyncConnection, org_id: int) -> list[Campaign]:
    """The organization's campaigns, oldest first."""
    rows = await execute(
        conn, select(campaigns).where(campaigns.c.org_id == org_id).order_by(campaigns.c.id)
    )
    return [to_campaign(row) for row in rows]


async def update_campaign_spec(
    conn: AsyncConnection, campaign_id: int, spec: CampaignSpec, now: datetime
) -> None:
    """Store a campaign's new name, kind, subscription switch and definition."""
    await execute(
        conn,
        update(campaigns)
        .where(campaigns.c.id == campaign_id)
        .values(
            name=spec.name,
            kind=spec.kind.value,
            open_for_subscriptions=spec.open_for_subscriptions,
            definition=json.dumps(spec.definition, ensure_ascii=False),
            updated_at=now,
        ),
    )


async def set_campaign_state(
    conn: AsyncConnection, campaign_id: int, state: CampaignState, now: datetime
) -> None:
    """Launch or stop a campaign: its state, and the moment it was launched or stopped."""
    moment = "launched_at" if state is CampaignState.LAUNCHED else "stopped_at"
    await execute(
        conn,
        update(campaigns)
        .where(campaigns.c.id == campaign_id)
        .values({"state": state.value, moment: now, "updated_at": now}),
    )


async def set_run_statuses(
    conn: AsyncConnection, campaign_id: int, old: RunStatus, new: RunStatus
) -> int:
    """Move every run of the campaign in status `old` to `new` (pausing or resuming)."""
    result = await execute(
        conn,
        update(campaign_runs)
        .where(campaign_runs.c.campaign_id == campaign_id, campaign_runs.c.status == old.value)
        .values(status=new.value),
    )
    return int(result.rowcount)


def _run_row(new: NewRun) -> dict[str, Any]:
    done = new.step_due_at is None
    return {
        "org_id": new.org_id,
        "campaign_id": new.campaign_id,
        "contact_id": new.contact_id,
        "active_contact_id": None if done else new.contact_id,
        "status": (RunStatus.DONE if done else RunStatus.ACTIVE).value,
        "time_zone": new.time_zone,
        "time_zone_given": new.time_zone_given,
        "args": json.dumps(new.args, ensure_ascii=False),
        "started_at": new.started_at,
        "anchor_at": new.anchor_at,
        "step_index": new.step_index,
        "step_due_at": new.step_due_at,
        "next_fire_at": new.step_due_at,
        "created_at": new.created_at,
        "ended_at": new.created_at if done else None,
    }


async def insert_runs(conn: AsyncConnection, runs: Sequence[NewRun]) -> list[int]:
    """Store new runs in one statement; their IDs in order."""
    if not runs:
        return []
    # In contact order, so two batches sharing contacts wait on each other's unique-index
    # entries in the same order and never deadlock.
    order = sorted(range(len(runs)), key=lambda i: runs[i].contact_id)
    result = await execute_many(
        conn,
        insert(campaign_runs).returning(campaign_runs.c.id, sort_by_parameter_order=True),
        [_run_row(runs[i]) for i in order],
    )
    ids = [0] * len(runs)
    for index, row in zip(order, result, strict=True):
        ids[index] = int(row.id)
    return ids


async def select_runs_of_contacts(
    conn: AsyncConnection,
    org_id: int,
    campaign_id: int,
    contact_ids: Sequence[int],
    *,
    for_update: bool = False,
) -> list[Run]:
    """Every run of these contacts in the campaign, in ID order."""
    if not contact_ids:
        return []
    query = (
        select(campaign_runs)
        .where(
            campaign_runs.c.org_id == org_id,
            campaign_runs.c.campaign_id == campaign_id,
            campaign_runs.c.contact_id.in_(sorted(set(contact_ids))),
        )
        .order_by(campaign_runs.c.id)
    )
    if for_update:
        query = query.with_for_update()
    return [to_run(row) for row in await execute(conn, query)]


async def select_run(
    conn: AsyncConnection, campaign_id: int, run_id: int, *, for_update: bool = False
) -> Run | None:
    """One run of the campaign, or None."""
    query = select(campaign_runs).where(
        campaign_runs.c.campaign_id == campaign_id, campaign_runs.c.id == run_id
    )
    if for_update:
        query = query.with_for_update()
    row = (await execute(conn, query)).one_or_none()
    return None if row is None else to_run(row)


async def select_runs_page(
    conn: AsyncConnection, campaign_id: int, after_id: int, limit: int, status: str | None
) -> list[Run]:
    """Runs of a campaign with IDs above after_id, in ID order."""
    query = select(campaign_runs).where(
        campaign_runs.c.campaign_id == campaign_id, campaign_runs.c.id > after_id
    )
    if status is not None:
        query = query.where(campaign_runs.c.status == status)
    rows = await execute(conn, query.order_by(campaign_runs.c.id).limit(limit))
    return [to_run(row) for row in rows]


async def select_active_runs_of_phone(
    conn: AsyncConnection, org_id: int, contact_ids: Sequence[int]
) -> list[Run]:
    """Active or paused runs of these contacts, newest first, locked for the caller."""
    if not contact_ids:
        return []
    rows = await execute(
        conn,
        select(campaign_runs)
        .where(
            campaign_runs.c.org_id == org_id,
            campaign_runs.c.contact_id.in_(sorted(set(contact_ids))),
            campaign_runs.c.status.in_(ACTIVE_STATUSES),
        )
        .order_by(campaign_runs.c.id.desc())
        .with_for_update(),
    )
    return [to_run(row) for row in rows]


async def select_runs_awaiting_reply(conn: AsyncConnection, run_ids: Sequence[int]) -> set[int]:
    """Which of these runs are active or paused and wait for the answer to a question."""
    if not run_ids:
        return set()
    rows = await execute(
        conn,
        select(campaign_runs.c.id).where(
            campaign_runs.c.id.in_(sorted(set(run_ids))),
            campaign_runs.c.status.in_(ACTIVE_STATUSES),
            campaign_runs.c.awaiting_reply.is_(True),
        ),
    )
    return {int(run_id) for run_id in rows.scalars()}


_DUE_RUNS = DueRows(
    campaign_runs,
    campaign_runs.c.next_fire_at,
    where=(campaign_runs.c.status == RunStatus.ACTIVE.value,),
    returning=tuple(campaign_runs.c),
)


async def any_due_run(conn: AsyncConnection, now: datetime) -> bool:
    """Whether some active run is due: a cheap read before taking the write lock."""
    return await any_due_row(conn, _DUE_RUNS, now=now)


async def claim_due_runs(
    conn: AsyncConnection, now: datetime, lease_until: datetime, limit: int, skip_locked: bool
) -> list[Run]:
    """Take up to `limit` active runs whose next step (or poll timeout) is due."""
    rows = await claim_due_rows(
        conn, _DUE_RUNS, now=now, lease_until=lease_until, limit=limit, skip_locked=skip_locked
    )
    return [to_run(row) for row in rows]


async def update_runs(conn: AsyncConnection, changes: Sequence[RunChange]) -> None:
    """Store what was decided for each run."""
    by_shape: dict[tuple[str, ...], list[dict[str, object]]] = {}
    for change in changes:
        row = _run_values(change)
        by_shape.setdefault(tuple(sorted(row)), []).append(row)
    for shape, rows in by_shape.items():
        columns = [c for c in shape if c != "run_id"]
        statement = (
            update(campaign_runs)
            .where(campaign_runs.c.id == bindparam("run_id"))
            .values({c: bindparam("v_" + c) for c in columns})
        )
        await execute_many(
            conn,
            statement,
            [{"run_id": r["run_id"], **{"v_" + c: r[c] for c in columns}} for r in rows],
        )


# RunChange fields stored as they are, in the columns of the same names.
_PLAIN_CHANGES = (
    "attempts",
    "last_error",
    "with_failures",
    "steps_sent",
    "last_message_id",
    "invalid_replies",
)


def _run_values(change: RunChange) -> dict[str, object]:
    """The run's ID and its new column values."""
    values: dict[str, object] = {"run_id": change.run_id}
    move = change.move
    if isinstance(move, NextStep):
        values["step_index"] = move.index
        values["step_due_at"] = move.due_at
        values["next_fire_at"] = move.due_at
        values["awaiting_reply"] = False
        values["invalid_replies"] = 0
    elif isinstance(move, AwaitReply):
        values["step_due_at"] = move.sent_at
        values["next_fire_at"] = move.timeout_at
        values["awaiting_reply"] = True
        values["invalid_replies"] = 0
    elif isinstance(move, FireAt):
        values["next_fire_at"] = move.at
    elif isinstance(move, Paused):
        values["status"] = RunStatus.PAUSED.value
    elif isinstance(move, Ended):
        values["status"] = move.status.value
        values["active_contact_id"] = None
        values["next_fire_at"] = None
        values["awaiting_reply"] = False
        values["ended_at"] = move.at
        if move.step_index is not None:
            values["step_index"] = move.step_index
    for name in _PLAIN_CHANGES:
        value = getattr(change, name)
        if value is not None:
            values[name] = value
    return values


async def count_campaign_runs(conn: AsyncConnection, campaign_id: int) -> dict[str, int]:
    """Runs of a campaign per status."""
    rows = await execute(
        conn,
        select(campaign_runs.c.status, func.count())
        .where(campaign_runs.c.campaign_id == campaign_id)
        .group_by(campaign_runs.c.status),
    )
    return {str(status): int(count) for status, count in rows}


def select_subscribed_contact_ids(campaign_id: int, mode: str) -> tuple[Any, Any]:
    """Subqueries (contact IDs to include, to exclude) for a contact list's subscription
    filter: "is" (an active run now), "isnot" (no active run) or "was" (runs, none active)."""
    runs = select(campaign_runs.c.contact_id).where(campaign_runs.c.campaign_id == campaign_id)
    active = runs.where(campaign_runs.c.status.in_(ACTIVE_STATUSES))
    if mode == "is":
        return active, None
    if mode == "isnot":
        return None, active
    return runs, active
