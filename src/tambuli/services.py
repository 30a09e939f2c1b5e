"""The objects one process shares between its API, console and workers, built once at start-up.

One outbox (its price and profile caches, its batching intake), one top-up desk (its catalogue
cache, provider and sync attempts), one subscription intake, one WhatsApp intake and one group
commit per process: in `tambuli serve` the API and the workers use the same ones. The wake-ups
tell this process's workers of queued work at once and, when an announcer is given
(PostgreSQL), other processes'.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from tambuli.campaigns.subscription_intake import SubscriptionIntake
from tambuli.clock import Clock
from tambuli.db.engine import Database
from tambuli.db.group_commit import GroupCommit
from tambuli.db.work_notices import WorkKind
from tambuli.messaging.sending import Outbox, open_outbox
from tambuli.settings import Settings
from tambuli.topups.desk import TopupDesk
from tambuli.topups.providers import open_topup_desk
from tambuli.whatsapp.intake import WhatsAppIntake


@dataclass(frozen=True)
class WorkSignals:
    """This process's wake-ups: set where work is queued, waited on by its workers' loops."""

    delivery: asyncio.Event = field(default_factory=asyncio.Event)
    whatsapp: asyncio.Event = field(default_factory=asyncio.Event)
    campaigns: asyncio.Event = field(default_factory=asyncio.Event)
    topups: asyncio.Event = field(default_factory=asyncio.Event)
    pushes: asyncio.Event = field(default_factory=asyncio.Event)
    replies: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(frozen=True)
class Services:
    """What the API, the console and the workers of one process share."""

    db: Database
    clock: Clock
    settings: Settings
    outbox: Outbox
    topups: TopupDesk
    # Shares commits between concurrent single subscriptions.
    subscriptions: SubscriptionIntake
    # Shares commits between concurrent small writes (contact creates).
    commits: GroupCommit
    # Shares commits between concurrent WhatsApp sends.
    whatsapp_intake: WhatsAppIntake
    signals: WorkSignals
    # Tells other processes' workers of committed work (None: nobody else listens).
    announce: Callable[[WorkKind], None] | None = None

    def wake_delivery(self) -> None:
        """Messages were queued: look for due messages now rather than at the next poll."""
        self.signals.delivery.set()
        self._announce(WorkKind.DELIVERY)

    def wake_whatsapp(self) -> None:
        """WhatsApp messages were queued: look for due ones now."""
        self.signals.whatsapp.set()
        self._announce(WorkKind.DELIVERY)

    def wake_campaigns(self) -> None:
        """Runs were started or launched: look for due campaign steps now."""
        self.signals.campaigns.set()
        self._announce(WorkKind.CAMPAIGNS)

    def wake_topups(self) -> None:
        """Top-ups were queued: send them now."""
        self.signals.topups.set()
        self._announce(WorkKind.TOPUPS)

    def wake_events(self) -> None:
        """Receipts, inbound SMS or results were recorded: deliver their pushes and replies now."""
        self.signals.pushes.set()
        self.signals.replies.set()
        self._announce(WorkKind.EVENTS)

    def _announce(self, kind: WorkKind) -> None:
        if self.announce is not None:
            self.announce(kind)


def build_services(
    db: Database,
    clock: Clock,
    settings: Settings,
    announce: Callable[[WorkKind], None] | None = None,
) -> Services:
    """The shared objects of one process, on its database, clock and settings."""
    return Services(
        db=db,
        clock=clock,
        settings=settings,
        outbox=open_outbox(db, clock, settings.server_sender_id),
        topups=open_topup_desk(db, clock, settings),
        subscriptions=SubscriptionIntake(db, clock, settings.server_sender_id),
        commits=GroupCommit(db),
        whatsapp_intake=WhatsAppIntake(db, clock),
        signals=WorkSignals(),
        announce=announce,
    )
