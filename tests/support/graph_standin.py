"""A stand-in for Meta's Graph API (WhatsApp Cloud API) on 127.0.0.1, following its documents.

- POST /{version}/{phone-number-id}/messages: checks the bearer token of that number and the
  body as Meta does (messaging_product, to, type and its object; media IDs uploaded to that
  number; templates registered with that many body parameters; no caption on audio) and
  answers a wamid, or Meta's error object.
- POST /{version}/{phone-number-id}/media: a multipart upload (file, type, messaging_product);
  stores the file and answers its media ID.
- GET /{version}/{media-id}: the media's URL (on this stand-in), type, SHA-256 and size.
- GET /download/{media-id}: the bytes, to the bearer token of the number that owns them.

Tests say what a recipient's messages get instead (`refuse`, `answer_slowly`) and build signed
webhooks with tests/support/graph_webhooks.py.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from tests.support.standin_server import StandinHandler, serving

API_VERSION = "v23.0"
PHONE_NUMBER_ID = "106540352242922"
BUSINESS_NUMBER = "15550783881"
TOKEN = "standin-access-token"
OTHER_PHONE_NUMBER_ID = "106540352240000"
OTHER_TOKEN = "standin-other-token"
APP_SECRET = "standin-app-secret"
_MEDIA_TYPES = ("image", "audio", "video", "document")


@dataclass(frozen=True)
class StoredMedia:
    """A file uploaded to a number (or sent by a contact to it)."""

    media_id: str
    phone_number_id: str
    content_type: str
    filename: str
    data: bytes


@dataclass(frozen=True)
class SentMessage:
    """A message the stand-in accepted."""

    wamid: str
    phone_number_id: str
    body: dict[str, Any]

    @property
    def recipient(self) -> str:
        """The `to` of the request."""
        return str(self.body["to"])

    @property
    def kind(self) -> str:
        """The request's `type`."""
        return str(self.body["type"])


@dataclass(frozen=True)
class Refusal:
    """What the stand-in answers a recipient's messages instead of accepting them."""

    status: int
    code: int | None
    message: str = "refused by the stand-in"


