"""A small world for WhatsApp service tests: a database of its own, a fake clock, the simulator.

A database of its own, as for SMS: a running `tambuli serve` delivers whatever is due in the
shared one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tambuli.billing import service as billing
from tambuli.channels.whatsapp.base import MediaKind
from tambuli.channels.whatsapp.simulator import WhatsAppSimulator
from tambuli.clock import FakeClock
from tambuli.contacts import phones
from tambuli.db.engine import Database
from tambuli.files import service as files
from tambuli.files.models import Upload
from tambuli.messaging.delivery import DeliveryRules
from tambuli.messaging.intake import SmsIntake
from tambuli.messaging.pricing import PriceBook
from tambuli.messaging.sending import Outbox
from tambuli.organizations import service as organizations
from tambuli.organizations.profile import ProfileCache
from tambuli.retries import RetryPolicy
from tambuli.whatsapp import listing, numbers
from tambuli.whatsapp.delivery import WhatsAppDispatcher
from tambuli.whatsapp.inbound import WhatsAppEventLog
from tambuli.whatsapp.intake import WhatsAppIntake
from tambuli.whatsapp.sending import WhatsAppRequest, send_whatsapp
from tambuli.whatsapp.simulator_journal import DatabaseOwedEvents
from tambuli.whatsapp.views import StoredWhatsApp

PRICE = 10_000
STATUS_DELAY = timedelta(seconds=1)
# A JPEG's first bytes: enough for the Files store to know it as one.
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


@dataclass
class WhatsAppWorld:
    """One database, one clock, the WhatsApp simulator and a dispatcher over them."""

    db: Database
    clock: FakeClock

    def __post_init__(self) -> None:
        self.outbox = Outbox(
            self.db,
            self.clock,
            PriceBook(self.db, cache_seconds=0),
            ProfileCache(self.db, cache_seconds=0),
            SmsIntake(self.db, self.clock),
        )
        self.intake = WhatsAppIntake(self.db, self.clock)
        self.simulator = WhatsAppSimulator(DatabaseOwedEvents(self.db), self.clock, STATUS_DELAY)
        self.dispatcher = WhatsAppDispatcher(
            self.db,
            self.clock,
            {"simulator": self.simulator},
            DeliveryRules(
                retry=RetryPolicy(base=timedelta(seconds=10), maximum=timedelta(minutes=15))
            ),
            random_unit=lambda: 0.5,
        )
        self.events = WhatsAppEventLog(self.db, self.clock, 10_000_000)

    async def new_org(self, balance_micro: int = 1_000_000) -> tuple[int, str]:
        """An organization with money and a simulated business number; (its ID, the number)."""
        created = await organizations.create_organization(self.db, self.clock, "WhatsApp org")
        if balance_micro:
            await billing.credit_balance(self.db, self.clock, created.org_id, balance_micro, "t")
        number = f"1555{created.org_id:07d}"
        await numbers.add_number(self.db, self.clock, created.org_id, number, "pn-1", "")
        await numbers.add_template(
            self.db, self.clock, number, "order_ready", "en", "Hi {{1}}, order {{2}} is ready"
        )
        return created.org_id, number

    async def send(
        self,
        org_id: int,
        sender: str,
        to: str | None,
        text: str = "Hello",
        *,
        contact_id: int | None = None,
        media: dict[MediaKind, str] | None = None,
        content: object | None = None,
        **extra: Any,
    ) -> StoredWhatsApp:
        """Send through the service as the API would."""
        return await send_whatsapp(
            self.outbox,
            self.intake,
            WhatsAppRequest(
                org_id=org_id,
                sender=sender,
                text=text,
                contact_id=contact_id,
                phone=None if to is None else phones.normalise_full_number(to),
                media=media or {},
                content=content,
                **extra,
            ),
        )

    async def template(self, org_id: int, sender: str, to: str, **extra: Any) -> StoredWhatsApp:
        """A template message, which needs no open 24-hour window."""
        content = {"name": "order_ready", "language": "en", "parameters": ["Ana", "42"]}
        return await self.send(org_id, sender, to, "", content=content, **extra)

    async def upload(self, org_id: int, name: str, data: bytes) -> str:
        """Store a File; its filename."""
        report = await files.upload_files(
            self.db, self.clock, org_id, "media", [Upload(name, data)], max_file_bytes=200_000_000
        )
        return report.stored[0].filename

    async def message(self, sent: StoredWhatsApp) -> StoredWhatsApp:
        """The message as it is stored now."""
        return await listing.get_message(self.db, sent.org_id, sent.message_id)

    async def deliver(self) -> int:
        """Run the dispatcher once at the current fake time; how many it claimed."""
        return await self.dispatcher.dispatch_once()

    async def events_due(self) -> int:
        """Let the simulator report what is due at the current fake time."""
        return await self.simulator.poll_events(self.events)

    async def balance(self, org_id: int) -> int:
        """The organization's balance in micro-USD."""
        return (await billing.get_balance(self.db, org_id)).balance_micro
