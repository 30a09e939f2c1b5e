"""The SMPP channel against an SMSC that is not ours (smpp.twisted3's server on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Iterator, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import pytest

from tambuli.channels.base import (
    InboundSms,
    LinkState,
    OutboundSms,
    Outcome,
    Receipt,
    ReceiptStatus,
)
from tambuli.channels.config.specs import BindMode, SmppChannelConfig
from tambuli.channels.secrets import Secret
from tambuli.channels.sms.smpp.channel import SmppChannel
from tambuli.channels.sms.smpp.fields import Concatenation
from tambuli.clock import SystemClock
from tambuli.messaging.segments import count_parts, segment_message
from tests.support.smsc import TestSmsc

T = TypeVar("T")


class RecordedEvents:
    """A ChannelEvents sink that keeps what it is given; IDs not in `known_ids` are reported
    unmatched (kept early, as the database sink keeps them)."""

    def __init__(self) -> None:
        self.receipts: list[Receipt] = []
        self.inbound: list[InboundSms] = []
        self.known_ids: set[str] | None = None

    async def record_receipts(self, receipts: Sequence[Receipt]) -> set[str]:
        self.receipts.extend(receipts)
        if self.known_ids is None:
            return set()
        return {r.operator_message_id for r in receipts} - self.known_ids

    async def record_inbound(self, messages: Sequence[InboundSms]) -> None:
        self.inbound.extend(messages)


@pytest.fixture
def smsc() -> Iterator[TestSmsc]:
    server = TestSmsc()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def make_config(smsc: TestSmsc, **changes: Any) -> SmppChannelConfig:
    config = SmppChannelConfig(
        name="smsc-test",
        host="127.0.0.1",
        port=smsc.port,
        system_id="tambuli",
        password=Secret("secret"),
        parts_per_second=1000,
        enquire_link_seconds=5,
        response_timeout_seconds=5,
        reconnect_min_seconds=0.1,
        reconnect_max_seconds=0.5,
    )
    return replace(config, **changes)


@pytest.fixture
async def channel(smsc: TestSmsc) -> AsyncIterator[SmppChannel]:
    opened = SmppChannel(make_config(smsc), SystemClock())
    await opened.open()
    await wait_until(lambda: opened.is_bound)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def udh16_channel(smsc: TestSmsc) -> AsyncIterator[SmppChannel]:
    opened = SmppChannel(make_config(smsc, concatenation=Concatenation.UDH16), SystemClock())
    await opened.open()
    await wait_until(lambda: opened.is_bound)
    try:
        yield opened
    finally:
        await opened.close()


async def wait_until(condition: Any, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def wait_until_taken(channel: SmppChannel, pending: asyncio.Future[Any]) -> None:
    """Wait until the channel has taken a deliver_sm: answered at once, or waiting to be polled."""
    await wait_until(lambda: pending.done() or channel.events_waiting.is_set())


class FakeMonotonic:
    """The channel's monotonic time (pacing, throttling pauses), moved only by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def drive(
    channel: SmppChannel, time: FakeMonotonic, work: Awaitable[T], step: float = 0.01
) -> T:
    """Await `work`, moving the channel's time on by `step` whenever nothing is in flight.

    Time stands still while a part travels, so what the SMSC notes at arrival is the time the
    part was written at, however slow the machine.
    """
    task = asyncio.ensure_future(work)
    while not task.done():
        await wait_until(lambda: task.done() or channel.read_health().in_flight == 0)
        time.now += step
        # What the pump's timer does when the time it waits for has come, at once.
        channel.pump.run()
        await asyncio.sleep(0)  # let the answers and the pump's follow-ups run
    return await task


def sms(
    message_id: int, body: str, recipient: str = "639171234567", header_octets: int = 6
) -> OutboundSms:
    # Cut as the Dispatcher cuts them: for the channel's concatenation header.
    segmented = segment_message(body, header_octets)
    return OutboundSms(
        message_id=message_id,
        sender="TAMBULI",
        recipient=recipient,
        body=body,
        parts=segmented.parts,
        encoding=segmented.encoding.value,
        attempt=1,
    )


