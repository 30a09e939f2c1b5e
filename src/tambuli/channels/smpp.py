"""The SMPP 3.4 channel: binds to an SMSC, submits parts through a window, paced by parts/s.

- **Binds**: one transceiver, or a transmitter and a receiver; each reconnects with
  exponential backoff and unbinds cleanly on close.
- **Sending**: every part of every message is a job with an order number. A pump writes
  jobs in order while the window (N submit_sm in flight), the pacing and any throttling
  pause allow. It runs when parts are queued, when a pacing or pause timer fires, and right
  after the answers read from the socket free the window, in the same step and with one
  write, so the window refills without waiting for other tasks of a busy process.
- **Pacing**: parts go 1/rate apart (a late pump may catch up on PACING_CATCH_UP of lost
  time), and never more than floor(rate) of them within any PACING_SPAN seconds of sending,
  so no catching up can squeeze an extra part into some second the SMSC counts.
- **Throttling**: ESME_RTHROTTLED and ESME_RMSGQFUL pause the whole bind and put the part back
  at its place in the order, ahead of every later part.
- **What comes back**: deliver_sm receipts and inbound messages are answered only after
  poll_events has recorded them, so a crash before that makes the SMSC deliver them again.
  A receipt whose hand-off is not recorded yet is recorded all the same (kept as an early
  receipt, applied when the hand-off's record lands) and acknowledged at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tambuli.channels.base import (
    STANDARD_PART_HEADER_OCTETS,
    ChannelEvents,
    ChannelHealth,
    HandOff,
    InboundSms,
    LinkState,
    OutboundSms,
    Outcome,
    Receipt,
    ReceiptStatus,
)
from tambuli.channels.config import BindMode, SmppChannelConfig
from tambuli.channels.routing import describe_sender
from tambuli.channels.smpp_fields import (
    ESM_CLASS_UDHI,
    UDH_OCTETS,
    StatusKind,
    SubmitPart,
    build_submit_parts,
    classify_command_status,
)
from tambuli.channels.smpp_pdus import (
    ESME_ROK,
    ESME_RX_T_APPN,
    RESPONSE_BIT,
    Address,
    Command,
    Delivery,
    Frame,
    encode_submit,
    read_c_string,
)
from tambuli.channels.smpp_receipts import (
    InboundAssembler,
    concat_from_sar,
    decode_short_message,
    is_receipt_type,
    normalise_message_id,
    read_receipt,
    split_user_data_header,
)
from tambuli.channels.smpp_session import (
    AnswerHandler,
    BindRefused,
    SessionClosed,
    SessionSettings,
    SmppSession,
)
from tambuli.clock import Clock

log = logging.getLogger("tambuli.channels.smpp")
# The first pause after a throttling answer; it doubles while the SMSC keeps throttling.
THROTTLE_PAUSE_SECONDS = 0.5
THROTTLE_PAUSE_MAX_SECONDS = 8.0
# How many multipart messages' part IDs are remembered to fold their receipts into one.
PART_MEMORY = 100_000
NOT_BOUND_ERROR = "not bound to the SMSC"
# The window the sliding limit is kept over: a hair longer than a second, because the SMSC
# sees each part a little after we write it and the delay varies.
PACING_SPAN_SECONDS = 1.01
# How far behind the clock the pacing slot may fall and be caught up on: a pump that runs a
# few milliseconds late may send the parts due meanwhile at once (the span still holds).
PACING_CATCH_UP_SECONDS = 0.05
WRITE_BACKED_UP_WAIT_SECONDS = 0.005


# What the SMSC made of one part: the outcome, and its message ID or the error.
PartAnswer = asyncio.Future[tuple[Outcome, str]]


@dataclass(order=True)
class _Job:
    """One part waiting to be submitted; ordered by when it was queued."""

    order: int
    build: Callable[[int], bytes] = field(compare=False)
    answer: PartAnswer = field(compare=False)
    # The response timeout of its latest write.
    timer: asyncio.TimerHandle | None = field(default=None, compare=False)


@dataclass
class _Held:
    """A deliver_sm recorded by poll_events before it is answered."""

    # None for what needs no answer (a partial inbound message flushed on expiry).
    session: SmppSession | None
    command: int
    sequence: int


@dataclass
class _PartTally:
    """Receipts of a multipart message, folded into one."""

    first_id: str
    parts: int
    confirmed: set[str] = field(default_factory=set)


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
        # Set when something waits to be recorded, so the events loop need not poll.
        self.events_waiting = asyncio.Event()
        self._clock = clock
        self._monotonic = monotonic
        self._settings = SessionSettings(
            system_id=config.system_id,
            password=config.password.reveal(),
            system_type=config.system_type,
            address_range=config.address_range,
            response_timeout=config.response_timeout_seconds,
            enquire_link_interval=config.enquire_link_seconds,
        )
        self._sender: SmppSession | None = None
        self._receiver: SmppSession | None = None
        self._jobs: list[_Job] = []
        self._pump_handle: asyncio.Handle | None = None
        self._order = itertools.count()
        self._reference = 0
        self._next_slot = 0.0
        # When the last floor(rate) parts were written: the next waits until the oldest is
        # PACING_SPAN old.
        self._recent_sends: deque[float] = deque(maxlen=max(1, int(config.parts_per_second)))
        self._paused_until = 0.0
        self._pause = THROTTLE_PAUSE_SECONDS
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._state = LinkState.CONNECTING
        self._receipts: list[tuple[Receipt, _Held]] = []
        self._inbound: list[tuple[InboundSms, _Held]] = []
        self._assembler = InboundAssembler()
        self._parts: OrderedDict[str, _PartTally] = OrderedDict()
        self._in_flight = 0
        self._parts_sent = 0
        self._parts_refused = 0
        self._throttled = 0
        self._reconnects = 0
        self._last_error = ""

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
        if self._pump_handle is not None:
            self._pump_handle.cancel()
            self._pump_handle = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self._fail_queued(NOT_BOUND_ERROR)
        for held in [h for _, h in self._receipts] + [h for _, h in self._inbound]:
            # Not recorded: the SMSC must deliver them again after we reconnect.
            answer_held(held, ESME_RX_T_APPN)
        self._receipts.clear()
        self._inbound.clear()
        sessions = {id(s): s for s in (self._sender, self._receiver) if s is not None}
        for session in sessions.values():
            await session.unbind()
        self._sender = self._receiver = None
        self._state = LinkState.STOPPED

    @property
    def is_bound(self) -> bool:
        """Whether parts can be submitted now."""
        return self._sender is not None and not self._sender.closed.is_set()

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
            in_flight=self._in_flight,
            parts_sent=self._parts_sent,
            parts_refused=self._parts_refused,
            throttled=self._throttled,
            reconnects=self._reconnects,
            last_error=self._last_error,
        )

    async def _keep_bound(self, command: Command, sends: bool, receives: bool) -> None:
        delay = self.config.reconnect_min_seconds
        while not self._stop.is_set():
            try:
                session = await SmppSession.open(
                    self.config.host, self.config.port, command, self._settings, self._take_delivery
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
                self._sender = session
                session.after_read = self._pump
                self._schedule_pump()
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
                self._fail_queued(NOT_BOUND_ERROR)
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
            self._remember_parts(ids)
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

        answer: PartAnswer = asyncio.get_running_loop().create_future()
        heapq.heappush(self._jobs, _Job(next(self._order), build, answer))
        self._schedule_pump()
        return answer

    def _fail_queued(self, error: str) -> None:
        while self._jobs:
            job = heapq.heappop(self._jobs)
            if not job.answer.done():
                job.answer.set_result((Outcome.TRANSIENT, error))

    def _schedule_pump(self, delay: float = 0.0) -> None:
        """Run the pump soon (once, however many parts were queued meanwhile)."""
        if self._pump_handle is not None or self._stop.is_set():
            return
        loop = asyncio.get_running_loop()
        if delay > 0:
            self._pump_handle = loop.call_later(delay, self._pump)
        else:
            self._pump_handle = loop.call_soon(self._pump)

    def _pump(self) -> None:
        """Write the parts the window, the pacing and any pause allow now, in one write."""
        if self._pump_handle is not None:
            self._pump_handle.cancel()
            self._pump_handle = None
        if not self._jobs or self._stop.is_set():
            return
        session = self._sender
        if session is None or session.closed.is_set():
            self._fail_queued(NOT_BOUND_ERROR)
            return
        now = self._monotonic()
        if self._paused_until > now:
            self._schedule_pump(self._paused_until - now)
            return
        if session.is_writing_backed_up:
            # The socket takes bytes slower than we make them: look again shortly.
            self._schedule_pump(WRITE_BACKED_UP_WAIT_SECONDS)
            return
        taken: list[_Job] = []
        while self._jobs and self._in_flight + len(taken) < self.config.window:
            slot = self._find_slot(now)
            if slot > now:
                self._schedule_pump(slot - now)
                break
            self._take_slot(slot, now)
            taken.append(heapq.heappop(self._jobs))
        if not taken:
            return
        self._in_flight += len(taken)
        sequences = session.send_each([(job.build, self._answer_handler(job)) for job in taken])
        loop = asyncio.get_running_loop()
        timeout = self.config.response_timeout_seconds
        for job, sequence in zip(taken, sequences, strict=False):
            job.timer = loop.call_later(timeout, self._give_up, job, session, sequence)

    def _find_slot(self, now: float) -> float:
        """When the next part may be written: 1/rate after the last, within the span's limit."""
        slot = max(now - PACING_CATCH_UP_SECONDS, self._next_slot)
        recent = self._recent_sends
        if len(recent) == recent.maxlen:
            slot = max(slot, recent[0] + PACING_SPAN_SECONDS)
        return slot

    def _take_slot(self, slot: float, now: float) -> None:
        self._next_slot = slot + 1.0 / self.parts_per_second
        self._recent_sends.append(now)

    def _answer_handler(self, job: _Job) -> AnswerHandler:
        def take_answer(answer: Frame | SessionClosed) -> None:
            if job.timer is not None:
                job.timer.cancel()
            self._in_flight -= 1
            self._settle_job(job, answer)
            if self._jobs:
                self._schedule_pump()

        return take_answer

    def _give_up(self, job: _Job, session: SmppSession, sequence: int) -> None:
        """No answer in time: the part fails as transient (a retry may duplicate it)."""
        session.forget(sequence)
        self._in_flight -= 1
        self._settle_job(job, TimeoutError())
        self._schedule_pump()

    def _settle_job(self, job: _Job, answer: Frame | SessionClosed | TimeoutError) -> None:
        if job.answer.done():
            return
        if isinstance(answer, TimeoutError):
            self._parts_refused += 1
            seconds = self.config.response_timeout_seconds
            job.answer.set_result((Outcome.TRANSIENT, f"no answer from the SMSC in {seconds:g} s"))
            return
        if isinstance(answer, SessionClosed):
            self._parts_refused += 1
            job.answer.set_result((Outcome.TRANSIENT, f"connection lost: {answer}"))
            return
        status = classify_command_status(answer.status)
        if status.kind == StatusKind.OK:
            self._parts_sent += 1
            self._pause = THROTTLE_PAUSE_SECONDS
            message_id = normalise_message_id(
                read_c_string(answer.body), self.config.submit_id_format
            )
            job.answer.set_result((Outcome.ACCEPTED, message_id))
        elif status.kind == StatusKind.THROTTLED:
            self._throttled += 1
            self._paused_until = max(self._paused_until, self._monotonic() + self._pause)
            self._pause = min(self._pause * 2, THROTTLE_PAUSE_MAX_SECONDS)
            # Back at its place in the order: ahead of every part queued after it.
            heapq.heappush(self._jobs, job)
            self._schedule_pump()
        else:
            self._parts_refused += 1
            self._last_error = status.error
            job.answer.set_result((status.outcome, status.error))

    def _remember_parts(self, ids: list[str]) -> None:
        tally = _PartTally(ids[0], len(ids))
        for part_id in ids:
            self._parts[part_id] = tally
        while len(self._parts) > PART_MEMORY:
            self._parts.popitem(last=False)

    # -- what the SMSC sends -----------------------------------------------------------------

    def _take_delivery(self, session: SmppSession, delivery: Delivery) -> None:
        held = _Held(session, delivery.command, delivery.sequence)
        if is_receipt_type(delivery.esm_class):
            self._take_receipt(delivery, held)
        else:
            self._take_inbound(delivery, held)

    def _take_receipt(self, delivery: Delivery, held: _Held) -> None:
        parsed = read_receipt(
            delivery.esm_class,
            delivery.short_message,
            delivery.tlvs,
            self.config.receipt_id_format,
            self.config.submit_id_format,
        )
        if parsed is None or not parsed.is_final:
            # Intermediate states and unreadable receipts change nothing: acknowledge them.
            answer_held(held, ESME_ROK)
            return
        receipt = Receipt(
            channel=self.name,
            operator_message_id=parsed.operator_message_id,
            status=parsed.status,
            delivery_error=parsed.delivery_error,
            delivered_parts=1,
            at=self._clock.now(),
        )
        folded = self._fold_part_receipt(receipt)
        if folded is None:
            # A part of a multipart message whose other parts are not all delivered yet.
            answer_held(held, ESME_ROK)
            return
        self._receipts.append((folded, held))
        self.events_waiting.set()

    def _fold_part_receipt(self, receipt: Receipt) -> Receipt | None:
        """A multipart message's receipt once it is decided: all parts delivered, or one failed."""
        tally = self._parts.get(receipt.operator_message_id)
        if tally is None:
            return receipt
        if receipt.status == ReceiptStatus.CONFIRMED:
            tally.confirmed.add(receipt.operator_message_id)
            if len(tally.confirmed) < tally.parts:
                return None
        return Receipt(
            channel=receipt.channel,
            operator_message_id=tally.first_id,
            status=receipt.status,
            delivery_error=receipt.delivery_error,
            delivered_parts=len(tally.confirmed),
            at=receipt.at,
        )

    def _take_inbound(self, delivery: Delivery, held: _Held) -> None:
        payload = delivery.short_message
        concat = None
        if delivery.esm_class & ESM_CLASS_UDHI:
            concat, payload = split_user_data_header(payload)
        else:
            concat = concat_from_sar(delivery.tlvs)
        text = decode_short_message(delivery.data_coding, payload)
        now = self._clock.now()
        if concat is not None:
            key = (delivery.source, delivery.destination, concat.reference)
            whole = self._assembler.add(key, concat.total, concat.seq, text, now)
            if whole is None:
                # A part of a longer message: kept in memory until the rest arrives.
                answer_held(held, ESME_ROK)
                return
            text = whole
        sms = InboundSms(
            channel=self.name,
            sender=delivery.source,
            recipient=delivery.destination,
            body=text,
            at=now,
        )
        self._inbound.append((sms, held))
        self.events_waiting.set()

    async def poll_events(self, events: ChannelEvents) -> int:
        """Record what the SMSC delivered, then answer its deliver_sm."""
        self.events_waiting.clear()
        done = 0
        expired = self._assembler.expire(self._clock.now())
        for (source, destination, _), text in expired:
            # Parts whose siblings never came: stored as they are rather than lost.
            partial = InboundSms(self.name, source, destination, text, self._clock.now())
            self._inbound.append((partial, _Held(None, 0, 0)))
        if self._inbound:
            inbound, self._inbound = self._inbound, []
            try:
                await events.record_inbound([sms for sms, _ in inbound])
            except Exception:
                for _, held in inbound:
                    answer_held(held, ESME_RX_T_APPN)
                raise
            for _, held in inbound:
                answer_held(held, ESME_ROK)
            done += len(inbound)
        done += await self._record_receipts(events)
        return done

    async def _record_receipts(self, events: ChannelEvents) -> int:
        if not self._receipts:
            return 0
        # Receipts keep arriving while the record awaits the database; they join the list
        # anew and must still be there afterwards.
        due, self._receipts = self._receipts, []
        try:
            await events.record_receipts([r for r, _ in due])
        except Exception:
            for _, held in due:
                answer_held(held, ESME_RX_T_APPN)
            raise
        for _, held in due:
            answer_held(held, ESME_ROK)
        return len(due)


def answer_held(held: _Held, status: int) -> None:
    """Answer a held deliver_sm (message_id is empty, as SMPP 3.4 requires)."""
    if held.session is not None:
        held.session.answer(held.command | RESPONSE_BIT, held.sequence, status, b"\0")
