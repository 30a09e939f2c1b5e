"""A world for campaign tests: the SMS world plus campaigns, subscriptions and the scheduler."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from tambuli.campaigns import service as campaigns
from tambuli.campaigns.firing import fire_due_steps
from tambuli.campaigns.replies import handle_replies
from tambuli.campaigns.subscription_intake import SubscriptionIntake, subscribe_contact
from tambuli.campaigns.subscriptions import Subscribed, SubscribeRequest
from tambuli.channels.base import InboundSms
from tambuli.contacts import phones
from tambuli.db.schema import campaign_runs, messages
from tambuli.organizations.profile import update_profile
from tests.services.sms_world import SmsWorld


@dataclass(frozen=True)
class SentText:
    """An outbound message as the campaign tests look at it."""

    recipient: str
    body: str
    created_at: datetime
    run_id: int | None


class CampaignWorld(SmsWorld):
    """SmsWorld with helpers to create campaigns, subscribe and run the scheduler."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.subscriptions = SubscriptionIntake(self.db, self.clock, self.outbox.default_sender_id)

    async def new_campaign_org(self, balance_micro: int = 10_000_000) -> int:
        """An organization with money and a default sender ID."""
        org = await self.new_org(balance_micro)
        await update_profile(self.db, org, default_sender_id="Tambuli")
        return org

    async def launched(self, org_id: int, definition: dict[str, Any]) -> int:
        """Create and launch a campaign; its ID."""
        campaign = await campaigns.create_campaign(self.db, self.clock, org_id, definition)
        await campaigns.launch_campaign(
            self.db, self.clock, org_id, campaign.id, server_sender=self.outbox.default_sender_id
        )
        return campaign.id

    async def subscribe(
        self, org_id: int, campaign_id: int, number: str, **extra: Any
    ) -> Subscribed:
        """Subscribe a number (creating its contact) to a campaign."""
        return await subscribe_contact(
            self.subscriptions,
            SubscribeRequest(
                org_id=org_id,
                campaign_id=campaign_id,
                contact_id=None,
                phone=phones.normalise_full_number(number),
                **extra,
            ),
        )

    async def fire(self) -> int:
        """Run the scheduler until nothing is due at the current fake time."""
        total = 0
        while True:
            fired = await fire_due_steps(
                self.outbox, limit=100, lease_seconds=60, skip_locked=not self.db.is_sqlite
            )
            if not fired:
                return total
            total += fired

    async def advance_to(self, moment: datetime) -> None:
        """Move the fake clock to `moment`, stopping at every due run to fire it on time."""
        while True:
            await self.fire()
            async with self.db.read() as conn:
                due = (
                    await conn.execute(
                        select(func.min(campaign_runs.c.next_fire_at)).where(
                            campaign_runs.c.status == "active"
                        )
                    )
                ).scalar_one()
            if due is None or due > moment:
                self.clock.set(moment)
                await self.fire()
                return
            self.clock.set(max(due, self.clock.now()))

    async def reply(self, number: str, body: str, to: str = "Tambuli") -> int:
        """An inbound SMS from `number`, stored and handled by the campaigns."""
        await self.events.record_inbound(
            [InboundSms(sender=number, recipient=to, body=body, at=self.clock.now(), channel="t")]
        )
        return await handle_replies(self.outbox, limit=100, skip_locked=not self.db.is_sqlite)

    async def sent(self, number: str | None = None) -> list[SentText]:
        """Outbound messages (to one number), oldest first."""
        query = select(
            messages.c.recipient, messages.c.body, messages.c.created_at, messages.c.campaign_run_id
        ).where(messages.c.direction == "egress")
        if number is not None:
            query = query.where(messages.c.recipient == number)
        async with self.db.read() as conn:
            rows = await conn.execute(query.order_by(messages.c.id))
            return [SentText(r[0], r[1], r[2], r[3]) for r in rows]

    async def run_row(self, run_id: int) -> Any:
        """The raw row of a run."""
        async with self.db.read() as conn:
            return (
                await conn.execute(select(campaign_runs).where(campaign_runs.c.id == run_id))
            ).one()
