"""A small world for SMS service tests: a database of its own, a fake clock, the simulator.

SMS tests use a database of their own because a running `tambuli serve` delivers whatever is
due in the shared one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from tambuli.billing import service as billing
from tambuli.campaigns.replies import find_runs_awaiting_reply_within
from tambuli.channels.base import ChannelEvents, ChannelHealth, HandOff, LinkState, OutboundSms
from tambuli.channels.config.registry import Routed
from tambuli.channels.sms.simulator import SimulatorChannel
from tambuli.clock import FakeClock
from tambuli.contacts import phones
from tambuli.db.engine import Database
from tambuli.messaging import listing
from tambuli.messaging.delivery import DeliveryRules, Dispatcher
from tambuli.messaging.intake import SmsIntake
from tambuli.messaging.pricing import PriceBook
from tambuli.messaging.receipts import MessageEvents
from tambuli.messaging.sending import Outbox, SendRequest, SentMessage, send_sms
from tambuli.messaging.simulator_journal import DatabaseJournal
from tambuli.messaging.views import StoredMessage
from tambuli.organizations import service as organizations
from tambuli.organizations.profile import ProfileCache
from tambuli.retries import RetryPolicy

PRICE = 20_000
RECEIPT_DELAY = timedelta(seconds=1)


@dataclass
class SmsWorld:
    """One database, one clock, the simulator channel and a dispatcher over them."""

    db: Database
    clock: FakeClock
    rules: DeliveryRules = field(
        default_factory=lambda: DeliveryRules(
            retry=RetryPolicy(base=timedelta(seconds=10), maximum=timedelta(minutes=15))
        )
    )

    def __post_init__(self) -> None:
        self.outbox = Outbox(
            self.db,
            self.clock,
            PriceBook(self.db, cache_seconds=0),
            ProfileCache(self.db, cache_seconds=0),
            SmsIntake(self.db, self.clock),
        )
        self.channel = SimulatorChannel(
            DatabaseJournal(self.db), self.clock, RECEIPT_DELAY, parts_per_second=0
        )
        self.dispatcher = Dispatcher(
            self.db,
            self.clock,
            lambda _, sender: Routed(self.channel, sender),
            self.rules,
            random_unit=lambda: 0.5,
        )
        self.events = MessageEvents(self.db, self.clock, find_runs_awaiting_reply_within)

    async def new_org(self, balance_micro: int = 1_000_000) -> int:
        """An organization with money; returns its ID."""
        created = await organizations.create_organization(self.db, self.clock, "SMS org")
        if balance_micro:
            await billing.credit_balance(self.db, self.clock, created.org_id, balance_micro, "t")
        return created.org_id

    async def send(
        self,
        org_id: int,
        number: str,
        text: str = "Hello",
        *,
        use_contacts: bool = False,
        contact_id: int | None = None,
        sender: str | None = "Tambuli",
        **extra: str,
    ) -> SentMessage:
        """Send through the service as the API would."""
        phone = None if contact_id is not None else phones.normalise_full_number(number)
        return await send_sms(
            self.outbox,
            SendRequest(
                org_id=org_id,
                text=text,
                sender=sender,
                contact_id=contact_id,
                phone=phone,
                use_contacts=use_contacts,
                **extra,
            ),
        )

    async def message(self, sent: SentMessage) -> StoredMessage:
        """The message as it is stored now."""
        return await listing.get_message(self.db, sent.message.org_id, sent.message.message_id)

    async def deliver(self, rounds: int = 1) -> int:
        """Run the dispatcher `rounds` times at the current fake time; total claimed."""
        total = 0
        for _ in range(rounds):
            total += await self.dispatcher.dispatch_once()
        return total

    async def receipts(self) -> int:
        """Let the simulator send what is due at the current fake time."""
        return await self.channel.poll_events(self.events)

    async def balance(self, org_id: int) -> int:
        """The organization's balance in micro-USD."""
        return (await billing.get_balance(self.db, org_id)).balance_micro


class WrappedSimulator:
    """The world's simulator channel behind a Channel of a test's own (which changes submit)."""

    def __init__(self, world: SmsWorld) -> None:
        self.world = world
        self.name = world.channel.name
        self.parts_per_second = 0.0
        self.paces_itself = False
        self.part_header_octets = world.channel.part_header_octets
        # Polled on the interval: the tests poll it themselves.
        self.events_waiting: asyncio.Event | None = None

    async def submit(self, batch: Sequence[OutboundSms]) -> list[HandOff]:
        return await self.world.channel.submit(batch)

    async def poll_events(self, events: ChannelEvents) -> int:
        return await self.world.channel.poll_events(events)

    async def open(self) -> None:
        await self.world.channel.open()

    async def close(self) -> None:
        await self.world.channel.close()

    def read_health(self) -> ChannelHealth:
        return self.world.channel.read_health()

    def read_state(self) -> LinkState:
        return self.world.channel.read_state()