def short_message(pdu: Any) -> bytes:
    return bytes(pdu.params["short_message"] or b"")


async def test_a_single_gsm_message_is_submitted_with_a_receipt_requested(
    smsc: TestSmsc, channel: SmppChannel
) -> None:
    [answer] = await channel.submit([sms(1, "Hello {world}")])

    assert answer.outcome == Outcome.ACCEPTED
    assert answer.operator_message_id.startswith("MID")
    assert answer.accepted_parts == 1
    [pdu] = smsc.submits
    # GSM-7 unpacked: braces are escape pairs.
    assert short_message(pdu) == b"Hello \x1b(world\x1b)"
    assert pdu.params["destination_addr"] == b"639171234567"
    assert pdu.params["source_addr"] == b"TAMBULI"
    assert str(pdu.params["source_addr_ton"]) == "AddrTon.ALPHANUMERIC"
    receipt = pdu.params["registered_delivery"].receipt
    assert receipt.name == "SMSC_DELIVERY_RECEIPT_REQUESTED"


async def test_a_long_ucs2_message_goes_as_parts_tied_by_an_8_bit_udh(
    smsc: TestSmsc, channel: SmppChannel
) -> None:
    body = "Kumusta 😀 " * 20  # UCS-2 and longer than one part
    message = sms(2, body)

    [answer] = await channel.submit([message])

    assert answer.outcome == Outcome.ACCEPTED
    assert answer.accepted_parts == len(message.parts) > 1
    payloads = [short_message(p) for p in smsc.submits]
    headers = [p[:6] for p in payloads]
    reference = headers[0][3]
    total = len(message.parts)
    assert headers == [bytes((5, 0, 3, reference, total, i + 1)) for i in range(total)]
    text = b"".join(p[6:] for p in payloads).decode("utf-16-be")
    assert text == body
    assert all(
        str(p.params["data_coding"].schemeData) == "DataCodingDefault.UCS2" for p in smsc.submits
    )


async def test_sar_concatenation_puts_the_parts_in_optional_parameters(smsc: TestSmsc) -> None:
    channel = SmppChannel(make_config(smsc, concatenation=Concatenation.SAR), SystemClock())
    await channel.open()
    try:
        await wait_until(lambda: channel.is_bound)
        message = sms(3, "x" * 300)
        [answer] = await channel.submit([message])
    finally:
        await channel.close()

    assert answer.outcome == Outcome.ACCEPTED
    seqnums = [p.params["sar_segment_seqnum"] for p in smsc.submits]
    assert seqnums == [1, 2]
    assert {p.params["sar_total_segments"] for p in smsc.submits} == {2}
    assert b"".join(short_message(p) for p in smsc.submits) == b"x" * 300


@pytest.mark.parametrize(
    ("concatenation", "octets"),
    [(Concatenation.UDH8, 6), (Concatenation.UDH16, 7), (Concatenation.SAR, 6)],
)
def test_parts_are_cut_for_the_header_the_concatenation_puts_in_them(
    smsc: TestSmsc, concatenation: Concatenation, octets: int
) -> None:
    channel = SmppChannel(make_config(smsc, concatenation=concatenation), SystemClock())
    assert channel.part_header_octets == octets


def send_receipt(smsc: TestSmsc, short_message: bytes, **tlvs: Any) -> asyncio.Future[Any]:
    """A receipt deliver_sm from the SMSC, sent in the background; its response when done."""
    return asyncio.ensure_future(
        smsc.deliver(
            source_addr=b"639171234567",
            destination_addr=b"TAMBULI",
            esm_class=0x04,
            short_message=short_message,
            **tlvs,
        )
    )


