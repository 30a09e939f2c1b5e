"""SQL for what campaigns keep of replies: poll answers and opted-out numbers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.campaigns.store import Run
from tambuli.db.schema import opt_outs, poll_answers


@dataclass(frozen=True)
class PollAnswer:
    """A valid answer to one poll question."""

    run_id: int
    contact_id: int
    step_index: int
    answer: str
    reply: str
    answered_at: datetime


async def insert_poll_answer(
    conn: AsyncConnection,
    run: Run,
    answer: str,
    reply: str,
    message_id: int | None,
    answered_at: datetime,
) -> None:
    """Store the answer to the run's current question."""
    await conn.execute(
        insert(poll_answers).values(
            org_id=run.org_id,
            campaign_id=run.campaign_id,
            run_id=run.id,
            contact_id=run.contact_id,
            step_index=run.step_index,
            answer=answer,
            reply=reply,
            message_id=message_id,
            answered_at=answered_at,
        )
    )


async def select_poll_answers(
    conn: AsyncConnection, campaign_id: int, run_id: int | None, after_id: int, limit: int
) -> list[tuple[int, PollAnswer]]:
    """Answers of a campaign (or one run), in ID order, with their IDs."""
    query = select(poll_answers).where(
        poll_answers.c.campaign_id == campaign_id, poll_answers.c.id > after_id
    )
    if run_id is not None:
        query = query.where(poll_answers.c.run_id == run_id)
    rows = await conn.execute(query.order_by(poll_answers.c.id).limit(limit))
    return [
        (
            int(r.id),
            PollAnswer(
                int(r.run_id),
                int(r.contact_id),
                int(r.step_index),
                r.answer,
                r.reply,
                r.answered_at,
            ),
        )
        for r in rows
    ]


async def select_opted_out(conn: AsyncConnection, org_id: int, phones: Sequence[str]) -> set[str]:
    """Which of these numbers opted out of the organization's campaigns."""
    if not phones:
        return set()
    rows = await conn.execute(
        select(opt_outs.c.phone).where(
            opt_outs.c.org_id == org_id, opt_outs.c.phone.in_(sorted(set(phones)))
        )
    )
    return {str(phone) for phone in rows.scalars()}


async def record_opt_out(
    conn: AsyncConnection, org_id: int, phone: str, keyword: str, now: datetime
) -> None:
    """Mark a number opted out (once; a repeat keeps the first record)."""
    if await select_opted_out(conn, org_id, [phone]):
        return
    try:
        async with conn.begin_nested():
            await conn.execute(
                insert(opt_outs).values(
                    org_id=org_id, phone=phone, keyword=keyword[:50], created_at=now
                )
            )
    except IntegrityError:
        # Another worker recorded the same number's opt-out a moment ago.
        pass


async def remove_opt_out(conn: AsyncConnection, org_id: int, phone: str) -> None:
    """Let a number receive campaign messages again."""
    await conn.execute(
        delete(opt_outs).where(opt_outs.c.org_id == org_id, opt_outs.c.phone == phone)
    )
