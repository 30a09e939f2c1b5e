"""SQL for a campaign's report: how far its runs got and how its poll was answered."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.db.schema import campaign_runs, poll_answers


async def count_runs_by_steps_sent(conn: AsyncConnection, campaign_id: int) -> dict[int, int]:
    """How many runs of the campaign sent exactly n steps, by n."""
    rows = await conn.execute(
        select(campaign_runs.c.steps_sent, func.count())
        .where(campaign_runs.c.campaign_id == campaign_id)
        .group_by(campaign_runs.c.steps_sent)
    )
    return {int(sent): int(n) for sent, n in rows}


async def count_poll_answers(conn: AsyncConnection, campaign_id: int) -> dict[tuple[int, str], int]:
    """How many runs gave each answer to each question, by (step index, answer)."""
    rows = await conn.execute(
        select(poll_answers.c.step_index, poll_answers.c.answer, func.count())
        .where(poll_answers.c.campaign_id == campaign_id)
        .group_by(poll_answers.c.step_index, poll_answers.c.answer)
    )
    return {(int(step), str(answer)): int(n) for step, answer, n in rows}
