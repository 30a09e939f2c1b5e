"""The SMPP 3.4 channel: keeps the binds up, cuts messages into parts, settles their hand-offs.

- **Binds**: one transceiver, or a transmitter and a receiver; each reconnects with
  exponential backoff and unbinds cleanly on close.
- **Sending**: every part of every message is queued on the pump (pump.py: window, pacing,
  throttling); a message's HandOff comes once all its parts are answered.
- **What comes back**: deliver_sm go to the inbox (inbox.py: receipt folding, inbound
  reassembly), which answers them once poll_events has recorded them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

from tambuli.channels.base import (
    STANDARD_PART_HEADER_OCTETS,
    ChannelEvents,
    ChannelHealth,
    HandOff,
    LinkState,
    OutboundSms,
    Outcome,
)
from tambuli.channels.config.routing import describe_sender
from tambuli.channels.config.specs import BindMode, SmppChannelConfig
from tambuli.channels.sms.smpp.fields import UDH_OCTETS, SubmitPart, build_submit_parts
from tambuli.channels.sms.smpp.inbox import SmppInbox
from tambuli.channels.sms.smpp.pdus import Address, Command, encode_submit
from tambuli.channels.sms.smpp.pump import NOT_BOUND_ERROR, PartAnswer, SubmitPump
from tambuli.channels.sms.smpp.session import (
    BindRefused,
    SessionClosed,
    SessionSettings,
    SmppSession,
)
from tambuli.clock import Clock

log = logging.getLogger("tambuli.channels.smpp")


class SmppChannel:
    """A Channel over SMPP 3.4 to one SMSC account."""

    paces_itself = True

    def __init__(
        self,
        config: SmppChannelConfig,
        clock: Clock,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = config.name
        self.parts_per_second = config.parts_per_second
        self.config = config
        # Parts are cut to leave room for their UDH. SAR carries none and could fill 160
        # septets or 70 units, but its parts are cut as for the standard header so that they
        # are the parts the message was counted and billed as.
        self.part_header_octets = UDH_OCTETS.get(config.concatenation, STANDARD_PART_HEADER_OCTETS)
        self._settings = SessionSettings(
            system_id=config.system_id,
            password=config.password.reveal(),
            system_type=config.system_type,
            address_range=config.address_range,
            response_timeout=config.response_timeout_seconds,
            enquire_link_interval=config.enquire_link_seconds,
        )
        self.pump = SubmitPump(config, monotonic, self._note_error)
        self.inbox = SmppInbox(config.name, config, clock)
        # Set when something waits to be recorded, so the events loop need not poll.
        self.events_waiting = self.inbox.events_waiting
        self._receiver: SmppSession | None = None
        self._reference = 0
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._state = LinkState.CONNECTING
        self._reconnects = 0
        self._last_error = ""

    def _note_error(self, error: str) -> None:
        self._last_error = error

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Start binding (in the background) and the sender."""
        if self._tasks:
            return
        if self.config.bind == BindMode.TRANSCEIVER:
            roles = [(Command.BIND_TRANSCEIVER, True, True)]
        else:
            roles = [(Command.BIND_TRANSMITTER, True, False), (Command.BIND_RECEIVER, False, True)]
        for command, sends, receives in roles:
            self._tasks.append(asyncio.create_task(self._keep_bound(command, sends, receives)))

    async def close(self) -> None:
        """Unbind every session and stop; queued parts fail as transient."""
        self._stop.set()
        self.pump.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self.pump.fail_queued(NOT_BOUND_ERROR)
        self.inbox.refuse_unrecorded()
        sessions = {id(s): s for s in (self.pump.session, self._receiver) if s is not None}
        for session in sessions.values():
            await session.unbind()
        self.pump.session = self._receiver = None
        self._state = LinkState.STOPPED

    @property
    def is_bound(self) -> bool:
        """Whether parts can be submitted now."""
        sender = self.pump.session
        return sender is not None and not sender.closed.is_set()

    def read_state(self) -> LinkState:
        """UP while bound."""
        return LinkState.UP if self.is_bound else self._state

    def read_health(self) -> ChannelHealth:
        """State, window use and counters of this channel."""
        return ChannelHealth(
            name=self.name,
            kind="smpp",
            state=self.read_state(),
            parts_per_second=self.parts_per_second,
            window=self.config.window,
            in_flight=self.pump.in_flight,
            parts_sent=self.pump.parts_sent,
            parts_refused=self.pump.parts_refused,
            throttled=self.pump.throttled,
            reconnects=self._reconnects,
            last_error=self._last_error,
        )

    async def _keep_bound(self, command: Command, sends: bool, receives: bool) -> None:
        delay = self.config.reconnect_min_seconds
        while not self._stop.is_set():
            try:
                session = await SmppSession.open(
                    self.config.host,
                    self.config.port,
                    command,
                    self._settings,
                    self.inbox.take_delivery,
                )
            except (OSError, TimeoutError, SessionClosed, BindRefused) as exc:
                self._last_error = f"bind failed: {exc}"
                self._state = LinkState.DOWN
                log.warning("%s: %s; retrying in %.1f s", self.name, self._last_error, delay)
                await self._wait_stop(delay)
                delay = min(delay * 2, self.config.reconnect_max_seconds)
                continue
            delay = self.config.reconnect_min_seconds
            log.info("%s: bound (%s)", self.name, session.label)
            if sends:
                self.pump.attach(session)
            if receives:
                self._receiver = session
            self._state = LinkState.UP
            await session.closed.wait()
            if self._stop.is_set():
                return
            self._reconnects += 1
            self._last_error = session.close_reason
            self._state = LinkState.CONNECTING
            log.warning("%s: session ended (%s); reconnecting", self.name, session.close_reason)
            if sends:
                self.pump.fail_queued(NOT_BOUND_ERROR)
            await self._wait_stop(self.config.reconnect_min_seconds)

    async def _wait_stop(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    # -- sending -----------------------------------------------------------------------------

    async def submit(self, messages: Sequence[OutboundSms]) -> list[HandOff]:
        """Submit every part of every message; one HandOff per message, in order."""
        if not self.is_bound:
            return [
                HandOff(m.message_id, Outcome.TRANSIENT, error=NOT_BOUND_ERROR) for m in messages
            ]
        # Every part is queued before the first await, and the answers are awaited together:
        # a task per message would cost more than the part's whole trip to the SMSC.
        queued = [self._queue_message(sms) for sms in messages]
        answers = [answer for waits in queued if not isinstance(waits, HandOff) for answer in waits]
        if answers:
            await asyncio.gather(*answers)
        return [
            waits if isinstance(waits, HandOff) else self._settle_message(sms, waits)
            for sms, waits in zip(messages, queued, strict=True)
        ]

    def _queue_message(self, sms: OutboundSms) -> list[PartAnswer] | HandOff:
        """Queue the parts of one message; a HandOff instead if it cannot be sent at all."""
        self._reference = (self._reference + 1) % 65536
        try:
            parts = build_submit_parts(
                sms.parts, sms.encoding, self.config.concatenation, self._reference
            )
        except ValueError as exc:
            return HandOff(sms.message_id, Outcome.PERMANENT, error=f"cannot encode: {exc}")
        source = self._find_source(sms)
        if source is None:
            return HandOff(sms.message_id, Outcome.PERMANENT, error="sender ID is malformed")
        destination = Address(sms.recipient, self.config.dest_ton, self.config.dest_npi)
        return [self._queue_part(part, source, destination) for part in parts]

    def _settle_message(self, sms: OutboundSms, answers: list[PartAnswer]) -> HandOff:
        """The HandOff of a message whose parts have all been answered."""
        results = [answer.result() for answer in answers]
        ids = [text for outcome, text in results if outcome == Outcome.ACCEPTED]
        first_outcome, first_text = results[0]
        if first_outcome != Outcome.ACCEPTED:
            # Nothing reached the handset if the first part did not; later parts alone are noise.
            return HandOff(sms.message_id, first_outcome, error=first_text)
        if len(answers) > 1:
            self.inbox.remember_parts(ids)
        return HandOff(
            sms.message_id, Outcome.ACCEPTED, operator_message_id=ids[0], accepted_parts=len(ids)
        )

    def _find_source(self, sms: OutboundSms) -> Address | None:
        described = describe_sender(sms.sender)
        if described is None:
            return None
        ton = sms.sender_ton if sms.sender_ton is not None else self.config.source_ton
        npi = sms.sender_npi if sms.sender_npi is not None else self.config.source_npi
        return Address(
            described.address,
            described.ton if ton is None else ton,
            described.npi if npi is None else npi,
        )

    def _queue_part(self, part: SubmitPart, source: Address, destination: Address) -> PartAnswer:
        registered = self.config.registered_delivery

        def build(sequence: int) -> bytes:
            return encode_submit(
                sequence, part, source, destination, registered_delivery=registered
            )

        return self.pump.queue(build)

    async def poll_events(self, events: ChannelEvents) -> int:
        """Record what the SMSC delivered, then answer its deliver_sm."""
        return await self.inbox.poll_events(events)
