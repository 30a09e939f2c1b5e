"""Writes queued submit_sm parts in order: through the window, paced, paused when throttled.

- **Window**: at most N submit_sm in flight. The pump runs when parts are queued, when a
  pacing or pause timer fires, and right after the answers read from the socket free the
  window, in the same step and with one write, so the window refills without waiting for
  other tasks of a busy process.
- **Pacing**: parts go 1/rate apart (a late pump may catch up on PACING_CATCH_UP of lost
  time), and never more than floor(rate) of them within any PACING_SPAN seconds of sending,
  so no catching up can squeeze an extra part into some second the SMSC counts.
- **Throttling**: ESME_RTHROTTLED and ESME_RMSGQFUL pause the whole bind and put the part back
  at its place in the order, ahead of every later part.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from tambuli.channels.base import Outcome
from tambuli.channels.config.specs import SmppChannelConfig
from tambuli.channels.sms.smpp.fields import StatusKind, classify_command_status
from tambuli.channels.sms.smpp.pdus import Frame, read_c_string
from tambuli.channels.sms.smpp.receipts import normalise_message_id
from tambuli.channels.sms.smpp.session import AnswerHandler, SessionClosed, SmppSession

# The first pause after a throttling answer; it doubles while the SMSC keeps throttling.
THROTTLE_PAUSE_SECONDS = 0.5
THROTTLE_PAUSE_MAX_SECONDS = 8.0
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


class SubmitPump:
    """The parts waiting to be submitted on the sending session, and what came of those sent."""

    def __init__(
        self,
        config: SmppChannelConfig,
        monotonic: Callable[[], float],
        note_error: Callable[[str], None],
    ) -> None:
        self._config = config
        self._monotonic = monotonic
        # The channel keeps one last error for its bind failures and the SMSC's refusals.
        self._note_error = note_error
        self.session: SmppSession | None = None
        self._jobs: list[_Job] = []
        self._handle: asyncio.Handle | None = None
        self._stopped = False
        self._order = itertools.count()
        self._next_slot = 0.0
        # When the last floor(rate) parts were written: the next waits until the oldest is
        # PACING_SPAN old.
        self._recent_sends: deque[float] = deque(maxlen=max(1, int(config.parts_per_second)))
        self._paused_until = 0.0
        self._pause = THROTTLE_PAUSE_SECONDS
        self.in_flight = 0
        self.parts_sent = 0
        self.parts_refused = 0
        self.throttled = 0

    def attach(self, session: SmppSession) -> None:
        """Send on this freshly bound session from now on."""
        self.session = session
        session.after_read = self.run
        self.schedule()

    def stop(self) -> None:
        """Write nothing more, for good."""
        self._stopped = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def queue(self, build: Callable[[int], bytes]) -> PartAnswer:
        """Queue one part, built with its sequence number when written; its answer comes later."""
        answer: PartAnswer = asyncio.get_running_loop().create_future()
        heapq.heappush(self._jobs, _Job(next(self._order), build, answer))
        self.schedule()
        return answer

    def fail_queued(self, error: str) -> None:
        """Answer every part still waiting to be written as a transient failure."""
        while self._jobs:
            job = heapq.heappop(self._jobs)
            if not job.answer.done():
                job.answer.set_result((Outcome.TRANSIENT, error))

    def schedule(self, delay: float = 0.0) -> None:
        """Run the pump soon (once, however many parts were queued meanwhile)."""
        if self._handle is not None or self._stopped:
            return
        loop = asyncio.get_running_loop()
        if delay > 0:
            self._handle = loop.call_later(delay, self.run)
        else:
            self._handle = loop.call_soon(self.run)

    def run(self) -> None:
        """Write the parts the window, the pacing and any pause allow now, in one write."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if not self._jobs or self._stopped:
            return
        session = self.session
        if session is None or session.closed.is_set():
            self.fail_queued(NOT_BOUND_ERROR)
            return
        now = self._monotonic()
        if self._paused_until > now:
            self.schedule(self._paused_until - now)
            return
        if session.is_writing_backed_up:
            # The socket takes bytes slower than we make them: look again shortly.
            self.schedule(WRITE_BACKED_UP_WAIT_SECONDS)
            return
        taken: list[_Job] = []
        while self._jobs and self.in_flight + len(taken) < self._config.window:
            slot = self._find_slot(now)
            if slot > now:
                self.schedule(slot - now)
                break
            self._take_slot(slot, now)
            taken.append(heapq.heappop(self._jobs))
        if not taken:
            return
        self.in_flight += len(taken)
        sequences = session.send_each([(job.build, self._answer_handler(job)) for job in taken])
        loop = asyncio.get_running_loop()
        timeout = self._config.response_timeout_seconds
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
        self._next_slot = slot + 1.0 / self._config.parts_per_second
        self._recent_sends.append(now)

    def _answer_handler(self, job: _Job) -> AnswerHandler:
        def take_answer(answer: Frame | SessionClosed) -> None:
            if job.timer is not None:
                job.timer.cancel()
            self.in_flight -= 1
            self._settle_job(job, answer)
            if self._jobs:
                self.schedule()

        return take_answer

    def _give_up(self, job: _Job, session: SmppSession, sequence: int) -> None:
        """No answer in time: the part fails as transient (a retry may duplicate it)."""
        session.forget(sequence)
        self.in_flight -= 1
        self._settle_job(job, TimeoutError())
        self.schedule()

    def _settle_job(self, job: _Job, answer: Frame | SessionClosed | TimeoutError) -> None:
        if job.answer.done():
            return
        if isinstance(answer, TimeoutError):
            self.parts_refused += 1
            seconds = self._config.response_timeout_seconds
            job.answer.set_result((Outcome.TRANSIENT, f"no answer from the SMSC in {seconds:g} s"))
            return
        if isinstance(answer, SessionClosed):
            self.parts_refused += 1
            job.answer.set_result((Outcome.TRANSIENT, f"connection lost: {answer}"))
            return
        status = classify_command_status(answer.status)
        if status.kind == StatusKind.OK:
            self.parts_sent += 1
            self._pause = THROTTLE_PAUSE_SECONDS
            message_id = normalise_message_id(
                read_c_string(answer.body), self._config.submit_id_format
            )
            job.answer.set_result((Outcome.ACCEPTED, message_id))
        elif status.kind == StatusKind.THROTTLED:
            self.throttled += 1
            self._paused_until = max(self._paused_until, self._monotonic() + self._pause)
            self._pause = min(self._pause * 2, THROTTLE_PAUSE_MAX_SECONDS)
            # Back at its place in the order: ahead of every part queued after it.
            heapq.heappush(self._jobs, job)
            self.schedule()
        else:
            self.parts_refused += 1
            self._note_error(status.error)
            job.answer.set_result((status.outcome, status.error))
