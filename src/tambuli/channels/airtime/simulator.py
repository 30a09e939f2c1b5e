"""The built-in simulated airtime provider: deterministic by the recipient's last four digits.

| ends in | behaviour                                                                     |
|---------|-------------------------------------------------------------------------------|
| 0001    | the operator refuses the number: PERMANENT                                    |
| 0002    | attempts 1 and 2 fail transiently; from attempt 3 the top-up succeeds         |
| 0007    | answers after `slow_seconds` (simulated network latency), then succeeds       |
| 0008    | a ported number: WRONG_OPERATOR unless the order names the operator it now    |
|         | belongs to (as `find_ported_operator` says), then it succeeds                 |
| other   | succeeds                                                                      |

Every answer is written to a journal before it is given, so the simulated provider remembers
each reference the way a real aggregator does, and `find_topup` tells the truth after a crash.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tambuli.channels.airtime.base import AirtimeOrder, AirtimeOutcome, AirtimeResult
from tambuli.clock import Clock

SIMULATOR_TOPUP_PROVIDER = "simulator"
REFUSED_ERROR = "operator refused the number"
TRANSIENT_ERROR = "temporary failure (simulated)"
# The journal has no column for the operator hint, so a WRONG_OPERATOR entry keeps it at the
# end of its error text, after this prefix; lookups read it back from there.
PORTED_ERROR_PREFIX = "number ported to operator "
UNRECORDED_ERROR = "the simulated provider could not record the top-up"
LOOKUP_FAILED_ERROR = "the simulated provider's journal could not be read"
DEFAULT_SLOW_SECONDS = 10.0


@dataclass(frozen=True)
class SimulatedTopup:
    """What the simulated provider recorded about one order (one row of its journal)."""

    reference: str
    recipient: str
    amount_minor: int
    currency: str
    outcome: AirtimeOutcome
    received_minor: int | None
    error: str
    transaction_id: str
    created_at: datetime


class AirtimeJournal(Protocol):
    """Durable memory of the simulated airtime provider."""

    async def record_topup(self, entry: SimulatedTopup) -> None:
        """Remember an answer; recording a reference that is already there changes nothing."""
        ...

    async def find_topup(self, reference: str) -> SimulatedTopup | None:
        """The answer recorded for a reference, or None if there is none."""
        ...


def decide_topup(order: AirtimeOrder, ported_operator: str | None) -> AirtimeResult:
    """The simulated provider's answer to an order, given where a ported number now belongs."""
    ending = order.recipient[-4:]
    if ending == "0001":
        return AirtimeResult(AirtimeOutcome.PERMANENT, error=REFUSED_ERROR)
    if ending == "0002" and order.attempt <= 2:
        return AirtimeResult(AirtimeOutcome.TRANSIENT, error=TRANSIENT_ERROR)
    if ending == "0008" and ported_operator and ported_operator != order.operator_code:
        return AirtimeResult(
            AirtimeOutcome.WRONG_OPERATOR,
            error=PORTED_ERROR_PREFIX + ported_operator,
            operator_hint=ported_operator,
        )
    # The simulator knows no exchange rates: the feature takes the received amount from its
    # own catalogue, so none is given here.
    return AirtimeResult(AirtimeOutcome.SUCCEEDED, transaction_id=f"SIM-{order.reference}")


def read_recorded_answer(entry: SimulatedTopup) -> AirtimeResult:
    """The answer a journal entry stands for."""
    hint = ""
    if entry.outcome == AirtimeOutcome.WRONG_OPERATOR and entry.error.startswith(
        PORTED_ERROR_PREFIX
    ):
        hint = entry.error.removeprefix(PORTED_ERROR_PREFIX)
    return AirtimeResult(
        entry.outcome,
        transaction_id=entry.transaction_id,
        received_minor=entry.received_minor,
        error=entry.error,
        operator_hint=hint,
    )


class SimulatorAirtime:
    """An AirtimeProvider that answers by the number's last four digits and keeps a journal."""

    def __init__(
        self,
        journal: AirtimeJournal,
        clock: Clock,
        find_ported_operator: Callable[[AirtimeOrder], str | None],
        slow_seconds: float = DEFAULT_SLOW_SECONDS,
        name: str = SIMULATOR_TOPUP_PROVIDER,
    ) -> None:
        self.name = name
        self._journal = journal
        self._clock = clock
        self._find_ported_operator = find_ported_operator
        self._slow_seconds = slow_seconds

    async def send_topup(self, order: AirtimeOrder) -> AirtimeResult:
        """Answer the order as its number says, after recording the answer."""
        ending = order.recipient[-4:]
        if ending == "0007":
            await asyncio.sleep(self._slow_seconds)
        ported = self._find_ported_operator(order) if ending == "0008" else None
        result = decide_topup(order, ported)
        entry = SimulatedTopup(
            reference=order.reference,
            recipient=order.recipient,
            amount_minor=order.amount_minor,
            currency=order.currency,
            outcome=result.outcome,
            received_minor=result.received_minor,
            error=result.error,
            transaction_id=result.transaction_id,
            created_at=self._clock.now(),
        )
        # For the simulated provider the journal row *is* the top-up: airtime counts as sent
        # once it is recorded, exactly as a real aggregator's own ledger decides what it did.
        # So record first and answer second. Answering first and failing to record would tell
        # the worker SUCCEEDED while a later lookup says NOT_FOUND, and the worker would pay
        # again; recording first keeps every answer and every lookup consistent.
        try:
            await self._journal.record_topup(entry)
        except Exception:
            # The journal is a protocol and may fail in any way; a failed write may still have
            # committed (a lost acknowledgement), so ask the journal what it holds.
            return await self._recover_unrecorded(order.reference)
        return result

    async def find_topup(self, reference: str) -> AirtimeResult:
        """What the journal says about an earlier order; NOT_FOUND if it holds nothing."""
        try:
            entry = await self._journal.find_topup(reference)
        except Exception:
            # Unknown is not "not sent": PENDING makes the worker ask again later instead of
            # sending another attempt that might pay twice.
            return AirtimeResult(AirtimeOutcome.PENDING, error=LOOKUP_FAILED_ERROR)
        if entry is None:
            return AirtimeResult(AirtimeOutcome.NOT_FOUND)
        return read_recorded_answer(entry)

    async def _recover_unrecorded(self, reference: str) -> AirtimeResult:
        try:
            entry = await self._journal.find_topup(reference)
        except Exception:
            return AirtimeResult(AirtimeOutcome.PENDING, error=LOOKUP_FAILED_ERROR)
        if entry is None:
            # Nothing recorded means nothing sent: trying again later is safe.
            return AirtimeResult(AirtimeOutcome.TRANSIENT, error=UNRECORDED_ERROR)
        return read_recorded_answer(entry)
