"""The dashboard of one organization: balance, SMS traffic, running campaigns, channels."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from litestar import Request, Response, get
from litestar.params import FromPath

from tambuli.billing import service as billing
from tambuli.campaigns import service as campaigns
from tambuli.campaigns.models import ACTIVE_STATUSES, CampaignState
from tambuli.messaging import channel_status
from tambuli.messaging.traffic import DayTraffic, add_up, read_daily_traffic
from tambuli.organizations.models import Role
from tambuli.web.access import require_member
from tambuli.web.charts import Series, render_bar_chart
from tambuli.web.context import console_of
from tambuli.web.rendering import render_page

# The dashboard lists at most this many running campaigns (the newest).
MAX_CAMPAIGNS_SHOWN = 10


@dataclass(frozen=True)
class CampaignProgress:
    """A running campaign and how far its subscriptions got."""

    id: int
    name: str
    finished: int
    total: int

    @property
    def percent(self) -> int:
        """Finished subscriptions as a whole percentage."""
        return 0 if self.total == 0 else self.finished * 100 // self.total


@dataclass(frozen=True)
class ChannelState:
    """One channel as the dashboard shows it: its state only, never its traffic counters
    (those span every organization)."""

    name: str
    kind: str
    state: str
    stale: bool


async def _running_campaigns(console: Any, org_id: int) -> list[CampaignProgress]:
    launched = [
        c
        for c in await campaigns.list_campaigns(console.db, org_id)
        if c.state is CampaignState.LAUNCHED
    ][-MAX_CAMPAIGNS_SHOWN:]
    shown = []
    for campaign in reversed(launched):
        counts = await campaigns.count_runs(console.db, campaign.id)
        total = sum(counts.values())
        active = sum(counts.get(status, 0) for status in ACTIVE_STATUSES)
        shown.append(CampaignProgress(campaign.id, campaign.name, total - active, total))
    return shown


async def _channel_states(console: Any) -> list[ChannelState]:
    now = console.clock.now()
    live = console.read_channel_health
    states = {}
    if live is not None:
        for health in live():
            states[health.name] = ChannelState(health.name, health.kind, health.state.value, False)
    for reported in await channel_status.read_channel_health(console.db, now):
        name = reported.health.name
        known = states.get(name)
        if known is None or (known.stale and not reported.stale):
            states[name] = ChannelState(
                name, reported.health.kind, reported.health.state.value, reported.stale
            )
    return sorted(states.values(), key=lambda s: s.name)


def _traffic_chart(days: list[DayTraffic]) -> str:
    labels = [d.day.strftime("%d %b") for d in days]
    return render_bar_chart(
        "SMS per day over the last 30 days: sent, delivered, failed and inbound",
        labels,
        [
            Series("sent", "bar-sent", [d.sent for d in days]),
            Series("delivered", "bar-delivered", [d.delivered for d in days]),
            Series("failed", "bar-failed", [d.failed for d in days]),
            Series("inbound", "bar-inbound", [d.inbound for d in days]),
        ],
    )


def _totals_chart(periods: list[tuple[str, DayTraffic]]) -> str:
    return render_bar_chart(
        "SMS today, in the last 7 days and in the last 30 days",
        [name for name, _ in periods],
        [
            Series("sent", "bar-sent", [t.sent for _, t in periods]),
            Series("delivered", "bar-delivered", [t.delivered for _, t in periods]),
            Series("failed", "bar-failed", [t.failed for _, t in periods]),
            Series("inbound", "bar-inbound", [t.inbound for _, t in periods]),
        ],
        width=320,
    )


@get("/orgs/{org_id:int}/", include_in_schema=False)
async def dashboard(request: Request[Any, Any, Any], org_id: FromPath[int]) -> Response[Any]:
    """Balance, traffic, running campaigns and channels of the organization."""
    member = await require_member(request, org_id, Role.VIEWER)
    console = console_of(request)
    balance = await billing.get_balance(console.db, org_id)
    days = await read_daily_traffic(console.db, org_id, console.clock.now(), 30)
    today = days[-1].day
    periods = [
        ("Today", add_up(days, today)),
        ("Last 7 days", add_up(days, today - timedelta(days=6))),
        ("Last 30 days", add_up(days, days[0].day)),
    ]
    low = console.settings.low_balance_micro
    return await render_page(
        request,
        "dashboard.html",
        member=member,
        balance=balance,
        low_balance=low > 0 and balance.balance_micro < low,
        low_balance_micro=low,
        periods=periods,
        totals_chart=_totals_chart(periods),
        traffic_chart=_traffic_chart(days),
        running=await _running_campaigns(console, org_id),
        channels=await _channel_states(console),
    )