@dataclass
class GraphStandin:
    """The stand-in's state; tests configure it and read what it recorded."""

    url: str = ""
    tokens: dict[str, str] = field(
        default_factory=lambda: {PHONE_NUMBER_ID: TOKEN, OTHER_PHONE_NUMBER_ID: OTHER_TOKEN}
    )
    # (template name, language code) → how many body parameters it has.
    templates: dict[tuple[str, str], int] = field(default_factory=dict)
    refusals: dict[str, Refusal] = field(default_factory=dict)
    # Message type ("audio", "template", …) → what every message of that type gets.
    type_refusals: dict[str, Refusal] = field(default_factory=dict)
    slow: set[str] = field(default_factory=set)
    media: dict[str, StoredMedia] = field(default_factory=dict)
    uploads: list[StoredMedia] = field(default_factory=list)
    sent: list[SentMessage] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    # While cleared, message requests wait before they are answered (to count them in flight).
    answering: threading.Event = field(default_factory=threading.Event)
    stopping: threading.Event = field(default_factory=threading.Event)
    # Called with each accepted message before its answer goes back (in the stand-in's thread),
    # e.g. by graph_webhooks.StatusPusher to send its statuses as Meta would.
    on_accept: Callable[[SentMessage], None] | None = None

    def __post_init__(self) -> None:
        self.answering.set()
        self._ids = itertools.count(1)
        self._arrivals = threading.Condition(self.lock)

    @property
    def graph_url(self) -> str:
        """What the channel's graph_url is set to."""
        return self.url

    def refuse(self, recipient: str, status: int, code: int | None, message: str = "") -> None:
        """Answer every message to this recipient with this error."""
        self.refusals[recipient] = Refusal(status, code, message or f"refused ({code})")

    def answer_slowly(self, recipient: str) -> None:
        """Answer messages to this recipient only when the stand-in stops (after any timeout)."""
        self.slow.add(recipient)

    def add_inbound_media(
        self, data: bytes, content_type: str, phone_number_id: str = PHONE_NUMBER_ID
    ) -> str:
        """Keep a file a contact sent to a number; its media ID for a webhook."""
        media_id = f"{next(self._ids):015d}"
        with self.lock:
            self.media[media_id] = StoredMedia(media_id, phone_number_id, content_type, "", data)
        return media_id

    def wait_for_in_flight(self, count: int, timeout: float) -> bool:
        """Block until `count` message requests are in flight at once; False if too long."""
        with self._arrivals:
            return self._arrivals.wait_for(lambda: self.in_flight >= count, timeout)

    def stop(self) -> None:
        """Let every waiting request be answered, so the server can shut down."""
        self.stopping.set()
        self.answering.set()

    def answer(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, str, bytes]:
        """Status, content type and body for one request."""
        with self.lock:
            self.requests.append((method, path))
        parts = path.strip("/").split("/")
        token = headers.get("authorization", "").removeprefix("Bearer ")
        if method == "GET" and len(parts) == 2 and parts[0] == "download":
            return self._download(parts[1], token)
        if len(parts) < 2 or parts[0] != API_VERSION:
            return _error(400, 100, "Unknown path components")
        if method == "GET" and len(parts) == 2:
            return self._describe_media(parts[1], token)
        if method != "POST" or len(parts) != 3 or parts[2] not in ("messages", "media"):
            return _error(400, 100, "Unsupported request")
        phone_number_id = parts[1]
        if phone_number_id not in self.tokens:
            return _error(400, 100, f"Object with ID '{phone_number_id}' does not exist")
        if token != self.tokens[phone_number_id]:
            return _error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        if parts[2] == "media":
            return self._upload(phone_number_id, headers.get("content-type", ""), raw)
        return self._answer_message(phone_number_id, raw)

    def _answer_message(self, phone_number_id: str, raw: bytes) -> tuple[int, str, bytes]:
        with self._arrivals:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self._arrivals.notify_all()
        try:
            self.answering.wait()
            return self._check_message(phone_number_id, raw)
        finally:
            with self.lock:
                self.in_flight -= 1

    def _check_message(self, phone_number_id: str, raw: bytes) -> tuple[int, str, bytes]:
        try:
            body = json.loads(raw)
        except ValueError:
            return _error(400, 100, "Invalid JSON")
        if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
            return _error(400, 100, "The parameter messaging_product is required.")
        to, kind = body.get("to"), body.get("type")
        if not isinstance(to, str) or not to.isdigit():
            return _error(400, 100, "Invalid parameter 'to'")
        if not isinstance(kind, str) or not isinstance(body.get(kind), dict):
            return _error(400, 131008, "Required parameter is missing")
        problem = self._find_problem(phone_number_id, kind, body[kind])
        if problem is not None:
            return problem
        refusal = self.refusals.get(to) or self.type_refusals.get(kind)
        if refusal is not None:
            if refusal.code is None:
                return refusal.status, "text/html", b"<html><body>Server Error</body></html>"
            return _error(refusal.status, refusal.code, refusal.message)
        if to in self.slow:
            # Never within a client's timeout, however slow or fast this machine is.
            self.stopping.wait()
        wamid = f"wamid.HBgL{next(self._ids):012d}FQIAERgS"
        sent = SentMessage(wamid, phone_number_id, body)
        with self.lock:
            self.sent.append(sent)
        if self.on_accept is not None:
            self.on_accept(sent)
        answer: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": wamid}],
        }
        if kind == "template":
            answer["messages"][0]["message_status"] = "accepted"
        return 200, "application/json", json.dumps(answer).encode()

    def _find_problem(
        self, phone_number_id: str, kind: str, part: dict[str, Any]
    ) -> tuple[int, str, bytes] | None:
        if kind == "text":
            text = part.get("body")
            if not isinstance(text, str) or not text or len(text) > 4096:
                return _error(400, 100, "Invalid parameter text.body")
            return None
        if kind in _MEDIA_TYPES:
            return self._check_media(phone_number_id, kind, part)
        if kind != "template":
            return _error(400, 131051, "Unsupported message type")
        language = part.get("language")
        code = language.get("code") if isinstance(language, dict) else None
        expected = self.templates.get((str(part.get("name")), str(code)))
        if expected is None:
            return _error(404, 132001, "Template name does not exist in the translation")
        body_parameters = 0
        for component in part.get("components", []):
            parameters = component.get("parameters", [])
            if component.get("type") == "body":
                body_parameters = len(parameters)
                if not all(p.get("type") == "text" and p.get("text") for p in parameters):
                    return _error(400, 132012, "Parameter format does not match")
            elif component.get("type") == "header":
                [parameter] = parameters
                media_kind = parameter["type"]
                problem = self._check_media(phone_number_id, media_kind, parameter[media_kind])
                if problem is not None:
                    return problem
        if body_parameters != expected:
            return _error(400, 132000, "Number of parameters does not match")
        return None

    def _check_media(
        self, phone_number_id: str, kind: str, part: dict[str, Any]
    ) -> tuple[int, str, bytes] | None:
        stored = self.media.get(str(part.get("id")))
        if stored is None or stored.phone_number_id != phone_number_id:
            return _error(400, 131009, "Parameter value is not valid: media id")
        if kind == "audio" and "caption" in part:
            return _error(400, 100, "Param audio['caption'] is not a valid parameter")
        if kind != "document" and "filename" in part:
            return _error(400, 100, f"Param {kind}['filename'] is not a valid parameter")
        return None

    def _upload(
        self, phone_number_id: str, content_type: str, raw: bytes
    ) -> tuple[int, str, bytes]:
        if not content_type.startswith("multipart/form-data"):
            return _error(400, 100, "Upload must be multipart/form-data")
        document = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + raw
        )
        fields: dict[str, str] = {}
        upload: tuple[str, bytes, str] | None = None
        for part in document.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            if name == "file":
                upload = (part.get_filename() or "", payload, part.get_content_type())
            else:
                fields[str(name)] = payload.decode()
        if (
            fields.get("messaging_product") != "whatsapp"
            or upload is None
            or not fields.get("type")
        ):
            return _error(400, 131008, "Required parameter is missing")
        filename, data, _ = upload
        media_id = f"{next(self._ids):015d}"
        stored = StoredMedia(media_id, phone_number_id, fields["type"], filename, data)
        with self.lock:
            self.media[media_id] = stored
            self.uploads.append(stored)
        return 200, "application/json", json.dumps({"id": media_id}).encode()

    def _describe_media(self, media_id: str, token: str) -> tuple[int, str, bytes]:
        stored = self.media.get(media_id)
        if stored is None:
            return _error(404, 100, f"Object with ID '{media_id}' does not exist")
        if token != self.tokens.get(stored.phone_number_id):
            return _error(401, 190, "Invalid OAuth access token")
        answer = {
            "messaging_product": "whatsapp",
            "url": f"{self.url}/download/{media_id}",
            "mime_type": stored.content_type,
            "sha256": hashlib.sha256(stored.data).hexdigest(),
            "file_size": len(stored.data),
            "id": media_id,
        }
        return 200, "application/json", json.dumps(answer).encode()

    def _download(self, media_id: str, token: str) -> tuple[int, str, bytes]:
        stored = self.media.get(media_id)
        if stored is None:
            return 404, "text/plain", b"not found"
        if token != self.tokens.get(stored.phone_number_id):
            return 401, "text/plain", b"unauthorized"
        return 200, stored.content_type, stored.data


def _error(status: int, code: int, message: str) -> tuple[int, str, bytes]:
    error = {
        "error": {
            "message": f"(#{code}) {message}",
            "type": "OAuthException",
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": message},
            "fbtrace_id": "AbCdEfGhIjK",
        }
    }
    return status, "application/json", json.dumps(error).encode()


class _Handler(StandinHandler):
    def answer_request(self, method: str) -> None:
        raw = self.read_body()
        headers = {key.lower(): value for key, value in self.headers.items()}
        standin: GraphStandin = self.server.standin
        self.send_answer(*standin.answer(method, self.path.split("?")[0], headers, raw))


@contextmanager
def running_graph_standin() -> Iterator[GraphStandin]:
    """Serve a fresh stand-in on a free 127.0.0.1 port for the duration of the block."""
    with serving(_Handler, lambda url: GraphStandin(url=url)) as standin:
        try:
            yield standin
        finally:
            standin.stop()
