"""Use cases on campaigns themselves: create, read, change, launch and stop."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tambuli.campaigns import store
from tambuli.campaigns.models import (
    Campaign,
    CampaignState,
    RunStatus,
    parse_campaign,
)
from tambuli.campaigns.readiness import (
    check_campaign_sendable_within,
    check_whatsapp_steps_within,
)
from tambuli.clock import Clock
from tambuli.db.engine import Database
from tambuli.errors import CampaignLocked, CampaignNotFound, InvalidField
from tambuli.organizations import service as organizations

# Changeable at any time; every other part of a definition only while it is a draft.
LIVE_FIELDS = frozenset({"name", "openForSubscriptions", "sendingWindow", "sender"})


async def create_campaign(db: Database, clock: Clock, org_id: int, raw: object) -> Campaign:
    """Store a new campaign as a draft; its WhatsApp steps are checked against the
    organization's business numbers, templates and Files (nothing is stored when one fails)."""
    spec = parse_campaign(raw)
    await organizations.get_organization(db, org_id)
    async with db.write() as conn:
        await check_whatsapp_steps_within(conn, org_id, spec.rules.steps)
        campaign_id = await store.insert_campaign(conn, org_id, spec, clock.now())
        campaign = await store.select_campaign(conn, org_id, campaign_id)
    assert campaign is not None
    return campaign


async def get_campaign(db: Database, org_id: int, campaign_id: int) -> Campaign:
    """One campaign; CampaignNotFound when the organization has no such campaign."""
    async with db.read() as conn:
        campaign = await store.select_campaign(conn, org_id, campaign_id)
    if campaign is None:
        raise CampaignNotFound()
    return campaign


async def list_campaigns(db: Database, org_id: int) -> list[Campaign]:
    """The organization's campaigns, oldest first."""
    await organizations.get_organization(db, org_id)
    async with db.read() as conn:
        return await store.select_campaigns(conn, org_id)


async def count_runs(db: Database, campaign_id: int) -> dict[str, int]:
    """How many runs the campaign has in each status."""
    async with db.read() as conn:
        return await store.count_campaign_runs(conn, campaign_id)


async def update_campaign(
    db: Database,
    clock: Clock,
    org_id: int,
    campaign_id: int,
    raw: object,
    *,
    server_sender: str = "",
) -> Campaign:
    """Change the given fields; kind and steps only while the campaign is a draft.

    A launched campaign's sender may not change to one it cannot send from (readiness.py),
    as it could not have been launched so; `server_sender` is the server's default sender ID.
    """
    if not isinstance(raw, Mapping):
        raise InvalidField("The body must be an object", {"field": "body"})
    async with db.write() as conn:
        campaign = await store.select_campaign(conn, org_id, campaign_id, for_update=True)
        if campaign is None:
            raise CampaignNotFound()
        locked = sorted(key for key in raw if key not in LIVE_FIELDS)
        if locked and campaign.state is not CampaignState.DRAFT:
            raise CampaignLocked(
                f"{locked[0]} can only change while the campaign is a draft",
                {"field": locked[0]},
            )
        merged: dict[str, Any] = {
            "name": campaign.name,
            "kind": campaign.kind.value,
            "openForSubscriptions": campaign.open_for_subscriptions,
            **campaign.definition,
        }
        for key, value in raw.items():
            if value is None and key in ("sendingWindow", "sender", "reminderDate"):
                merged.pop(key, None)
            else:
                merged[key] = value
        spec = parse_campaign(merged)
        if "steps" in raw:
            await check_whatsapp_steps_within(conn, org_id, spec.rules.steps)
        await store.update_campaign_spec(conn, campaign_id, spec, clock.now())
        changed = await store.select_campaign(conn, org_id, campaign_id)
        assert changed is not None
        if changed.state is CampaignState.LAUNCHED and "sender" in raw:
            await check_campaign_sendable_within(conn, changed, server_sender)
    return changed


async def launch_campaign(
    db: Database, clock: Clock, org_id: int, campaign_id: int, *, server_sender: str = ""
) -> Campaign:
    """Start (or resume) a campaign: its steps fire and it accepts subscriptions if open.

    Runs paused by a stop continue where they were; a step that came due meanwhile fires
    once, at the relaunch. A campaign that cannot send (readiness.py) is refused, naming why;
    `server_sender` is the server's default sender ID ("" for none).
    """
    return await _move_campaign(
        db, clock, org_id, campaign_id, CampaignState.LAUNCHED, server_sender
    )


async def stop_campaign(db: Database, clock: Clock, org_id: int, campaign_id: int) -> Campaign:
    """Halt a campaign: no step fires and no subscription is accepted until a relaunch."""
    return await _move_campaign(db, clock, org_id, campaign_id, CampaignState.STOPPED, "")


async def _move_campaign(
    db: Database,
    clock: Clock,
    org_id: int,
    campaign_id: int,
    wanted: CampaignState,
    server_sender: str,
) -> Campaign:
    """Launch or stop, pausing or resuming the runs in the same transaction; a repeat is a no-op."""
    now = clock.now()
    async with db.write() as conn:
        campaign = await store.select_campaign(conn, org_id, campaign_id, for_update=True)
        if campaign is None:
            raise CampaignNotFound()
        if wanted is CampaignState.STOPPED and campaign.state is CampaignState.DRAFT:
            raise CampaignLocked("A draft campaign was never launched, so it cannot stop")
        if campaign.state is not wanted:
            launching = wanted is CampaignState.LAUNCHED
            if launching:
                await check_campaign_sendable_within(conn, campaign, server_sender)
            await store.set_campaign_state(conn, campaign_id, wanted, now)
            old, new = RunStatus.ACTIVE, RunStatus.PAUSED
            if launching:
                old, new = new, old
            await store.set_run_statuses(conn, campaign_id, old, new)
        moved = await store.select_campaign(conn, org_id, campaign_id)
    assert moved is not None
    return moved
