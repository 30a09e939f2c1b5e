"""`tambuli serve` with a WhatsApp Cloud API channel, against the Graph API stand-in on 127.0.0.1.

Sends go through the delivery worker to the stand-in; the stand-in's statuses and a contact's
messages come back as signed webhooks to /v1/whatsapp/webhooks/{channel}. The server runs on
the system clock: every time a test asserts comes from a webhook body the test wrote.
"""

from __future__ import annotations

import json
import struct
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tests.support.cli import run_cli_json
from tests.support.graph_standin import (
    BUSINESS_NUMBER,
    OTHER_PHONE_NUMBER_ID,
    OTHER_TOKEN,
    PHONE_NUMBER_ID,
    TOKEN,
    GraphStandin,
    SentMessage,
    running_graph_standin,
)
from tests.support.graph_webhooks import message_value, sign, status_value, wrap_value
from tests.support.polling import wait_for
from tests.support.receiver import PushReceiver, running_receiver
from tests.support.server import RunningServer, running_server

CHANNEL = "whatsapp"
APP_SECRET = "e2e-app-secret"
VERIFY_TOKEN = "e2e-verify-token"
TOKEN_ENV = "TAMBULI_E2E_WHATSAPP_TOKEN"
OTHER_TOKEN_ENV = "TAMBULI_E2E_OTHER_WHATSAPP_TOKEN"
OTHER_BUSINESS_NUMBER = "15550783882"
CONTACT = "639171234567"
OTHER_CONTACT = "639181234567"
FAST = {
    "TAMBULI_WORKER_POLL_SECONDS": "0.05",
    "TAMBULI_WORKER_IDLE_POLL_SECONDS": "0.05",
    "TAMBULI_WEBHOOKS_ALLOW_PRIVATE": "1",
}


def tiny_png() -> bytes:
    """A valid PNG of one pixel."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def write_config(path: Path, graph_url: str) -> None:
    path.write_text(
        f"""
[[channels]]
name = "simulator"
kind = "simulator"

[[channels]]
name = "{CHANNEL}"
kind = "whatsapp_cloud"
app_secret = "{APP_SECRET}"
verify_token = "{VERIFY_TOKEN}"
graph_url = "{graph_url}"
messages_per_second = 0
timeout_seconds = 10