async def deliver_part_receipt(
    smsc: TestSmsc, channel: SmppChannel, part_id: str, events: RecordedEvents
) -> None:
    """Deliver one part's receipt and let the channel take it."""
    pending = send_receipt(smsc, f"id:{part_id} stat:DELIVRD err:000".encode())
    await wait_until_taken(channel, pending)
    await channel.poll_events(events)
    await asyncio.wait_for(pending, 10)


async def submit_udh16(channel: SmppChannel, smsc: TestSmsc, message: OutboundSms) -> list[bytes]:
    """Submit a 3-part message; check each part's 16-bit UDH and return what follows it."""
    [answer] = await channel.submit([message])

    assert answer.outcome == Outcome.ACCEPTED
    total = len(message.parts)
    assert answer.accepted_parts == total == 3
    payloads = [short_message(p) for p in smsc.submits]
    headers = [p[:7] for p in payloads]
    reference = headers[0][3:5]
    assert headers == [bytes((6, 8, 4, *reference, total, i + 1)) for i in range(total)]
    return [p[7:] for p in payloads]


async def test_a_long_gsm_message_goes_as_152_septet_parts_tied_by_a_16_bit_udh(
    smsc: TestSmsc, udh16_channel: SmppChannel
) -> None:
    # An escape pair ({ or }) straddles the 152nd septet of the first part and moves whole.
    body = "a" * 151 + "{po}" + "Salamat po! " * 20
    message = sms(6, body, header_octets=udh16_channel.part_header_octets)

    septets = await submit_udh16(udh16_channel, smsc, message)

    features = [{str(f) for f in p.params["esm_class"].gsmFeatures} for p in smsc.submits]
    assert features == [{"EsmClassGsmFeatures.UDHI_INDICATOR_SET"}] * 3
    # Unpacked GSM-7: one septet per octet behind the 7-octet header, at most 152 of them.
    assert [len(s) for s in septets[:-1]] == [151, 152]
    assert len(septets[-1]) <= 152
    assert septets[0] == b"a" * 151
    escaped = body.replace("{", "\x1b(").replace("}", "\x1b)").encode("ascii")
    assert b"".join(septets) == escaped


async def test_a_long_ucs2_message_goes_as_66_unit_parts_tied_by_a_16_bit_udh(
    smsc: TestSmsc, udh16_channel: SmppChannel
) -> None:
    # The emoji would start at the 66th unit of the first part: it moves whole to the second.
    body = "a" * 65 + "😀" + "Kumusta 😀 " * 10
    message = sms(7, body, header_octets=udh16_channel.part_header_octets)

    units = await submit_udh16(udh16_channel, smsc, message)

    assert len(units[0]) == 2 * 65
    assert all(len(u) <= 2 * 66 for u in units)
    # No part ends on the first half of a surrogate pair.
    assert all(not 0xD8 <= u[-2] <= 0xDB for u in units)
    assert b"".join(units).decode("utf-16-be") == body
    assert all(
        str(p.params["data_coding"].schemeData) == "DataCodingDefault.UCS2" for p in smsc.submits
    )


async def test_udh16_messages_take_fresh_16_bit_references(
    smsc: TestSmsc, udh16_channel: SmppChannel
) -> None:
    header_octets = udh16_channel.part_header_octets
    messages = [sms(8 + i, "z" * 200, header_octets=header_octets) for i in range(2)]

    answers = await udh16_channel.submit(messages)

    assert [a.outcome for a in answers] == [Outcome.ACCEPTED] * 2
    references = {short_message(p)[3:5] for p in smsc.submits}
    assert len(references) == 2


