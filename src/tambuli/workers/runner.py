"""The background loops of a process: dispatch SMS, collect channel events, deliver pushes,
fire campaign steps and handle the replies campaigns wait for.

Each loop claims due rows, acts and records the outcome, then looks again at once while there
is work, or waits for a wake-up or its poll interval when there is none. Stopping lets the step
in progress finish, so nothing claimed is left half-recorded by a clean shutdown (and a killed
process's claims simply expire). A loop that raises, and the start-up that builds and opens the
channels, are restarted after a pause (restarts.py); their health tells the API whether this
process can deliver.

Wake-ups come from the API in the same process, from the other loops (a receipt queues a
push), and from other processes (db/work_notices.py): LISTEN/NOTIFY on PostgreSQL, a cheap
look at SQLite's commit counter every poll interval. A process that hears of new work this way
looks by itself only as a safety net, at the idle interval (rows due later: retries, delays);
one that cannot (an in-memory database, or while the listening connection is down) looks at
the short poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial

from tambuli.campaigns.firing import fire_due_steps
from tambuli.campaigns.replies import find_runs_awaiting_reply_within, handle_replies
from tambuli.channels.base import Channel, ChannelHealth
from tambuli.channels.config.file import build_default_config
from tambuli.channels.config.registry import ChannelRegistry
from tambuli.channels.config.routing import RouteTable
from tambuli.channels.config.specs import ChannelConfig
from tambuli.channels.whatsapp.base import WhatsAppChannel
from tambuli.channels.whatsapp.simulator import WhatsAppSimulator
from tambuli.clock import Clock
from tambuli.db.engine import Database
from tambuli.db.work_notices import WorkKind, listen_for_work, watch_sqlite_commits
from tambuli.errors import ServiceUnavailable
from tambuli.messaging import channel_status
from tambuli.messaging.delivery import Dispatcher
from tambuli.messaging.receipts import MessageEvents, sweep_early_receipts
from tambuli.outbound_http import OutboundHttp
from tambuli.services import Services
from tambuli.settings import Settings
from tambuli.topups.attempts import carry_out_due_topups
from tambuli.webhooks.service import build_push_delivery, deliver_due_pushes
from tambuli.whatsapp.access_tokens import AccessTokens
from tambuli.whatsapp.delivery import WhatsAppDispatcher
from tambuli.whatsapp.inbound import WhatsAppEventLog
from tambuli.whatsapp.statuses import sweep_early_statuses
from tambuli.workers.loops import (
    poll_channel,
    poll_whatsapp_channel,
    run_loop,
    wait_any,
    waking,
)
from tambuli.workers.restarts import LoopHealth, run_restarting
from tambuli.workers.sms_channels import DISPATCH_LOOPS, build_channels, build_delivery_rules
from tambuli.workers.whatsapp_channels import build_whatsapp_channels

log = logging.getLogger("tambuli.workers")
TOPUP_GATHER_SECONDS = 0.05
# After a batch that was not full, the dispatcher waits this long before claiming again. Under a
# steady flow it would otherwise claim a handful at a time, each claim and record paying fixed
# costs that starve the API and receipts of the same process; an idle queue is woken at once.
DISPATCH_GATHER_SECONDS = 0.02
# How often kept early receipts are looked at: the Dispatcher applies nearly all of them as it
# records their hand-offs; the sweep catches the few whose record it raced on PostgreSQL.
EARLY_RECEIPT_SWEEP_SECONDS = 5.0
# The name under which the start-up (building and opening the channels) counts its restarts.
START_UP = "start-up"


@dataclass
class Workers:
    """Every background loop of one process, on the process's services and wake-ups."""

    services: Services
    channel_config: ChannelConfig | None = None
    channels: list[Channel] = field(default_factory=list)
    # The WhatsApp channels, by the name business numbers give ("simulator", or a Cloud API
    # channel's name in the channel config file).
    whatsapp_channels: dict[str, WhatsAppChannel] = field(default_factory=dict)
    registry: ChannelRegistry = field(init=False)
    # How this process is named where it reports its channels' health to other processes.
    process_name: str = field(default_factory=channel_status.name_this_process)
    # How each loop (and the start-up) has fared, by name.
    loops: dict[str, LoopHealth] = field(default_factory=dict, init=False)
    # Whether the channels were built here (and so are built anew after a failed start-up).
    _built_channels: bool = field(default=False, init=False)
    _built_whatsapp: bool = field(default=False, init=False)
    # Whether other processes' work wakes the loops (LISTEN in place, SQLite commits watched).
    _told_of_work: bool = False
    # Where the variables business numbers name hold their Cloud API access tokens.
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    _tokens: AccessTokens = field(init=False)

    def __post_init__(self) -> None:
        # The numbers' token variables, learnt by the WhatsApp dispatcher, read by the channels.
        self._tokens = AccessTokens(self.environ)
        if self.channel_config is None:
            self.channel_config = build_default_config(self.settings.simulator_parts_per_second)

    @property
    def db(self) -> Database:
        """The process's database."""
        return self.services.db

    @property
    def clock(self) -> Clock:
        """The process's clock."""
        return self.services.clock

    @property
    def settings(self) -> Settings:
        """The process's settings."""
        return self.services.settings

    @property
    def loop_restarts(self) -> dict[str, int]:
        """How often each loop was restarted after a failure since the process started."""
        return {name: health.restarts for name, health in self.loops.items()}

    def read_loop_problems(self) -> list[str]:
        """Why this process cannot deliver now: loops that keep failing (empty: none)."""
        return [
            f"the {name} loop failed {health.failures_in_a_row} times in a row"
            for name, health in self.loops.items()
            if health.failing
        ]

    def read_channel_health(self) -> list[ChannelHealth]:
        """The state and counters of this process's channels (empty until they are built)."""
        return [channel.read_health() for channel in self.channels] + [
            channel.read_health() for channel in self.whatsapp_channels.values()
        ]

    def wake_delivery(self) -> None:
        """Look for due messages (SMS and WhatsApp) now rather than at the next poll."""
        self.services.signals.delivery.set()
        self.services.signals.whatsapp.set()

    def wake_campaigns(self) -> None:
        """Look for due campaign steps now (a subscription may start at once)."""
        self.services.signals.campaigns.set()

    def wake_topups(self) -> None:
        """Look for due top-ups now (an async request was just queued)."""
        self.services.signals.topups.set()

    def wake_events(self) -> None:
        """Look for due pushes and replies now (receipts, inbound SMS or results were recorded)."""
        self.services.signals.pushes.set()
        self.services.signals.replies.set()

    def wake_all(self) -> None:
        """Look everywhere now (work may have been committed while nobody could say so)."""
        signals = self.services.signals
        for wake in (signals.delivery, signals.whatsapp, signals.campaigns, signals.topups):
            wake.set()
        self.wake_events()

    def read_poll_seconds(self) -> float:
        """How long an idle loop waits for a wake-up before it looks again by itself."""
        if self._told_of_work:
            return self.settings.worker_idle_poll_seconds
        return self.settings.worker_poll_seconds

    def hear_notice(self, payload: str) -> None:
        """Wake the loops a NOTIFY from another process names."""
        wakes: dict[str, Callable[[], None]] = {
            WorkKind.DELIVERY: self.wake_delivery,
            WorkKind.CAMPAIGNS: self.wake_campaigns,
            WorkKind.TOPUPS: self.wake_topups,
            WorkKind.EVENTS: self.wake_events,
        }
        # A payload this version does not know (a newer process's) wakes every loop.
        wakes.get(payload, self.wake_all)()

    def _set_listening(self, listening: bool) -> None:
        if listening and not self._told_of_work:
            # Work committed while the LISTEN was not in place was announced to nobody.
            self.wake_all()
        self._told_of_work = listening

    async def _hear_of_work(self, stop: asyncio.Event) -> None:
        """Wake the loops when other processes queue work, until `stop` is set."""
        if not self.db.is_sqlite:
            await listen_for_work(
                self.settings.database_url, stop, self.hear_notice, self._set_listening
            )
            return
        if self.db.sqlite_path is None:
            return  # in memory: no other process can write to it
        self._told_of_work = True
        try:
            await watch_sqlite_commits(
                self.db.sqlite_path, stop, self.wake_all, self.settings.worker_poll_seconds
            )
        finally:
            self._told_of_work = False

    async def run(self, stop: asyncio.Event) -> None:
        """Run every loop until `stop` is set; a failed start-up is tried again."""
        health = self.loops.setdefault(START_UP, LoopHealth())
        await run_restarting(START_UP, lambda: self._start(stop, health), health, self.clock, stop)

    async def _start(self, stop: asyncio.Event, health: LoopHealth) -> None:
        async with OutboundHttp() as client:
            assert self.channel_config is not None
            if self._built_channels or not self.channels:
                self.channels = build_channels(
                    self.db, self.clock, self.settings, self.channel_config, client
                )
                self._built_channels = True
            if self._built_whatsapp or not self.whatsapp_channels:
                self.whatsapp_channels = build_whatsapp_channels(
                    self.db,
                    self.clock,
                    self.settings,
                    self.channel_config.whatsapp,
                    client,
                    self._tokens,
                )
                self._built_whatsapp = True
            self.registry = ChannelRegistry(self.channels, RouteTable(self.channel_config.routes))
            # Stopped with this start-up, so a restarted one never leaves a listener behind.
            hearing = asyncio.create_task(self._hear_of_work(stop))
            try:
                for channel in self.channels:
                    await channel.open()
                for whatsapp_channel in self.whatsapp_channels.values():
                    await whatsapp_channel.open()
                await self._run_loops(stop, client, health)
            finally:
                hearing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await hearing
                for channel in self.channels:
                    await channel.close()
                for whatsapp_channel in self.whatsapp_channels.values():
                    await whatsapp_channel.close()
                try:
                    await channel_status.forget_process(self.db, self.process_name)
                except ServiceUnavailable:  # the rows go stale; the cause is logged already
                    pass
                except Exception:  # the database may be what is failing; the rows go stale
                    log.exception("could not remove this process's channel status")

    async def _run_loops(
        self, stop: asyncio.Event, client: OutboundHttp, start_up: LoopHealth
    ) -> None:
        signals = self.services.signals
        dispatcher = Dispatcher(
            self.db,
            self.clock,
            self.registry.route,
            build_delivery_rules(self.settings, self.channels),
        )
        full_batch = dispatcher.rules.batch_size

        async def dispatch() -> int:
            claimed = await dispatcher.dispatch_once()
            if 0 < claimed < full_batch:
                await asyncio.sleep(DISPATCH_GATHER_SECONDS)
            return claimed

        events = MessageEvents(self.db, self.clock, find_runs_awaiting_reply_within)
        outbox = self.services.outbox
        skip_locked = not self.db.is_sqlite
        lease = self.settings.claim_lease_seconds
        limit = self.settings.campaign_batch_size

        async def fire_steps() -> int:
            fired = await fire_due_steps(
                outbox, limit=limit, lease_seconds=lease, skip_locked=skip_locked
            )
            if fired:
                self.wake_delivery()
            return fired

        async def answer_replies() -> int:
            handled = await handle_replies(outbox, limit=limit, skip_locked=skip_locked)
            if handled:
                self.wake_delivery()
            return handled

        desk = self.services.topups
        topup_batch = self.settings.topup_batch_size

        async def send_topups() -> int:
            sent = await carry_out_due_topups(desk, topup_batch, skip_locked)
            if 0 < sent < topup_batch:
                # Under a steady trickle each pass would take one or two top-ups and pay a claim
                # and a record commit for each; a moment's wait lets the next batch fill.
                await asyncio.sleep(TOPUP_GATHER_SECONDS)
            return sent

        whatsapp_channels = self.whatsapp_channels
        whatsapp = WhatsAppDispatcher(
            self.db, self.clock, whatsapp_channels, dispatcher.rules, tokens=self._tokens
        )
        whatsapp_events = WhatsAppEventLog(self.db, self.clock, self.settings.max_file_bytes)
        pushes = build_push_delivery(client, self.settings)
        # Hand-offs, receipts and top-up results queue pushes, inbound SMS queues replies.
        wake_pushes = partial(waking, wakes=(signals.pushes,))
        loops: list[tuple[str, Callable[[], Awaitable[int]], asyncio.Event | None]] = [
            *(
                (f"dispatch {i + 1}", wake_pushes(dispatch), signals.delivery)
                for i in range(DISPATCH_LOOPS)
            ),
            *(
                (
                    f"{c.name} events",
                    waking(poll_channel(c, events), wakes=(signals.pushes, signals.replies)),
                    c.events_waiting,
                )
                for c in self.channels
            ),
            ("whatsapp dispatch", wake_pushes(whatsapp.dispatch_once), signals.whatsapp),
            *(
                (
                    f"whatsapp {c.name} events",
                    waking(
                        poll_whatsapp_channel(c, whatsapp_events),
                        wakes=(signals.pushes, signals.replies),
                    ),
                    c.events_waiting,
                )
                for c in whatsapp_channels.values()
                if isinstance(c, WhatsAppSimulator)
            ),
            (
                "webhooks",
                lambda: deliver_due_pushes(self.db, self.clock, pushes),
                signals.pushes,
            ),
            ("campaign steps", fire_steps, signals.campaigns),
            ("campaign replies", answer_replies, signals.replies),
            ("top-ups", wake_pushes(send_topups), signals.topups),
        ]
        start_up.record_success()
        await asyncio.gather(
            self._report_health(stop),
            self._sweep_early_receipts(stop),
            *(self._supervise(name, step, wake, stop) for name, step, wake in loops),
        )

    async def _supervise(
        self,
        name: str,
        step: Callable[[], Awaitable[int]],
        wake: asyncio.Event | None,
        stop: asyncio.Event,
    ) -> None:
        health = self.loops.setdefault(name, LoopHealth())
        await run_restarting(
            name,
            lambda: run_loop(step, wake, stop, health, self.read_poll_seconds),
            health,
            self.clock,
            stop,
        )

    async def _report_health(self, stop: asyncio.Event) -> None:
        """Write the channels' health for other processes every few seconds."""
        started_at = self.clock.now()
        interval = channel_status.STATUS_WRITE_INTERVAL.total_seconds()
        while not stop.is_set():
            try:
                await channel_status.write_channel_health(
                    self.db,
                    self.clock.now(),
                    self.process_name,
                    started_at,
                    self.read_channel_health(),
                )
            except ServiceUnavailable:  # a known state (a full disk), logged where it began
                pass
            except Exception:  # a missed write only makes the rows look stale for a while
                log.exception("could not write the channels' status")
            await wait_any(stop, None, interval)

    async def _sweep_early_receipts(self, stop: asyncio.Event) -> None:
        """Apply kept receipts and WhatsApp statuses a hand-off's record missed, and prune old
        ones, now and then."""
        while not stop.is_set():
            try:
                swept = await sweep_early_receipts(self.db, self.clock)
                swept += await sweep_early_statuses(self.db, self.clock)
                if swept:
                    self.services.signals.pushes.set()
            except ServiceUnavailable:  # a known state (a full disk), logged where it began
                pass
            except Exception:  # the next sweep looks again; nothing is lost meanwhile
                log.exception("could not sweep the early receipts")
            await wait_any(stop, None, EARLY_RECEIPT_SWEEP_SECONDS)
