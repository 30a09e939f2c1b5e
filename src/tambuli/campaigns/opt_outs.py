"""Numbers that opted out of an organization's campaigns, and the keywords that do it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.campaigns.polls import normalise_reply
from tambuli.db.schema import opt_outs

# English, Filipino, Cebuano, Spanish, French, Portuguese and Indonesian words people send
# to stop (and restart) messages; an organization can replace either list.
DEFAULT_OPT_OUT_KEYWORDS = (
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "HINTO",
    "TIGIL",
    "UNDANG",
    "ALTO",
    "BAJA",
    "ARRET",
    "ARRÊT",
    "PARAR",
    "BERHENTI",
)
DEFAULT_OPT_IN_KEYWORDS = ("START", "UNSTOP", "SUBSCRIBE")


def parse_keywords(text: str, defaults: Sequence[str]) -> frozenset[str]:
    """Keywords from a comma-separated setting ("" means the defaults), normalised."""
    words = [w for w in (part.strip() for part in text.split(",")) if w] or list(defaults)
    return frozenset(normalise_reply(w) for w in words)


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
    await conn.execute(
        insert(opt_outs).values(org_id=org_id, phone=phone, keyword=keyword[:50], created_at=now)
    )


async def remove_opt_out(conn: AsyncConnection, org_id: int, phone: str) -> None:
    """Let a number receive campaign messages again."""
    await conn.execute(
        delete(opt_outs).where(opt_outs.c.org_id == org_id, opt_outs.c.phone == phone)
    )
