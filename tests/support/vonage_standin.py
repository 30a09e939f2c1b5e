"""A stand-in for the Vonage (Nexmo) SMS API on 127.0.0.1, following its published behaviour.

POST /sms/json takes a form (or JSON, or a GET query) with api_key, api_secret, from, to, text,
type, client-ref and status-report-req, and answers 200 with one `messages` entry per SMS part.
What happens depends on the recipient's last four digits:

| ends in | answer                                                        |
|---------|---------------------------------------------------------------|
| 0001    | status "1", throttled                                         |
| 0002    | status "3", invalid `to` (an invalid number)                  |
| 0003    | HTTP 500 with an HTML page                                    |
| 0004    | answers only when the stand-in stops (after any client timeout) |
| other   | status "0" for every part                                     |

It records every request and every accepted message, and builds the receipts and inbound
webhooks Vonage would send, for a test to deliver to a callback URL.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from tests.support.standin_server import StandinHandler, serving

API_KEY = "standin-key"
API_SECRET = "standin-secret-value"
THROTTLED_ENDING = "0001"
INVALID_ENDING = "0002"
SERVER_ERROR_ENDING = "0003"
SLOW_ENDING = "0004"


@dataclass(frozen=True)
class StandinRequest:
    """One request as the stand-in received it."""

    method: str
    path: str
    content_type: str
    authorization: str
    fields: dict[str, str]


@dataclass(frozen=True)
class SentSms:
    """A message the stand-in accepted: one message ID per part."""

    message_ids: tuple[str, ...]
    sender: str
    recipient: str
    text: str
    kind: str
    client_ref: str


@dataclass
class VonageStandin:
    """The stand-in's state; tests configure it and read what it recorded."""

    url: str = ""
    api_key: str = API_KEY
    api_secret: str = API_SECRET
    requests: list[StandinRequest] = field(default_factory=list)
    sent: list[SentSms] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    next_id: int = 0x0C000000217B7F00
    lock: threading.Lock = field(default_factory=threading.Lock)
    # While cleared, every request waits before it is answered (to count requests in flight).
    answering: threading.Event = field(default_factory=threading.Event)
    # Set when the stand-in stops: the slow numbers' answers wait for it.
    stopping: threading.Event = field(default_factory=threading.Event)
    # Called with each accepted message before the answer goes back (in the stand-in's thread),
    # as a gateway whose delivery report overtakes its own answer.
    on_accept: Callable[[SentSms], None] | None = None

    def __post_init__(self) -> None:
        self.answering.set()
        self._arrivals = threading.Condition(self.lock)

    def wait_for_in_flight(self, count: int, timeout: float) -> bool:
        """Block until `count` requests are in flight at once; False if that took too long."""
        with self._arrivals:
            return self._arrivals.wait_for(lambda: self.in_flight >= count, timeout)

    def stop(self) -> None:
        """Let every waiting request be answered, so the server can shut down."""
        self.stopping.set()
        self.answering.set()

    @property
    def send_url(self) -> str:
        """Where the SMS API listens (the preset's url points here in tests)."""
        return f"{self.url}/sms/json"

    def answer(self, request: StandinRequest) -> tuple[int, str, bytes]:
        """Status, content type and body for one request."""
        with self._arrivals:
            self.requests.append(request)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self._arrivals.notify_all()
        try:
            self.answering.wait()
            return self._answer(request)
        finally:
            with self.lock:
                self.in_flight -= 1

    def _answer(self, request: StandinRequest) -> tuple[int, str, bytes]:
        if request.path != "/sms/json":
            return 404, "text/html", b"<html><body>Not Found</body></html>"
        fields = request.fields
        if fields.get("api_key") != self.api_key or fields.get("api_secret") != self.api_secret:
            return _reply(_refusal("4", "Bad Credentials"))
        missing = [name for name in ("from", "to", "text") if not fields.get(name)]
        if missing:
            return _reply(_refusal("2", f"Missing {missing[0]}"))
        to = fields["to"]
        if not to.isdigit():
            return _reply(_refusal("3", "Invalid to address"))
        ending = to[-4:]
        if ending == THROTTLED_ENDING:
            return _reply(_refusal("1", "Throughput Rate Exceeded - please wait [ 30 ] and retry"))
        if ending == INVALID_ENDING:
            return _reply(_refusal("3", "Invalid to address"))
        if ending == SERVER_ERROR_ENDING:
            return 500, "text/html", b"<html><body>Internal Server Error</body></html>"
        if ending == SLOW_ENDING:
            # Never within a client's timeout, however slow or fast this machine is.
            self.stopping.wait()
        return _reply(self._accept(fields))

    def _accept(self, fields: Mapping[str, str]) -> dict[str, Any]:
        kind = fields.get("type", "text")
        parts = count_parts(fields["text"], kind)
        with self.lock:
            ids = tuple(f"{self.next_id + n:016X}" for n in range(parts))
            self.next_id += parts
            sms = SentSms(
                ids,
                fields["from"],
                fields["to"],
                fields["text"],
                kind,
                fields.get("client-ref", ""),
            )
            self.sent.append(sms)
        if self.on_accept is not None:
            self.on_accept(sms)
        entries = []
        for message_id in ids:
            entry = {
                "to": fields["to"],
                "message-id": message_id,
                "status": "0",
                "remaining-balance": "15.53590000",
                "message-price": "0.03330000",
                "network": "51502",
            }
            if fields.get("client-ref"):
                entry["client-ref"] = fields["client-ref"]
            entries.append(entry)
        return {"message-count": str(parts), "messages": entries}

    def find_sent(self, client_ref: str) -> SentSms:
        """The accepted message with this client-ref (Tambuli's reference)."""
        with self.lock:
            return next(sms for sms in self.sent if sms.client_ref == client_ref)


