"""The webhooks Meta sends for the Cloud API, built as its documents show, and their delivery."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

import httpx

from tests.support.graph_standin import APP_SECRET, BUSINESS_NUMBER, PHONE_NUMBER_ID, SentMessage

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
