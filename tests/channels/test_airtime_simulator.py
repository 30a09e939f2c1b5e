"""The simulated airtime provider: every behaviour, and its journal in the real database."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import replace

import pytest

from tambuli.channels.airtime.base import AirtimeOrder, AirtimeOutcome, AirtimeResult
from tambuli.channels.airtime.simulator import (
    REFUSED_ERROR,
    UNRECORDED_ERROR,
    AirtimeJournal,
    SimulatedTopup,
    SimulatorAirtime,
)
from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.topups.simulator_journal import DatabaseAirtimeJournal

# The operator a ported number (ending 0008) really belongs to, as the catalogue says.
PORTED_TO = "PH-SMART"


def make_order(recipient: str, attempt: int = 1, operator_code: str = "PH-GLOBE") -> AirtimeOrder:
    """An order with a reference no other test uses (the database is shared)."""
    return AirtimeOrder(
        reference=f"test-{uuid.uuid4().hex}",
        recipient=recipient,
        country="PH",
        operator_code=operator_code,
        provider_operator_ref="",
        amount_minor=5000,
        currency="PHP",
        minor_digits=2,
        attempt=attempt,
    )


def find_ported_operator(order: AirtimeOrder) -> str | None:
    """The catalogue's knowledge of ported numbers: only the 0008 numbers here."""
    return PORTED_TO if order.recipient.endswith("0008") else None


def make_simulator(
    journal: AirtimeJournal, clock: FakeClock, slow_seconds: float = 0.05
) -> SimulatorAirtime:
    """A simulator on a journal with a short slow delay."""
    return SimulatorAirtime(journal, clock, find_ported_operator, slow_seconds=slow_seconds)


@pytest.fixture
def journal(db: Database) -> DatabaseAirtimeJournal:
    """The database-backed journal on the shared test database (SQLite and PostgreSQL)."""
    return DatabaseAirtimeJournal(db)


@pytest.fixture
def simulator(journal: DatabaseAirtimeJournal, clock: FakeClock) -> SimulatorAirtime:
    """A simulator keeping its journal in the database."""
    return make_simulator(journal, clock)


async def test_an_ordinary_number_succeeds_with_a_simulated_transaction_id(
    simulator: SimulatorAirtime,
) -> None:
    order = make_order("639171234567")
    result = await simulator.send_topup(order)
    assert result == AirtimeResult(
        AirtimeOutcome.SUCCEEDED, transaction_id=f"SIM-{order.reference}"
    )
    assert simulator.name == "simulator"


async def test_a_number_ending_0001_is_refused_by_the_operator_for_good(
    simulator: SimulatorAirtime,
) -> None:
    result = await simulator.send_topup(make_order("639171230001"))
    assert result == AirtimeResult(AirtimeOutcome.PERMANENT, error=REFUSED_ERROR)


async def test_a_number_ending_0002_fails_transiently_twice_then_succeeds(
    simulator: SimulatorAirtime,
) -> None:
    outcomes = [
        (await simulator.send_topup(make_order("639171230002", attempt=attempt))).outcome
        for attempt in (1, 2, 3, 4)
    ]
    assert outcomes == [
        AirtimeOutcome.TRANSIENT,
        AirtimeOutcome.TRANSIENT,
        AirtimeOutcome.SUCCEEDED,
        AirtimeOutcome.SUCCEEDED,
    ]


async def test_a_number_ending_0007_answers_after_the_slow_delay_then_succeeds(
    journal: DatabaseAirtimeJournal, clock: FakeClock
) -> None:
    simulator = make_simulator(journal, clock, slow_seconds=0.2)
    started = time.monotonic()
    result = await simulator.send_topup(make_order("639171230007"))
    assert time.monotonic() - started >= 0.2
    assert result.outcome == AirtimeOutcome.SUCCEEDED


async def test_a_slow_top_up_given_up_before_its_answer_was_never_sent(
    journal: DatabaseAirtimeJournal, clock: FakeClock
) -> None:
    simulator = make_simulator(journal, clock, slow_seconds=5.0)
    order = make_order("639171230007")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(simulator.send_topup(order), timeout=0.05)
    assert (await simulator.find_topup(order.reference)).outcome == AirtimeOutcome.NOT_FOUND


async def test_a_ported_number_names_the_operator_it_belongs_to(
    simulator: SimulatorAirtime,
) -> None:
    order = make_order("639171230008", operator_code="PH-GLOBE")
    result = await simulator.send_topup(order)
    assert result.outcome == AirtimeOutcome.WRONG_OPERATOR
    assert result.operator_hint == PORTED_TO
    found = await simulator.find_topup(order.reference)
    assert (found.outcome, found.operator_hint) == (AirtimeOutcome.WRONG_OPERATOR, PORTED_TO)


async def test_a_ported_number_succeeds_with_the_operator_it_belongs_to(
    simulator: SimulatorAirtime,
) -> None:
    result = await simulator.send_topup(make_order("639171230008", operator_code=PORTED_TO))
    assert result.outcome == AirtimeOutcome.SUCCEEDED