async def test_receipts_of_udh16_parts_fold_into_one_even_beyond_the_billed_count(
    smsc: TestSmsc, udh16_channel: SmppChannel
) -> None:
    body = "y" * 306  # billed as two 153-septet parts, sent as three of 152
    message = sms(9, body, header_octets=udh16_channel.part_header_octets)
    assert (count_parts(body), len(message.parts)) == (2, 3)
    [answer] = await udh16_channel.submit([message])
    part_ids = [f"MID{n}" for n in range(1, 4)]
    assert answer.operator_message_id == part_ids[0]
    assert answer.accepted_parts == 3
    events = RecordedEvents()

    for part_id in reversed(part_ids):
        assert events.receipts == []  # nothing until the last outstanding part
        await deliver_part_receipt(smsc, udh16_channel, part_id, events)

    [receipt] = events.receipts
    assert receipt.operator_message_id == part_ids[0]
    assert receipt.status == ReceiptStatus.CONFIRMED
    assert receipt.delivered_parts == 3


async def test_refusals_map_to_permanent_and_transient_outcomes(
    smsc: TestSmsc, channel: SmppChannel
) -> None:
    smsc.statuses.extend([0x0B, 0x08])  # invalid destination, system error

    answers = await channel.submit([sms(4, "one"), sms(5, "two")])

    assert [a.outcome for a in answers] == [Outcome.PERMANENT, Outcome.TRANSIENT]
    assert "ESME_RINVDSTADR" in answers[0].error
    assert "ESME_RSYSERR" in answers[1].error


async def test_throttling_slows_the_bind_and_resends_in_order(smsc: TestSmsc) -> None:
    # With one PDU in flight the order the SMSC accepts is exactly the order queued.
    clock = FakeMonotonic()
    arrivals: list[float] = []
    smsc.on_submit = lambda pdu: arrivals.append(clock.now)
    channel = SmppChannel(make_config(smsc, window=1), SystemClock(), clock)
    await channel.open()
    smsc.statuses.extend([0x58, 0x14])  # throttled, then message queue full
    try:
        await wait_until(lambda: channel.is_bound)
        batch = [sms(10 + i, f"message {i}") for i in range(3)]
        answers = await drive(channel, clock, channel.submit(batch))
    finally:
        await channel.close()

    assert [a.outcome for a in answers] == [Outcome.ACCEPTED] * 3
    assert channel.read_health().throttled == 2
    # Two pauses of the whole bind: 0.5 s, then 1 s.
    assert arrivals[1] - arrivals[0] >= 0.5
    assert arrivals[2] - arrivals[1] >= 1.0
    sent = [short_message(p) for p in smsc.submits]
    assert sent == [b"message 0", b"message 0", b"message 0", b"message 1", b"message 2"]


async def test_throttled_parts_go_before_parts_queued_after_them(smsc: TestSmsc) -> None:
    channel = SmppChannel(make_config(smsc, window=5), SystemClock())
    await channel.open()
    smsc.statuses.extend([0, 0x58, 0x58])  # two throttling answers after the first part
    try:
        await wait_until(lambda: channel.is_bound)
        first = asyncio.ensure_future(channel.submit([sms(60 + i, f"a{i}") for i in range(5)]))
        # Queued while the bind is paused: these must wait behind the throttled parts.
        await wait_until(lambda: channel.read_health().throttled == 2)
        second = asyncio.ensure_future(channel.submit([sms(70 + i, f"b{i}") for i in range(3)]))
        answers = await first + await second
    finally:
        await channel.close()

    assert all(a.outcome == Outcome.ACCEPTED for a in answers)
    sent = [short_message(p).decode() for p in smsc.submits]

    def last(text: str) -> int:
        return len(sent) - 1 - sent[::-1].index(text)

    # Which parts were throttled depends on what was in flight; each was sent again, the
    # retries in queued order, and all of them before any part queued during the pause.
    retried = sorted({t for t in sent if sent.count(t) > 1}, key=last)
    assert retried and len(sent) == 8 + 2
    assert retried == sorted(retried, key=lambda text: int(text[1:]))
    assert last(retried[-1]) < sent.index("b0")
    assert [t for t in sent if t.startswith("b")] == ["b0", "b1", "b2"]


