"""One bound SMPP connection: bind, windowed requests matched by sequence number, keep-alive.

The session answers what the SMSC asks of any client (enquire_link, unbind, unknown PDUs with
generic_nack) and hands deliver_sm to its owner, which answers them once they are recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from tambuli.channels.sms.smpp.pdus import (
    ESME_RINVCMDID,
    ESME_ROK,
    ESME_RSYSERR,
    RESPONSE_BIT,
    Command,
    Delivery,
    Frame,
    FrameReader,
    PduError,
    decode_delivery,
    encode_bind,
    encode_pdu,
)

log = logging.getLogger("tambuli.channels.smpp")
# Flush the socket buffer once this much is waiting, so a fast window cannot grow it unbounded.
WRITE_HIGH_WATER = 256 * 1024
MAX_SEQUENCE = 0x7FFFFFFF


class SessionClosed(Exception):
    """The connection ended before the request was answered."""


class BindRefused(Exception):
    """The SMSC answered the bind with an error status."""

    def __init__(self, status: int) -> None:
        super().__init__(f"bind refused with command_status 0x{status:08x}")
        self.status = status


@dataclass(frozen=True)
class SessionSettings:
    """What a session needs from its channel's configuration."""

    system_id: str
    password: str
    system_type: str
    address_range: str
    response_timeout: float
    enquire_link_interval: float


DeliveryHandler = Callable[["SmppSession", Delivery], None]
# Called at once with a request's response, or with SessionClosed if the connection ends first.
AnswerHandler = Callable[[Frame | SessionClosed], None]


