"""SQL for matching inbound SMS to conversations, and for the ones kept unmatched."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.channels.base import InboundSms
from tambuli.db.schema import messages, unmatched_inbound
from tambuli.db.statements import execute
from tambuli.messaging.models import Direction
from tambuli.messaging.views import UnmatchedInbound


def _to_the_number_from(handset: str, key: str) -> tuple[ColumnElement[bool], ...]:
    # The recipient leads (ix_messages_recipient_handed_at); the sender compares folded.
    return (
        messages.c.recipient == handset,
        messages.c.direction == Direction.EGRESS.value,
        func.lower(messages.c.sender) == key,
    )


async def select_orgs_messaged_since(
    conn: AsyncConnection, handset: str, key: str, since: datetime
) -> set[int]:
    """Organizations that queued a message from sender `key` to `handset` at or after `since`."""
    rows = await execute(
        conn,
        select(messages.c.org_id)
        .where(*_to_the_number_from(handset, key), messages.c.created_at >= since)
        .distinct(),
    )
    return {int(org_id) for org_id in rows.scalars()}


async def select_campaign_runs_messaged(
    conn: AsyncConnection, handset: str, key: str
) -> dict[int, int]:
    """The campaign runs (and their organizations) that sent from `key` to `handset`."""
    rows = await execute(
        conn,
        select(messages.c.campaign_run_id, messages.c.org_id)
        .where(*_to_the_number_from(handset, key), messages.c.campaign_run_id.is_not(None))
        .distinct(),
    )
    return {int(r.campaign_run_id): int(r.org_id) for r in rows}


async def insert_unmatched(conn: AsyncConnection, sms: InboundSms, candidates: set[int]) -> None:
    """Keep an inbound SMS for the operator."""
    await execute(
        conn,
        insert(unmatched_inbound).values(
            channel=sms.channel,
            sender=sms.sender[:50],
            recipient=sms.recipient[:50],
            body=sms.body,
            operator_message_id=sms.operator_event_id or None,
            candidates=",".join(str(o) for o in sorted(candidates)),
            received_at=sms.at,
        ),
    )


async def unmatched_exists(conn: AsyncConnection, channel: str, operator_event_id: str) -> bool:
    """Whether an unmatched inbound SMS with this operator ID is kept already."""
    row = (
        await execute(
            conn,
            select(unmatched_inbound.c.id)
            .where(
                unmatched_inbound.c.channel == channel,
                unmatched_inbound.c.operator_message_id == operator_event_id,
            )
            .limit(1),
        )
    ).first()
    return row is not None


async def select_unmatched(conn: AsyncConnection, limit: int) -> list[UnmatchedInbound]:
    """The newest unmatched inbound SMS first."""
    rows = await execute(
        conn, select(unmatched_inbound).order_by(unmatched_inbound.c.id.desc()).limit(limit)
    )
    return [
        UnmatchedInbound(
            id=int(r.id),
            channel=r.channel,
            sender=r.sender,
            recipient=r.recipient,
            body=r.body,
            candidates=tuple(int(o) for o in r.candidates.split(",") if o),
            received_at=r.received_at,
        )
        for r in rows
    ]
