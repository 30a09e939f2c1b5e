"""Per-organization messaging settings: default sender ID, delivery window, webhooks.

An organization without a row has the defaults; a row is written the first time one changes.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, replace

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.coalescing import SharedLoads
from tambuli.db.engine import Database
from tambuli.db.schema import organization_settings, organizations
from tambuli.db.statements import execute
from tambuli.errors import InvalidInput, OrganizationNotFound
from tambuli.organizations.models import ClientPushEvents

DEFAULT_DELIVERY_WINDOW_SECONDS = 24 * 3600
# A year: retrying longer than that helps nobody and keeps timestamps far from overflow.
MAX_DELIVERY_WINDOW_SECONDS = 366 * 24 * 3600


@dataclass(frozen=True)
class OrgProfile:
    """What the messaging features need to know about an organization."""

    org_id: int
    default_sender_id: str = ""
    delivery_window_seconds: int = DEFAULT_DELIVERY_WINDOW_SECONDS
    webhook_secret: str = ""
    inbound_url: str = ""
    # Comma-separated campaign opt-out / opt-in keywords; "" means the built-in lists.
    opt_out_keywords: str = ""
    opt_in_keywords: str = ""
    # Where the final result of every top-up is pushed; "" means nowhere.
    topup_url: str = ""
    client_push_events: ClientPushEvents = ClientPushEvents.RECEIPTS


async def read_profile_within(conn: AsyncConnection, org_id: int) -> OrgProfile | None:
    """The organization's profile (defaults when never changed); None if it does not exist."""
    row = (
        await execute(
            conn,
            select(
                organizations.c.id,
                organization_settings.c.default_sender_id,
                organization_settings.c.delivery_window_seconds,
                organization_settings.c.webhook_secret,
                organization_settings.c.inbound_url,
                organization_settings.c.opt_out_keywords,
                organization_settings.c.opt_in_keywords,
                organization_settings.c.topup_url,
                organization_settings.c.client_push_events,
            )
            .select_from(organizations)
            .outerjoin(organization_settings, organization_settings.c.org_id == organizations.c.id)
            .where(organizations.c.id == org_id),
        )
    ).one_or_none()
    if row is None:
        return None
    if row.delivery_window_seconds is None:
        return OrgProfile(org_id=org_id)
    return OrgProfile(
        org_id=org_id,
        default_sender_id=row.default_sender_id,
        delivery_window_seconds=int(row.delivery_window_seconds),
        webhook_secret=row.webhook_secret,
        inbound_url=row.inbound_url,
        opt_out_keywords=row.opt_out_keywords,
        opt_in_keywords=row.opt_in_keywords,
        topup_url=row.topup_url,
        client_push_events=_read_push_events(row.client_push_events),
    )


def _read_push_events(stored: str) -> ClientPushEvents:
    # A value this version does not know falls back to what the spec describes.
    try:
        return ClientPushEvents(stored)
    except ValueError:
        return ClientPushEvents.RECEIPTS


async def read_client_push_events_within(
    conn: AsyncConnection, org_ids: Collection[int]
) -> dict[int, ClientPushEvents]:
    """Each organization's choice of clientPushURL events (the default when never set)."""
    if not org_ids:
        return {}
    rows = await execute(
        conn,
        select(organization_settings.c.org_id, organization_settings.c.client_push_events).where(
            organization_settings.c.org_id.in_(sorted(org_ids))
        ),
    )
    chosen = {int(r.org_id): _read_push_events(r.client_push_events) for r in rows}
    return {org_id: chosen.get(org_id, ClientPushEvents.RECEIPTS) for org_id in org_ids}


async def get_profile(db: Database, org_id: int) -> OrgProfile:
    """The organization's profile; OrganizationNotFound when it does not exist."""
    async with db.read() as conn:
        profile = await read_profile_within(conn, org_id)
    if profile is None:
        raise OrganizationNotFound(f"No organization with ID {org_id}")
    return profile


