"""Takes the SMSC's deliver_sm: folds multipart receipts, joins inbound parts, answers later.

deliver_sm receipts and inbound messages are answered only after poll_events has recorded
them, so a crash before that makes the SMSC deliver them again. A receipt whose hand-off is
not recorded yet is recorded all the same (kept as an early receipt, applied when the
hand-off's record lands) and acknowledged at once.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass, field

from tambuli.channels.base import ChannelEvents, InboundSms, Receipt, ReceiptStatus
from tambuli.channels.config.specs import SmppChannelConfig
from tambuli.channels.multipart import InboundAssembler
from tambuli.channels.sms.smpp.fields import ESM_CLASS_UDHI
from tambuli.channels.sms.smpp.pdus import ESME_ROK, ESME_RX_T_APPN, RESPONSE_BIT, Delivery
from tambuli.channels.sms.smpp.receipts import (
    concat_from_sar,
    decode_short_message,
    is_receipt_type,
    read_receipt,
    split_user_data_header,
)
from tambuli.channels.sms.smpp.session import SmppSession
from tambuli.clock import Clock

# How many multipart messages' part IDs are remembered to fold their receipts into one.
PART_MEMORY = 100_000
# (sender, recipient, reference): the parts of one inbound message share it.
AssemblyKey = tuple[str, str, int]


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


class SmppInbox:
    """What the SMSC delivered, held unanswered until poll_events has recorded it."""

    def __init__(self, name: str, config: SmppChannelConfig, clock: Clock) -> None:
        self._name = name
        self._config = config
        self._clock = clock
        # Set when something waits to be recorded, so the events loop need not poll.
        self.events_waiting = asyncio.Event()
        self._receipts: list[tuple[Receipt, _Held]] = []
        self._inbound: list[tuple[InboundSms, _Held]] = []
        self._assembler: InboundAssembler[AssemblyKey, str] = InboundAssembler("".join)
        self._parts: OrderedDict[str, _PartTally] = OrderedDict()

    def remember_parts(self, ids: list[str]) -> None:
        """Note the part IDs of one multipart message, so their receipts fold into one."""
        tally = _PartTally(ids[0], len(ids))
        for part_id in ids:
            self._parts[part_id] = tally
        while len(self._parts) > PART_MEMORY:
            self._parts.popitem(last=False)

    def refuse_unrecorded(self) -> None:
        """Answer every held deliver_sm with a temporary error and forget them."""
        for held in [h for _, h in self._receipts] + [h for _, h in self._inbound]:
            # Not recorded: the SMSC must deliver them again after we reconnect.
            answer_held(held, ESME_RX_T_APPN)
        self._receipts.clear()
        self._inbound.clear()

    def take_delivery(self, session: SmppSession, delivery: Delivery) -> None:
        """Take one deliver_sm from a session: a receipt or (a part of) an inbound message."""
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
            self._config.receipt_id_format,
            self._config.submit_id_format,
        )
        if parsed is None or not parsed.is_final:
            # Intermediate states and unreadable receipts change nothing: acknowledge them.
            answer_held(held, ESME_ROK)
            return
        receipt = Receipt(
            channel=self._name,
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
            channel=self._name,
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
            partial = InboundSms(self._name, source, destination, text, self._clock.now())
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