async def test_a_number_ending_0008_succeeds_when_the_catalogue_knows_no_porting(
    journal: DatabaseAirtimeJournal, clock: FakeClock
) -> None:
    simulator = SimulatorAirtime(journal, clock, lambda order: None)
    result = await simulator.send_topup(make_order("639171230008"))
    assert result.outcome == AirtimeOutcome.SUCCEEDED


@pytest.mark.parametrize(
    ("recipient", "attempt"),
    [("639171234567", 1), ("639171230001", 1), ("639171230002", 1), ("639171230008", 1)],
)
async def test_a_lookup_answers_what_the_top_up_answered(
    simulator: SimulatorAirtime, recipient: str, attempt: int
) -> None:
    order = make_order(recipient, attempt)
    sent = await simulator.send_topup(order)
    assert await simulator.find_topup(order.reference) == sent


async def test_a_reference_never_sent_is_not_found(simulator: SimulatorAirtime) -> None:
    result = await simulator.find_topup(f"never-{uuid.uuid4().hex}")
    assert result.outcome == AirtimeOutcome.NOT_FOUND


async def test_the_journal_keeps_what_was_ordered_and_when(
    journal: DatabaseAirtimeJournal, simulator: SimulatorAirtime, clock: FakeClock
) -> None:
    order = make_order("639171234567")
    await simulator.send_topup(order)
    entry = await journal.find_topup(order.reference)
    assert entry == SimulatedTopup(
        reference=order.reference,
        recipient="639171234567",
        amount_minor=5000,
        currency="PHP",
        outcome=AirtimeOutcome.SUCCEEDED,
        received_minor=None,
        error="",
        transaction_id=f"SIM-{order.reference}",
        created_at=clock.now(),
    )


async def test_recording_a_reference_twice_keeps_the_first_answer(
    journal: DatabaseAirtimeJournal, clock: FakeClock
) -> None:
    first = SimulatedTopup(
        reference=f"twice-{uuid.uuid4().hex}",
        recipient="639171234567",
        amount_minor=5000,
        currency="PHP",
        outcome=AirtimeOutcome.SUCCEEDED,
        received_minor=250,
        error="",
        transaction_id="SIM-1",
        created_at=clock.now(),
    )
    await journal.record_topup(first)
    await journal.record_topup(replace(first, outcome=AirtimeOutcome.TRANSIENT, error="again"))
    assert await journal.find_topup(first.reference) == first


class FlakyJournal:
    """A journal whose writes fail before or after reaching the database, or whose reads fail."""

    def __init__(
        self,
        inner: DatabaseAirtimeJournal,
        fail_before_write: bool = False,
        fail_after_write: bool = False,
        fail_reads: bool = False,
    ) -> None:
        self.inner = inner
        self.fail_before_write = fail_before_write
        self.fail_after_write = fail_after_write
        self.fail_reads = fail_reads

    async def record_topup(self, entry: SimulatedTopup) -> None:
        """Fail as configured around the real write."""
        if self.fail_before_write:
            raise ConnectionError("database unreachable")
        await self.inner.record_topup(entry)
        if self.fail_after_write:
            raise ConnectionError("connection lost after commit")

    async def find_topup(self, reference: str) -> SimulatedTopup | None:
        """Fail as configured, else read the real journal."""
        if self.fail_reads:
            raise ConnectionError("database unreachable")
        return await self.inner.find_topup(reference)


async def test_a_top_up_that_could_not_be_recorded_was_not_sent_and_is_transient(
    journal: DatabaseAirtimeJournal, clock: FakeClock
) -> None:
    simulator = make_simulator(FlakyJournal(journal, fail_before_write=True), clock)
    order = make_order("639171234567")
    result = await simulator.send_topup(order)
    assert result == AirtimeResult(AirtimeOutcome.TRANSIENT, error=UNRECORDED_ERROR)
    assert await journal.find_topup(order.reference) is None


async def test_a_write_that_landed_despite_an_error_answers_what_was_recorded(
    journal: DatabaseAirtimeJournal, clock: FakeClock
) -> None:
    simulator = make_simulator(FlakyJournal(journal, fail_after_write=True), clock)
    order = make_order("639171234567")
    result = await simulator.send_topup(order)
    assert result.outcome == AirtimeOutcome.SUCCEEDED
    assert result.transaction_id == f"SIM-{order.reference}"


async def test_a_write_error_with_an_unreadable_journal_is_pending_not_transient(
    journal: DatabaseAirtimeJournal, clock: FakeClock
) -> None:
    flaky = FlakyJournal(journal, fail_after_write=True, fail_reads=True)
    simulator = make_simulator(flaky, clock)
    order = make_order("639171234567")
    assert (await simulator.send_topup(order)).outcome == AirtimeOutcome.PENDING
    flaky.fail_reads = False
    assert (await simulator.find_topup(order.reference)).outcome == AirtimeOutcome.SUCCEEDED


async def test_a_lookup_in_an_unreadable_journal_is_pending(
    journal: DatabaseAirtimeJournal, clock: FakeClock
) -> None:
    simulator = make_simulator(FlakyJournal(journal, fail_reads=True), clock)
    assert (await simulator.find_topup("anything")).outcome == AirtimeOutcome.PENDING
