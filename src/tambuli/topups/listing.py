"""Reading top-ups back: one by its ID, or newest first by cursor or by page."""

from __future__ import annotations

from dataclasses import dataclass

from tambuli.db.engine import Database
from tambuli.errors import InvalidField, TopupNotFound
from tambuli.topups import store
from tambuli.topups.models import StoredTopup, parse_topup_id
from tambuli.topups.store import TopupFilter as TopupFilter

MAX_CURSOR_LIMIT = 100
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class TopupPage:
    """Top-ups newest first, and the cursor of the next (older) page when there is one."""

    topups: list[StoredTopup]
    next_after: str | None


async def get_topup(db: Database, org_id: int, topup_id: str) -> StoredTopup:
    """One top-up of the organization by its ID; TopupNotFound otherwise."""
    wanted = topup_id.strip()
    key = parse_topup_id(wanted)
    if key is None or key.org_id != org_id:
        raise TopupNotFound()
    async with db.read() as conn:
        found = await store.select_topup(conn, org_id, key.row_id)
    # The timestamp is part of the ID: a guessed sequence with the wrong time finds nothing.
    if found is None or found.topup_id != wanted:
        raise TopupNotFound()
    return found


async def list_topups_after(
    db: Database, org_id: int, wanted: TopupFilter, after: str | None, limit: int
) -> TopupPage:
    """Up to `limit` top-ups older than the cursor `after` (a top-up ID), newest first."""
    if not 1 <= limit <= MAX_CURSOR_LIMIT:
        raise InvalidField(f"limit must be between 1 and {MAX_CURSOR_LIMIT}", {"field": "limit"})
    before_id = None
    if after:
        key = parse_topup_id(after.strip())
        if key is None or key.org_id != org_id:
            raise InvalidField("after is not a nextPage value of this list", {"field": "after"})
        before_id = key.row_id
    async with db.read() as conn:
        found = await store.select_topups_before(conn, org_id, wanted, before_id, limit + 1)
    has_more = len(found) > limit
    shown = found[:limit]
    return TopupPage(shown, shown[-1].topup_id if has_more and shown else None)


async def list_topups_page(
    db: Database, org_id: int, wanted: TopupFilter, page: int, size: int
) -> list[StoredTopup]:
    """Page `page` (from 1) of `size` top-ups, newest first."""
    if page < 1:
        raise InvalidField("page starts at 1", {"field": "page"})
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise InvalidField(f"size must be between 1 and {MAX_PAGE_SIZE}", {"field": "size"})
    if (page - 1) * size >= 2**62:
        raise InvalidField("page is too large", {"field": "page"})
    async with db.read() as conn:
        return await store.select_topups_page(conn, org_id, wanted, (page - 1) * size, size)