async def test_no_more_than_the_window_is_in_flight(smsc: TestSmsc) -> None:
    from twisted.internet import defer, reactor

    held: list[Any] = []
    holding = [True]

    def hold_answer(pdu: Any) -> Any:
        # Runs in the SMSC's thread: the first answers wait until the test lets them go.
        if not holding[0]:
            return None
        deferred: Any = defer.Deferred()
        held.append(deferred)
        return deferred

    def answer_held_submits() -> None:
        holding[0] = False
        for number, deferred in enumerate(held):
            deferred.callback((0, f"HELD{number}"))

    smsc.on_submit = hold_answer
    channel = SmppChannel(make_config(smsc, window=3), SystemClock())
    await channel.open()
    try:
        await wait_until(lambda: channel.is_bound)
        batch = asyncio.ensure_future(channel.submit([sms(20 + i, f"m{i}") for i in range(12)]))
        await wait_until(lambda: len(held) == 3)
        # At 1,000 parts/s the pacing lets a pump write every queued part in one go (it may
        # catch up on 50 ms), so the pump that wrote these three stopped at the window alone.
        assert (len(smsc.submits), channel.read_health().in_flight) == (3, 3)
        reactor.callFromThread(answer_held_submits)  # type: ignore[attr-defined]
        answers = await batch
    finally:
        await channel.close()

    assert all(a.outcome == Outcome.ACCEPTED for a in answers)
    assert len(smsc.submits) == 12


async def test_parts_are_never_sent_ahead_of_the_pacing_limit(smsc: TestSmsc) -> None:
    clock = FakeMonotonic()
    arrivals: list[float] = []
    smsc.on_submit = lambda pdu: arrivals.append(clock.now)
    channel = SmppChannel(make_config(smsc, parts_per_second=20, window=100), SystemClock(), clock)
    await channel.open()
    try:
        await wait_until(lambda: channel.is_bound)
        started = clock.now
        # Two batches, as the Dispatcher hands them over, with a gap between them.
        first = await drive(
            channel, clock, channel.submit([sms(40 + i, f"m{i}") for i in range(25)])
        )
        clock.now += 0.3
        second = await drive(
            channel, clock, channel.submit([sms(70 + i, f"n{i}") for i in range(25)])
        )
    finally:
        await channel.close()

    assert all(a.outcome == Outcome.ACCEPTED for a in [*first, *second])
    assert len(arrivals) == 50
    # At 20 parts a second the k-th part is written no sooner than (k - 1) / 20 s after the
    # start (one part may catch up on a late pump). Each arrival carries the channel's time
    # when it was written, so this neither depends on the machine's speed nor hides a part
    # sent early.
    early = [k for k, at in enumerate(arrivals) if at - started < (k - 1) / 20 - 0.001]
    assert early == []
    # Nor did the gap let the second batch burst: never more than 20 parts within 1.01 s.
    assert all(arrivals[k + 20] - arrivals[k] >= 1.01 - 1e-6 for k in range(len(arrivals) - 20))


async def test_receipts_are_answered_once_recorded_and_ids_match(
    smsc: TestSmsc, channel: SmppChannel
) -> None:
    [answer] = await channel.submit([sms(30, "receipt please")])
    events = RecordedEvents()
    text = (
        f"id:{answer.operator_message_id} sub:001 dlvrd:001 submit date:2611221200 "
        "done date:2611221201 stat:DELIVRD err:000 text:receipt please"
    )

    delivered = send_receipt(smsc, text.encode())
    await wait_until(lambda: channel.events_waiting.is_set())
    assert not delivered.done()  # held until recorded
    assert await channel.poll_events(events) == 1
    response = await asyncio.wait_for(delivered, 10)

    assert str(response.status) == "CommandStatus.ESME_ROK"
    [receipt] = events.receipts
    assert receipt.operator_message_id == answer.operator_message_id
    assert receipt.status == ReceiptStatus.CONFIRMED