def count_parts(text: str, kind: str) -> int:
    """SMS parts as Vonage bills them: 160/153 characters for text, 70/67 for unicode."""
    single, multi = (70, 67) if kind == "unicode" else (160, 153)
    length = len(text)
    return 1 if length <= single else -(-length // multi)


def receipt_fields(
    sms: SentSms, part: int = 0, status: str = "delivered", err_code: str = "0"
) -> dict[str, str]:
    """The delivery receipt webhook Vonage sends for one part of a message."""
    fields = {
        "msisdn": sms.recipient,
        "to": sms.sender,
        "network-code": "51502",
        "messageId": sms.message_ids[part],
        "price": "0.03330000",
        "status": status,
        "scts": "2001011400",
        "err-code": err_code,
        "message-timestamp": "2020-01-01 14:00:00",
    }
    if sms.client_ref:
        fields["client-ref"] = sms.client_ref
    return fields


def inbound_fields(
    msisdn: str, to: str, text: str, message_id: str = "0A0000001234567B"
) -> dict[str, str]:
    """The inbound SMS webhook Vonage sends for a whole message."""
    return {
        "msisdn": msisdn,
        "to": to,
        "messageId": message_id,
        "text": text,
        "type": "text",
        "keyword": text.split()[0].upper() if text.split() else "",
        "message-timestamp": "2020-01-01 12:00:00",
    }


def concatenated_inbound_fields(
    msisdn: str, to: str, texts: list[str], concat_ref: str = "7"
) -> list[dict[str, str]]:
    """The webhooks Vonage sends for a long inbound SMS: one per part."""
    found = []
    for index, text in enumerate(texts, start=1):
        fields = inbound_fields(msisdn, to, text, f"0A00000012345{index:03X}")
        fields.update(
            {
                "concat": "true",
                "concat-ref": concat_ref,
                "concat-total": str(len(texts)),
                "concat-part": str(index),
            }
        )
        found.append(fields)
    return found


async def call_back(
    client: httpx.AsyncClient,
    url: str,
    fields: Mapping[str, str],
    *,
    method: str = "POST",
    as_json: bool = False,
    token: str | None = None,
) -> httpx.Response:
    """Deliver a webhook as Vonage does: GET query, POST form, or POST JSON."""
    params = {"token": token} if token is not None else {}
    if method == "GET":
        return await client.get(url, params={**fields, **params})
    if as_json:
        return await client.post(url, params=params, json=dict(fields))
    return await client.post(url, params=params, data=dict(fields))


def _refusal(status: str, text: str) -> dict[str, Any]:
    return {"message-count": "1", "messages": [{"status": status, "error-text": text}]}


def _reply(body: dict[str, Any]) -> tuple[int, str, bytes]:
    return 200, "application/json", json.dumps(body).encode()


class _Handler(StandinHandler):
    def answer_request(self, method: str) -> None:
        raw = self.read_body()
        parts = urlsplit(self.path)
        fields = dict(parse_qsl(parts.query, keep_blank_values=True))
        content_type = self.headers.get("content-type", "")
        if raw and "json" in content_type:
            decoded = json.loads(raw)
            fields.update({k: str(v) for k, v in decoded.items()})
        elif raw:
            fields.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        request = StandinRequest(
            method, parts.path, content_type, self.headers.get("authorization", ""), fields
        )
        standin: VonageStandin = self.server.standin
        self.send_answer(*standin.answer(request))


@contextmanager
def running_vonage_standin() -> Iterator[VonageStandin]:
    """Serve a fresh stand-in on a free 127.0.0.1 port for the duration of the block."""
    with serving(_Handler, lambda url: VonageStandin(url=url)) as standin:
        try:
            yield standin
        finally:
            standin.stop()
