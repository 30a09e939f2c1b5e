"""Use cases that select contacts by a conditions filter (docs/contacts.md)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.contacts import listing_store
from tambuli.contacts.conditions import (
    ConditionGroup,
    CustomFieldRef,
    custom_field_refs,
    unknown_custom_field,
    with_custom_field_ids,
)
from tambuli.contacts.groups import select_existing_field_ids, select_field_ids_by_names
from tambuli.contacts.models import ContactFilter, fold_name
from tambuli.db.engine import Database
from tambuli.errors import InvalidField

# The most IDs one call of find_contact_ids_matching returns.
MAX_MATCH_BATCH = 10_000


async def resolve_conditions_within(
    conn: AsyncConnection, org_id: int, group: ConditionGroup | None
) -> ConditionGroup | None:
    """The filter with every custom field named by its ID; InvalidConditions names one the
    organization does not have. Names match in any case, the oldest field of a name wins."""
    if group is None:
        return None
    named = list(custom_field_refs(group))
    if not named:
        return group
    given_ids = {ref.field_id for ref, _ in named if ref.field_id is not None}
    known = await select_existing_field_ids(conn, org_id, sorted(given_ids))
    keys = sorted({fold_name(ref.name) for ref, _ in named if ref.name is not None})
    by_name = await select_field_ids_by_names(conn, org_id, keys)
    ids: dict[CustomFieldRef, int] = {}
    for ref, at in named:
        if ref.field_id is not None and ref.field_id in known:
            ids[ref] = ref.field_id
        elif ref.name is not None and fold_name(ref.name) in by_name:
            ids[ref] = by_name[fold_name(ref.name)]
        else:
            raise unknown_custom_field(ref, at)
    return with_custom_field_ids(group, ids)


async def find_contact_ids_matching(
    db: Database,
    org_id: int,
    conditions: ConditionGroup | None,
    after_id: int = 0,
    limit: int = 1000,
) -> list[int]:
    """IDs above after_id of the organization's contacts matching the filter, oldest first.

    For walking every match in batches (bulk subscribe, the console's bulk actions): call again
    with the last ID returned until a batch comes back short. None matches every contact.
    """
    if not 0 < limit <= MAX_MATCH_BATCH:
        raise InvalidField(f"limit must be between 1 and {MAX_MATCH_BATCH}", {"field": "limit"})
    async with db.read() as conn:
        resolved = await resolve_conditions_within(conn, org_id, conditions)
        return await listing_store.select_matching_contact_ids(
            conn, org_id, ContactFilter(conditions=resolved), after_id, limit
        )