async def write_profile_within(conn: AsyncConnection, profile: OrgProfile) -> None:
    """Store a whole profile (insert or update)."""
    if not 60 <= profile.delivery_window_seconds <= MAX_DELIVERY_WINDOW_SECONDS:
        raise InvalidInput("The delivery window must be between one minute and a year")
    values = {
        "default_sender_id": profile.default_sender_id,
        "delivery_window_seconds": profile.delivery_window_seconds,
        "webhook_secret": profile.webhook_secret,
        "inbound_url": profile.inbound_url,
        "opt_out_keywords": profile.opt_out_keywords,
        "opt_in_keywords": profile.opt_in_keywords,
        "topup_url": profile.topup_url,
        "client_push_events": profile.client_push_events.value,
    }
    result = await execute(
        conn,
        update(organization_settings)
        .where(organization_settings.c.org_id == profile.org_id)
        .values(**values),
    )
    if int(result.rowcount) == 0:
        await execute(conn, insert(organization_settings).values(org_id=profile.org_id, **values))


async def update_profile(
    db: Database,
    org_id: int,
    *,
    default_sender_id: str | None = None,
    delivery_window_seconds: int | None = None,
    webhook_secret: str | None = None,
    inbound_url: str | None = None,
    opt_out_keywords: str | None = None,
    opt_in_keywords: str | None = None,
    topup_url: str | None = None,
    client_push_events: ClientPushEvents | None = None,
) -> OrgProfile:
    """Change some settings of an organization; returns the new profile."""
    async with db.write() as conn:
        current = await read_profile_within(conn, org_id)
        if current is None:
            raise OrganizationNotFound(f"No organization with ID {org_id}")
        changed = replace(
            current,
            default_sender_id=(
                current.default_sender_id if default_sender_id is None else default_sender_id
            ),
            delivery_window_seconds=(
                current.delivery_window_seconds
                if delivery_window_seconds is None
                else delivery_window_seconds
            ),
            webhook_secret=current.webhook_secret if webhook_secret is None else webhook_secret,
            inbound_url=current.inbound_url if inbound_url is None else inbound_url,
            opt_out_keywords=(
                current.opt_out_keywords if opt_out_keywords is None else opt_out_keywords
            ),
            opt_in_keywords=current.opt_in_keywords if opt_in_keywords is None else opt_in_keywords,
            topup_url=current.topup_url if topup_url is None else topup_url,
            client_push_events=(
                current.client_push_events if client_push_events is None else client_push_events
            ),
        )
        await write_profile_within(conn, changed)
    return changed


class ProfileCache:
    """Profiles re-read from the database at most every few seconds, for the hot send path.

    A changed default sender ID or delivery window reaches every process within that time.
    `get` reads on a connection of its own, so it is for callers outside a transaction; inside
    one, `get_within` reads on the caller's connection (a caller that holds a connection and
    waits for another can starve the pool: db/engine.py).
    """

    def __init__(self, db: Database, cache_seconds: float = 2.0) -> None:
        self._db = db
        self._cache_seconds = cache_seconds
        self._entries: dict[int, tuple[float, OrgProfile]] = {}
        self._loads: SharedLoads[int, OrgProfile] = SharedLoads()

    def _fresh(self, org_id: int) -> OrgProfile | None:
        entry = self._entries.get(org_id)
        if entry is not None and time.monotonic() - entry[0] < self._cache_seconds:
            return entry[1]
        return None

    async def get(self, org_id: int) -> OrgProfile:
        """The organization's profile; OrganizationNotFound when it does not exist."""
        # Refused even when fresh, so a caller inside a transaction fails at once.
        self._db.refuse_nested_wait()
        cached = self._fresh(org_id)
        if cached is not None:
            return cached
        return await self._loads.load(org_id, lambda: self._reload(org_id))

    async def get_within(self, conn: AsyncConnection, org_id: int) -> OrgProfile:
        """The same, reading a stale profile on the caller's connection."""
        cached = self._fresh(org_id)
        if cached is not None:
            return cached
        started = time.monotonic()
        profile = await read_profile_within(conn, org_id)
        if profile is None:
            raise OrganizationNotFound(f"No organization with ID {org_id}")
        self._remember(org_id, profile, started)
        return profile

    async def _reload(self, org_id: int) -> OrgProfile:
        started = time.monotonic()
        profile = await get_profile(self._db, org_id)
        self._remember(org_id, profile, started)
        return profile

    def _remember(self, org_id: int, profile: OrgProfile, started: float) -> None:
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[org_id] = (started, profile)