async def test_a_failed_receipt_by_tlv_carries_the_spec_word(
    smsc: TestSmsc, channel: SmppChannel
) -> None:
    [answer] = await channel.submit([sms(31, "will fail")])
    events = RecordedEvents()
    expired = 3  # message_state EXPIRED
    delivered = send_receipt(
        smsc, b"", receipted_message_id=answer.operator_message_id.encode(), message_state=expired
    )
    await wait_until(lambda: channel.events_waiting.is_set())
    await channel.poll_events(events)
    await asyncio.wait_for(delivered, 10)

    [receipt] = events.receipts
    assert receipt.status == ReceiptStatus.FAILED
    assert receipt.delivery_error == "expired"


async def test_a_receipt_that_matches_no_recorded_hand_off_is_recorded_and_answered_at_once(
    smsc: TestSmsc, channel: SmppChannel
) -> None:
    events = RecordedEvents()
    events.known_ids = set()  # the hand-off is not in the database yet
    delivered = send_receipt(smsc, receipt_text("LATE1"))
    await wait_until(lambda: channel.events_waiting.is_set())

    assert await channel.poll_events(events) == 1
    response = await asyncio.wait_for(delivered, 10)

    assert str(response.status) == "CommandStatus.ESME_ROK"
    assert [r.operator_message_id for r in events.receipts] == ["LATE1"]
    assert await channel.poll_events(events) == 0  # never offered again


