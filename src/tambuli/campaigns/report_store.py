"""SQL for the console's reads: a page of campaigns, how far a campaign's runs got and how
its poll was answered."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.campaigns.models import Campaign
from tambuli.campaigns.store import to_campaign
from tambuli.db.schema import campaign_runs, campaigns, poll_answers
from tambuli.db.statements import execute


async def select_campaign_page(
    conn: AsyncConnection, org_id: int, offset: int, limit: int
) -> tuple[int, list[Campaign]]:
    """(how many campaigns the organization has, `limit` of them from `offset`, newest first)."""
    total = (
        await execute(
            conn, select(func.count()).select_from(campaigns).where(campaigns.c.org_id == org_id)
        )
    ).scalar_one()
    rows = await execute(
        conn,
        select(campaigns)
        .where(campaigns.c.org_id == org_id)
        .order_by(campaigns.c.id.desc())
        .offset(offset)
        .limit(limit),
    )
    return int(total), [to_campaign(row) for row in rows]


async def count_runs_by_steps_sent(conn: AsyncConnection, campaign_id: int) -> dict[int, int]:
    """How many runs of the campaign sent exactly n steps, by n."""
    rows = await execute(
        conn,
        select(campaign_runs.c.steps_sent, func.count())
        .where(campaign_runs.c.campaign_id == campaign_id)
        .group_by(campaign_runs.c.steps_sent),
    )
    return {int(sent): int(n) for sent, n in rows}


async def count_poll_answers(conn: AsyncConnection, campaign_id: int) -> dict[tuple[int, str], int]:
    """How many runs gave each answer to each question, by (step index, answer)."""
    rows = await execute(
        conn,
        select(poll_answers.c.step_index, poll_answers.c.answer, func.count())
        .where(poll_answers.c.campaign_id == campaign_id)
        .group_by(poll_answers.c.step_index, poll_answers.c.answer),
    )
    return {(int(step), str(answer)): int(n) for step, answer, n in rows}
