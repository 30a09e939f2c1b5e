"""The webhooks Meta sends for the Cloud API, built as its documents show, and their delivery."""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx

from tests.support.graph_standin import (
    APP_SECRET,
    BUSINESS_NUMBER,
    PHONE_NUMBER_ID,
    GraphStandin,
    SentMessage,
)

WABA_ID = "102290129340398"
CONTACT = "16315551234"
CONTACT_NAME = "Kerry Fisher"
TIMESTAMP = "1714550400"  # 2024-05-01 08:00:00 UTC


def wrap_value(value: Mapping[str, Any], field: str = "messages") -> dict[str, Any]:
    """A whole webhook body around one change's value."""
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"value": dict(value), "field": field}]}],
    }


def _metadata(display_number: str = BUSINESS_NUMBER) -> dict[str, str]:
    return {"display_phone_number": display_number, "phone_number_id": PHONE_NUMBER_ID}


def status_value(
    sent: SentMessage | str,
    status: str,
    *,
    timestamp: str = TIMESTAMP,
    error: tuple[int, str] | None = None,
) -> dict[str, Any]:
    """A change value with one status of a message we sent (a SentMessage or its wamid)."""
    wamid = sent.wamid if isinstance(sent, SentMessage) else sent
    recipient = sent.recipient if isinstance(sent, SentMessage) else CONTACT
    entry: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": timestamp,
        "recipient_id": recipient,
    }
    if status in ("sent", "delivered"):
        entry["conversation"] = {"id": "CONVERSATION_ID", "origin": {"type": "service"}}
        entry["pricing"] = {"billable": True, "pricing_model": "PMP", "category": "service"}
    if error is not None:
        code, title = error
        entry["errors"] = [
            {
                "code": code,
                "title": title,
                "message": title,
                "error_data": {"details": f"{title}: details"},
                "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
            }
        ]
    return {"messaging_product": "whatsapp", "metadata": _metadata(), "statuses": [entry]}


def message_value(
    kind: str,
    content: Mapping[str, Any],
    *,
    wamid: str = "wamid.HBgLMTYzMTU1NTEyMzQVAgASGBQzQUFCQ0RFRkdISUpLTE1OT1BRAA==",
    sender: str = CONTACT,
    name: str = CONTACT_NAME,
    display_number: str = BUSINESS_NUMBER,
) -> dict[str, Any]:
    """A change value with one message a contact sent (`kind` is its type, `content` its part)."""
    return {
        "messaging_product": "whatsapp",
        "metadata": _metadata(display_number),
        "contacts": [{"profile": {"name": name}, "wa_id": sender}],
        "messages": [
            {"from": sender, "id": wamid, "timestamp": TIMESTAMP, "type": kind, kind: dict(content)}
        ],
    }


def sign(body: bytes, app_secret: str = APP_SECRET) -> str:
    """X-Hub-Signature-256 as Meta computes it, written independently of the code under test."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


async def deliver_webhook(
    client: httpx.AsyncClient,
    url: str,
    payload: Mapping[str, Any],
    *,
    app_secret: str | None = APP_SECRET,
) -> tuple[bytes, httpx.Response]:
    """POST the webhook as Meta does (signed unless app_secret is None); the bytes and answer."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "facebookexternalua"}
    if app_secret is not None:
        headers["X-Hub-Signature-256"] = sign(body, app_secret)
    return body, await client.post(url, content=body, headers=headers)


class StatusPusher:
    """Sends Meta's statuses for every message the stand-in accepts to a webhook URL.

    Each accepted message gets `sent` then `delivered` (and `read` for recipients in `reads`),
    or `failed` with the error given in `failures`; statuses are batched up to `batch` per body,
    as Meta does under load, signed with the app secret, and POSTed from one thread.
    """

    def __init__(
        self,
        url: str,
        *,
        app_secret: str = APP_SECRET,
        failures: Mapping[str, tuple[int, str]] | None = None,
        reads: set[str] | None = None,
        batch: int = 100,
    ) -> None:
        self.url = url
        self.answers: list[int] = []
        self._app_secret = app_secret
        self._failures = dict(failures or {})
        self._reads = set(reads or ())
        self._batch = batch
        self._queue: queue.Queue[SentMessage | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def attach(self, standin: GraphStandin) -> None:
        """Push statuses for what this stand-in accepts from now on."""
        standin.on_accept = self._queue.put
        if not self._thread.is_alive():
            self._thread.start()

    def wait_until_pushed(self) -> None:
        """Block until every status of every message accepted so far has been answered."""
        self._queue.join()

    def stop(self) -> None:
        """Push what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout=60)

    def statuses_for(self, sent: SentMessage) -> list[dict[str, Any]]:
        """The status entries Meta sends for one accepted message."""
        failure = self._failures.get(sent.recipient)
        if failure is not None:
            states: list[str] = ["failed"]
        else:
            states = ["sent", "delivered"] + (["read"] if sent.recipient in self._reads else [])
        entries = []
        for state in states:
            [entry] = status_value(sent, state, error=failure)["statuses"]
            entries.append(entry)
        return entries

    def _run(self) -> None:
        with httpx.Client(trust_env=False, timeout=30) as client:
            stopping = False
            while not stopping:
                taken = [self._queue.get()]
                while len(taken) < self._batch and not self._queue.empty():
                    taken.append(self._queue.get())
                stopping = None in taken
                messages = [sent for sent in taken if sent is not None]
                try:
                    if messages:
                        self._push(client, messages)
                finally:
                    for _ in taken:
                        self._queue.task_done()

    def _push(self, client: httpx.Client, messages: list[SentMessage]) -> None:
        by_number: dict[str, list[dict[str, Any]]] = {}
        for sent in messages:
            by_number.setdefault(sent.phone_number_id, []).extend(self.statuses_for(sent))
        changes = [
            {
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {
                        "display_phone_number": BUSINESS_NUMBER,
                        "phone_number_id": number,
                    },
                    "statuses": statuses,
                },
            }
            for number, statuses in by_number.items()
        ]
        payload = {
            "object": "whatsapp_business_account",
            "entry": [{"id": WABA_ID, "changes": changes}],
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": sign(body, self._app_secret),
        }
        try:
            self.answers.append(client.post(self.url, content=body, headers=headers).status_code)
        except httpx.HTTPError:
            self.answers.append(0)


@contextmanager
def pushing_statuses(standin: GraphStandin, url: str, **options: Any) -> Iterator[StatusPusher]:
    """Push statuses for the stand-in's accepted messages to url during the block."""
    pusher = StatusPusher(url, **options)
    pusher.attach(standin)
    try:
        yield pusher
    finally:
        standin.on_accept = None
        pusher.stop()