[[routes]]
name = "all"
channels = ["simulator"]
""",
        encoding="utf-8",
    )


@dataclass
class World:
    """The running server, the stand-in, the inbound receiver and one organization."""

    server: RunningServer
    standin: GraphStandin
    receiver: PushReceiver
    client: httpx.Client
    org_id: int

    @property
    def webhook_url(self) -> str:
        """Where Meta is told to send this channel's webhooks."""
        return f"{self.server.base_url}/v1/whatsapp/webhooks/{CHANNEL}"

    def post_webhook(
        self, value: dict[str, Any], secret: str | None = APP_SECRET
    ) -> httpx.Response:
        """POST one change as Meta does, signed with `secret` (unsigned when None)."""
        body = json.dumps(wrap_value(value), separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Hub-Signature-256"] = sign(body, secret)
        return httpx.post(self.webhook_url, content=body, headers=headers, timeout=30)

    def post_statuses(self, sent: SentMessage, states: list[tuple[str, int]]) -> None:
        """The stand-in's status webhooks for one message: (state, unix time) each, in order."""
        for state, at in states:
            answer = self.post_webhook(status_value(sent, state, timestamp=str(at)))
            assert answer.status_code == 200, answer.text

    def send(self, body: dict[str, Any]) -> httpx.Response:
        """POST /v1/whatsapp/contact for the organization."""
        return self.client.post("/v1/whatsapp/contact", json={"orgId": self.org_id, **body})

    def record(self, message_id: str) -> dict[str, Any]:
        """GET …/whatsapp/{id}/"""
        answer = self.client.get(f"/v1/organizations/{self.org_id}/whatsapp/{message_id}/")
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def wait_for_sent(self, count: int) -> list[SentMessage]:
        """The stand-in's accepted messages once there are `count`."""
        return list(wait_for(lambda: len(self.standin.sent) >= count and self.standin.sent, 60))


@contextmanager
def running_world(database_url: str, tmp_path: Path) -> Iterator[World]:
    """Stand-in, receiver, configured server and an organization with a Cloud number."""
    with running_graph_standin() as standin, running_receiver() as receiver:
        standin.templates[("appointment_reminder", "en")] = 1
        config = tmp_path / "tambuli.toml"
        write_config(config, standin.graph_url)
        env = {"TAMBULI_CONFIG": str(config), TOKEN_ENV: TOKEN, OTHER_TOKEN_ENV: OTHER_TOKEN}
        org = run_cli_json(
            database_url, "org", "create", "--name", "Clinic", "--balance", "5", extra_env=env
        )
        org_id = int(org["orgId"])
        run_cli_json(
            database_url,
            "org",
            "set",
            "--org",
            str(org_id),
            "--inbound-url",
            f"{receiver.url}/inbound",
            "--json",
            extra_env=env,
        )
        run_cli_json(
            database_url,
            "whatsapp",
            "numbers",
            "add",
            "--org",
            str(org_id),
            "--number",
            f"+{BUSINESS_NUMBER}",
            "--phone-number-id",
            PHONE_NUMBER_ID,
            "--token-env",
            TOKEN_ENV,
            "--channel",
            CHANNEL,
            "--json",
            extra_env=env,
        )
        run_cli_json(
            database_url,
            "whatsapp",
            "templates",
            "add",
            "--number",
            BUSINESS_NUMBER,
            "--name",
            "appointment_reminder",
            "--language",
            "en",
            "--body",
            "Your appointment is on {{1}}.",
            "--json",
            extra_env=env,
        )
        with (
            running_server(database_url, tmp_path, {**FAST, **env}) as server,
            httpx.Client(
                base_url=server.base_url,
                headers={"Authorization": f"Token {org['token']}"},
                timeout=30,
            ) as client,
        ):
            yield World(server, standin, receiver, client, org_id)


def _utc(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_messages_go_out_through_the_cloud_api_and_its_webhooks_come_back(
    fresh_database_url: str, tmp_path: Path
) -> None:
    with running_world(fresh_database_url, tmp_path) as world:
        base = int(time.time())
        # A template needs no open conversation.
        answer = world.send(
            {
                "from": BUSINESS_NUMBER,
                "fullPhoneNumber": CONTACT,
                "message": "",
                "content": {
                    "name": "appointment_reminder",
                    "language": "en",
                    "parameters": ["Monday"],
                },
            }
        )
        assert answer.status_code == 200, answer.text
        template_id = answer.json()["messageId"]
        [sent] = world.wait_for_sent(1)
        assert sent.kind == "template"
        assert sent.recipient == CONTACT
        assert sent.body["template"]["components"][0]["parameters"] == [
            {"type": "text", "text": "Monday"}
        ]
        wait_for(lambda: world.record(template_id)["done"], 30)
        world.post_statuses(sent, [("sent", base + 1), ("delivered", base + 2), ("read", base + 3)])
        record = wait_for(lambda: (r := world.record(template_id))["read"] and r, 30)
        assert record["deliveredToPhone"] == "confirmed"
        assert record["readAt"] == _utc(base + 3)
        assert record["charged"] > 0

        # Outside the 24-hour window a free-form message is refused before it is queued.
        refused = world.send({"from": BUSINESS_NUMBER, "fullPhoneNumber": CONTACT, "message": "Hi"})
        assert refused.status_code == 400, refused.text
        assert refused.json()["errorCode"] == "whatsapp.templaterequired"

        # The contact writes back: a photo with a caption, then a location.
        photo = tiny_png()
        media_id = world.standin.add_inbound_media(photo, "image/png")
        image = message_value(
            "image",
            {"id": media_id, "mime_type": "image/png", "caption": "My rash"},
            wamid="wamid.inbound-image",
            sender=CONTACT,
        )
        image["messages"][0]["timestamp"] = str(base + 4)
        assert world.post_webhook(image).status_code == 200
        # Meta delivers a body again when it is unsure; it is stored once.
        assert world.post_webhook(image).status_code == 200
        location = message_value(
            "location",
            {"latitude": 14.5995, "longitude": 120.9842, "name": "Clinic", "address": "Manila"},
            wamid="wamid.inbound-location",
            sender=CONTACT,
        )
        location["messages"][0]["timestamp"] = str(base + 5)
        assert world.post_webhook(location).status_code == 200
        inbound = world.client.get(
            f"/v1/organizations/{world.org_id}/whatsapp/", params={"dir": "inbound"}
        )
        assert inbound.status_code == 200, inbound.text
        listed = inbound.json()["messages"]
        assert [m["message"] for m in listed] == ["Clinic", "My rash"]
        pin, picture = listed
        assert pin["location"]["latitude"] == "14.5995"
        assert pin["location"]["label"] == "Clinic"
        assert len(picture["imageFiles"]) == 1
        stored = world.client.get(
            f"/v1/organizations/{world.org_id}/files/{picture['imageFiles'][0]}"
        )
        assert stored.status_code == 200
        assert stored.content == photo
        pushed = world.receiver.wait_for(lambda r: len(r) >= 2, 30)
        assert {p.json()["message"] for p in pushed} == {"My rash", "Clinic"}
        assert all(p.path == "/inbound" for p in pushed)

        # The window is open: free-form text, and an image from an uploaded File. The text's
        # `delivered` webhook overtakes the stand-in's answer to the send; it is kept and applied.
        def deliver_before_answering(accepted: SentMessage) -> None:
            if accepted.kind == "text":
                world.post_statuses(accepted, [("delivered", base + 6)])

        world.standin.on_accept = deliver_before_answering
        text = world.send(
            {"from": BUSINESS_NUMBER, "fullPhoneNumber": CONTACT, "message": "Get well soon"}
        )
        assert text.status_code == 200, text.text
        upload = world.client.post(
            f"/v1/organizations/{world.org_id}/files/",
            params={"category": "leaflets"},
            files={"upload": ("leaflet.png", photo, "image/png")},
        )
        assert upload.status_code == 200, upload.text
        with_image = world.send(
            {
                "from": BUSINESS_NUMBER,
                "fullPhoneNumber": CONTACT,
                "message": "Your leaflet",
                "image": upload.json()["filename"],
            }
        )
        assert with_image.status_code == 200, with_image.text
        sent_all = world.wait_for_sent(3)
        by_kind = {s.kind: s for s in sent_all}
        assert by_kind["text"].body["text"] == {"body": "Get well soon"}
        assert by_kind["image"].body["image"]["caption"] == "Your leaflet"
        [uploaded] = world.standin.uploads
        assert uploaded.data == photo
        overtaken = wait_for(
            lambda: (
                (r := world.record(text.json()["messageId"]))["deliveredToPhone"] == "confirmed"
                and r
            ),
            30,
        )
        assert overtaken["done"]
        wait_for(lambda: world.record(with_image.json()["messageId"])["done"], 30)
        world.post_statuses(by_kind["image"], [("sent", base + 7), ("delivered", base + 8)])
        delivered = wait_for(
            lambda: (
                (r := world.record(with_image.json()["messageId"]))["deliveredToPhone"]
                == "confirmed"
                and r
            ),
            30,
        )
        assert not delivered["read"]


def test_webhooks_are_refused_without_the_app_secrets_signature_and_the_handshake_needs_the_token(
    fresh_database_url: str, tmp_path: Path
) -> None:
    with running_world(fresh_database_url, tmp_path) as world:
        handshake = {"hub.mode": "subscribe", "hub.challenge": "1158201444"}
        accepted = httpx.get(
            world.webhook_url, params={**handshake, "hub.verify_token": VERIFY_TOKEN}
        )
        assert accepted.status_code == 200
        assert accepted.headers["content-type"].startswith("text/plain")
        assert accepted.text == "1158201444"
        wrong = httpx.get(world.webhook_url, params={**handshake, "hub.verify_token": "guess"})
        assert wrong.status_code == 403
        assert wrong.json()["errorCode"] == "auth.forbidden"
        unknown = httpx.get(
            f"{world.server.base_url}/v1/whatsapp/webhooks/nosuch",
            params={**handshake, "hub.verify_token": VERIFY_TOKEN},
        )
        assert unknown.status_code == 404
        assert unknown.json()["errorCode"] == "notfound"

        inbound = message_value(
            "text", {"body": "STOP"}, wamid="wamid.forged", sender=OTHER_CONTACT
        )
        for secret in ("not-the-app-secret", None):
            refused = world.post_webhook(inbound, secret)
            assert refused.status_code == 401, refused.text
            assert refused.json()["errorCode"] == "auth.signature"
        listed = world.client.get(f"/v1/organizations/{world.org_id}/whatsapp/")
        assert listed.json()["messages"] == []
        # Whatever a signed body holds, the answer is never a 500.
        for body in (b"", b"not json", b"[]", b'{"entry": [{"changes": [null]}]}'):
            headers = {"X-Hub-Signature-256": sign(body, APP_SECRET)}
            answer = httpx.post(world.webhook_url, content=body, headers=headers)
            assert answer.status_code == 200, (body, answer.text)


def test_media_sent_to_a_number_registered_a_moment_ago_is_taken_at_once(
    fresh_database_url: str, tmp_path: Path
) -> None:
    with running_world(fresh_database_url, tmp_path) as world:
        photo = tiny_png()
        media_id = world.standin.add_inbound_media(photo, "image/png", OTHER_PHONE_NUMBER_ID)
        image = message_value(
            "image",
            {"id": media_id, "mime_type": "image/png"},
            wamid="wamid.to-the-new-number",
            display_number=OTHER_BUSINESS_NUMBER,
        )
        image["metadata"]["phone_number_id"] = OTHER_PHONE_NUMBER_ID
        # Not registered yet: the file cannot be fetched, so Meta is asked to deliver it again.
        early = world.post_webhook(image)
        assert early.status_code == 503, early.text
        assert early.json()["errorCode"] == "whatsapp.mediaunavailable"
        # Registered now, while the server's copy of the numbers is seconds old: the next
        # delivery reads them again and is taken.
        run_cli_json(
            world.server.database_url,
            "whatsapp",
            "numbers",
            "add",
            "--org",
            str(world.org_id),
            "--number",
            f"+{OTHER_BUSINESS_NUMBER}",
            "--phone-number-id",
            OTHER_PHONE_NUMBER_ID,
            "--token-env",
            OTHER_TOKEN_ENV,
            "--channel",
            CHANNEL,
            "--json",
        )
        again = world.post_webhook(image)
        assert again.status_code == 200, again.text
        listed = world.client.get(
            f"/v1/organizations/{world.org_id}/whatsapp/", params={"dir": "inbound"}
        ).json()["messages"]
        assert len(listed) == 1 and len(listed[0]["imageFiles"]) == 1, listed