class GatedEvents(RecordedEvents):
    """RecordedEvents whose first record of receipts waits until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()

    async def record_receipts(self, receipts: Sequence[Receipt]) -> set[str]:
        if not self.gate.is_set():
            # As a record waiting for the database's write lock behind other writers.
            self.waiting.set()
            await self.gate.wait()
        return await super().record_receipts(receipts)


async def test_a_receipt_that_arrives_while_others_are_recorded_is_kept(
    smsc: TestSmsc, channel: SmppChannel
) -> None:
    first, second = await channel.submit([sms(35, "first"), sms(36, "second")])
    events = GatedEvents()
    first_delivered = send_receipt(smsc, receipt_text(first.operator_message_id))
    await wait_until(lambda: channel.events_waiting.is_set())
    recording = asyncio.ensure_future(channel.poll_events(events))
    await asyncio.wait_for(events.waiting.wait(), 10)

    second_delivered = send_receipt(smsc, receipt_text(second.operator_message_id))
    await wait_until(lambda: channel.events_waiting.is_set())
    events.gate.set()
    assert await asyncio.wait_for(recording, 10) == 1
    assert await channel.poll_events(events) == 1
    await asyncio.wait_for(asyncio.gather(first_delivered, second_delivered), 10)

    assert [r.operator_message_id for r in events.receipts] == [
        first.operator_message_id,
        second.operator_message_id,
    ]


def receipt_text(operator_id: str) -> bytes:
    return f"id:{operator_id} sub:001 dlvrd:001 stat:DELIVRD err:000 text:".encode()


async def test_multipart_receipts_fold_into_one_when_every_part_is_delivered(
    smsc: TestSmsc, channel: SmppChannel
) -> None:
    message = sms(32, "y" * 200)
    [answer] = await channel.submit([message])
    part_ids = [f"MID{n}" for n in range(1, 3)]
    assert answer.operator_message_id == part_ids[0]
    events = RecordedEvents()

    for part_id in reversed(part_ids):
        await deliver_part_receipt(smsc, channel, part_id, events)

    [receipt] = events.receipts
    assert receipt.operator_message_id == part_ids[0]
    assert receipt.delivered_parts == 2


async def test_inbound_messages_are_decoded_and_concatenated(
    smsc: TestSmsc, channel: SmppChannel
) -> None:
    events = RecordedEvents()
    first = "Salamat po! ".encode("utf-16-be")
    second = "😀 OK".encode("utf-16-be")
    for seq, chunk in ((2, second), (1, first)):
        pending = asyncio.ensure_future(
            smsc.deliver(
                source_addr=b"639171234567",
                destination_addr=b"2929",
                esm_class=0x40,
                data_coding=8,
                short_message=bytes((5, 0, 3, 77, 2, seq)) + chunk,
            )
        )
        await wait_until_taken(channel, pending)
        await channel.poll_events(events)
        await asyncio.wait_for(pending, 10)
    pending = asyncio.ensure_future(
        smsc.deliver(
            source_addr=b"639170000001",
            destination_addr=b"2929",
            short_message=b"YES \x1b\x65",  # GSM-7 "YES €"
        )
    )
    await wait_until_taken(channel, pending)
    await channel.poll_events(events)
    await asyncio.wait_for(pending, 10)

    assert [(m.sender, m.recipient, m.body) for m in events.inbound] == [
        ("639171234567", "2929", "Salamat po! 😀 OK"),
        ("639170000001", "2929", "YES €"),
    ]


async def test_the_channel_rebinds_after_the_smsc_restarts(smsc: TestSmsc) -> None:
    channel = SmppChannel(make_config(smsc), SystemClock())
    await channel.open()
    try:
        await wait_until(lambda: channel.is_bound)
        smsc.stop()
        await wait_until(lambda: not channel.is_bound)
        [refused] = await channel.submit([sms(40, "while down")])
        assert refused.outcome == Outcome.TRANSIENT
        assert channel.read_health().state != LinkState.UP
        assert channel.read_state() != LinkState.UP
        smsc.start()
        await wait_until(lambda: channel.is_bound)
        [answer] = await channel.submit([sms(41, "after restart")])
    finally:
        await channel.close()

    assert answer.outcome == Outcome.ACCEPTED
    assert channel.read_health().reconnects >= 1


async def test_an_unbind_from_the_smsc_is_answered_and_the_channel_rebinds(
    smsc: TestSmsc, channel: SmppChannel
) -> None:
    await smsc.unbind_all()
    await wait_until(lambda: channel.read_health().reconnects >= 1)
    await wait_until(lambda: channel.is_bound)

    [answer] = await channel.submit([sms(42, "back")])
    assert answer.outcome == Outcome.ACCEPTED


async def test_a_wrong_password_leaves_the_channel_down(smsc: TestSmsc) -> None:
    channel = SmppChannel(make_config(smsc, password=Secret("wrong")), SystemClock())
    await channel.open()
    try:
        await wait_until(lambda: channel.read_health().state == LinkState.DOWN)
        health = channel.read_health()
        assert channel.read_state() == LinkState.DOWN
    finally:
        await channel.close()

    assert "bind refused" in health.last_error
    assert smsc.count_binds() == 0


async def test_transmitter_and_receiver_binds_split_the_work(smsc: TestSmsc) -> None:
    config = make_config(smsc, bind=BindMode.TRANSMITTER_RECEIVER)
    channel = SmppChannel(config, SystemClock())
    events = RecordedEvents()
    await channel.open()
    try:
        await wait_until(lambda: channel.is_bound and smsc.count_binds() == 2)
        [answer] = await channel.submit([sms(50, "tx")])
        pending = send_receipt(smsc, f"id:{answer.operator_message_id} stat:DELIVRD err:0".encode())
        await wait_until(lambda: channel.events_waiting.is_set())
        await channel.poll_events(events)
        await asyncio.wait_for(pending, 10)
    finally:
        await channel.close()

    assert answer.outcome == Outcome.ACCEPTED
    assert [r.operator_message_id for r in events.receipts] == [answer.operator_message_id]


async def test_close_unbinds_cleanly(smsc: TestSmsc) -> None:
    channel = SmppChannel(make_config(smsc), SystemClock())
    await channel.open()
    await wait_until(lambda: channel.is_bound)

    await channel.close()

    await wait_until(lambda: smsc.count_binds() == 0)
    assert channel.read_health().state == channel.read_state() == LinkState.STOPPED