class SmppSession:
    """A TCP connection bound as transmitter, receiver or transceiver."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        settings: SessionSettings,
        on_delivery: DeliveryHandler,
        label: str,
    ) -> None:
        self.label = label
        self.closed = asyncio.Event()
        self.close_reason = ""
        self._reader = reader
        self._writer = writer
        self._settings = settings
        self._on_delivery = on_delivery
        self._sequence = 0
        self._pending: dict[int, asyncio.Future[Frame]] = {}
        self._handlers: dict[int, AnswerHandler] = {}
        # Called after each chunk read from the socket has been acted on (the channel writes
        # the parts the answers made room for, in one go, without waiting for another task).
        self.after_read: Callable[[], None] | None = None
        self._last_heard = time.monotonic()
        self._tasks: list[asyncio.Task[None]] = []
        # Responses to the SMSC not written yet (see answer).
        self._answers: list[bytes] = []

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        bind: Command,
        settings: SessionSettings,
        on_delivery: DeliveryHandler,
    ) -> SmppSession:
        """Connect and bind; raises OSError, BindRefused or SessionClosed."""
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port), settings.response_timeout
        )
        session = cls(reader, writer, settings, on_delivery, f"{bind.name.lower()} {host}:{port}")
        session._tasks.append(asyncio.create_task(session._read_loop()))
        try:
            answer = await session.request(
                lambda sequence: encode_bind(
                    bind,
                    sequence,
                    system_id=settings.system_id,
                    password=settings.password,
                    system_type=settings.system_type,
                    address_range=settings.address_range,
                )
            )
        except BaseException:
            await session.close("bind failed")
            raise
        if answer.status != ESME_ROK:
            await session.close("bind refused")
            raise BindRefused(answer.status)
        session._tasks.append(asyncio.create_task(session._keep_alive()))
        return session

    @property
    def in_flight(self) -> int:
        """Requests sent and not answered yet."""
        return len(self._pending) + len(self._handlers)

    def _next_sequence(self) -> int:
        self._sequence = self._sequence % MAX_SEQUENCE + 1
        return self._sequence

    def send(self, build: Callable[[int], bytes]) -> asyncio.Future[Frame]:
        """Write a request now; the future gets its response (or generic_nack).

        The future fails with SessionClosed when the connection ends first. The caller keeps
        to the window and the response timeout.
        """
        answer: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        if self.closed.is_set():
            answer.set_exception(SessionClosed(self.close_reason))
            return answer
        sequence = self._next_sequence()
        self._pending[sequence] = answer
        answer.add_done_callback(lambda _: self._pending.pop(sequence, None))
        self._write_answers()
        self._writer.write(build(sequence))
        return answer

    def send_each(self, requests: list[tuple[Callable[[int], bytes], AnswerHandler]]) -> list[int]:
        """Write requests in one write; each handler is called as soon as its answer is read.

        Returns their sequence numbers (for forget). A closed session calls every handler with
        SessionClosed at once.
        """
        if self.closed.is_set():
            for _, handler in requests:
                handler(SessionClosed(self.close_reason))
            return []
        sequences: list[int] = []
        chunks: list[bytes] = []
        for build, handler in requests:
            sequence = self._next_sequence()
            chunks.append(build(sequence))
            self._handlers[sequence] = handler
            sequences.append(sequence)
        self._write_answers()
        self._writer.write(b"".join(chunks))
        return sequences

    def forget(self, sequence: int) -> None:
        """Stop waiting for a request's answer (it timed out); a late answer is ignored."""
        self._handlers.pop(sequence, None)

    @property
    def is_writing_backed_up(self) -> bool:
        """Whether the socket buffer is above its high-water mark."""
        return self._writer.transport.get_write_buffer_size() > WRITE_HIGH_WATER

    async def request(self, build: Callable[[int], bytes]) -> Frame:
        """Send a request and wait for its answer; TimeoutError after the response timeout."""
        answer = self.send(build)
        try:
            return await asyncio.wait_for(asyncio.shield(answer), self._settings.response_timeout)
        finally:
            if not answer.done():
                answer.cancel()

    def answer(
        self, command: int, sequence: int, status: int = ESME_ROK, body: bytes = b""
    ) -> None:
        """Write a response to a request of the SMSC (no waiting).

        The responses given in one turn of the event loop leave in one write: a busy bind
        answers thousands of receipts a second, and each write is a system call.
        """
        if self.closed.is_set():
            return
        if not self._answers:
            asyncio.get_running_loop().call_soon(self._write_answers)
        self._answers.append(encode_pdu(command, sequence, status, body))

    def _write_answers(self) -> None:
        if self._answers and not self.closed.is_set():
            self._writer.write(b"".join(self._answers))
        self._answers.clear()

    async def _read_loop(self) -> None:
        frames = FrameReader()
        reason = "connection closed by the SMSC"
        try:
            while True:
                data = await self._reader.read(65536)
                if not data:
                    break
                self._last_heard = time.monotonic()
                for frame in frames.feed(data):
                    if not self._take_frame(frame):
                        reason = "unbound by the SMSC"
                        return
                if self.after_read is not None:
                    self.after_read()
        except PduError as exc:
            reason = f"protocol error: {exc}"
        except (ConnectionError, OSError) as exc:
            reason = f"connection lost: {exc}"
        finally:
            self._mark_closed(reason)

    def _take_frame(self, frame: Frame) -> bool:
        """Act on one PDU; False when the SMSC unbinds."""
        command = frame.command_id
        if command & RESPONSE_BIT:
            handler = self._handlers.pop(frame.sequence, None)
            if handler is not None:
                handler(frame)
                return True
            waiting = self._pending.get(frame.sequence)
            if waiting is not None and not waiting.done():
                waiting.set_result(frame)
            return True
        if command in (Command.DELIVER_SM, Command.DATA_SM):
            try:
                delivery = decode_delivery(frame)
            except PduError as exc:
                log.warning("%s: unreadable deliver_sm answered with an error: %s", self.label, exc)
                self.answer(command | RESPONSE_BIT, frame.sequence, ESME_RSYSERR, b"\x00")
                return True
            self._on_delivery(self, delivery)
            return True
        if command == Command.ENQUIRE_LINK:
            self.answer(Command.ENQUIRE_LINK_RESP, frame.sequence)
            return True
        if command == Command.UNBIND:
            self.answer(Command.UNBIND_RESP, frame.sequence)
            return False
        self.answer(Command.GENERIC_NACK, frame.sequence, ESME_RINVCMDID)
        return True

    async def _keep_alive(self) -> None:
        interval = self._settings.enquire_link_interval
        while not self.closed.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closed.wait(), interval)
                return
            if time.monotonic() - self._last_heard < interval:
                continue  # traffic proves the link; enquire only when it is quiet
            try:
                await self.request(lambda sequence: encode_pdu(Command.ENQUIRE_LINK, sequence))
            except (TimeoutError, SessionClosed, OSError):
                await self.close("no answer to enquire_link")
                return

    def _mark_closed(self, reason: str) -> None:
        if self.closed.is_set():
            return
        self._write_answers()  # an unbind_resp, say, still leaves before the connection closes
        self.close_reason = reason
        self.closed.set()
        for waiting in list(self._pending.values()):
            if not waiting.done():
                waiting.set_exception(SessionClosed(reason))
        handlers, self._handlers = self._handlers, {}
        for handler in handlers.values():
            handler(SessionClosed(reason))
        self._writer.close()

    async def unbind(self) -> None:
        """Unbind politely (the SMSC answers unbind_resp), then close."""
        if not self.closed.is_set():
            with contextlib.suppress(TimeoutError, SessionClosed, OSError):
                await self.request(lambda sequence: encode_pdu(Command.UNBIND, sequence))
        await self.close("unbound")

    async def close(self, reason: str) -> None:
        """Drop the connection and stop the session's tasks."""
        self._mark_closed(reason)
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        for task in self._tasks:
            if task is not current:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()
