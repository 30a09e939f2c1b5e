"""A Graph API (WhatsApp Cloud API) peer for benchmarks: accepts every message at once and
sends its `sent`, `delivered` and `read` statuses back as signed webhooks.

Runs in its own process so its work does not share Tambuli's event loop:

    .venv/bin/python -m bench.graph_peer --port 8999 --webhook-url URL --app-secret S
        --report report.json [--statuses-per-webhook 50] [--status-gap 0.05]

It is deliberately small (plain asyncio, written for this benchmark; the test suite checks the
channel against a full stand-in that validates every request instead). It answers
`POST /{version}/{phone-number-id}/messages` with a wamid, and queues the message's statuses:
`sent` at once, `delivered` `--status-gap` seconds later and `read` as long again. Every
`--batch-ms` (or at once, when it has just posted) each of `--webhook-connections` keep-alive
connections posts what is due to the webhook URL, up to `--statuses-per-webhook` statuses a
body (Meta, too, puts several statuses in one body under load), signed with
X-Hub-Signature-256: the slower the answers, the fuller the bodies.

On SIGTERM or SIGINT it writes its counts (messages accepted, webhooks posted and how Tambuli
answered them) as JSON to --report and exits. Listens on and posts to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import itertools
import json
import signal
import sys
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

HOST = "127.0.0.1"
STATES = ("sent", "delivered", "read")


class Peer:
    """The accepted messages, the statuses waiting to be posted, and the counts."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.wamids = itertools.count(1)
        # One queue per state: each is in due order, since every message waits the same gap.
        self.due: list[deque[tuple[float, str, str]]] = [deque() for _ in STATES]
        self.accepted = 0
        self.requests = 0
        self.webhooks = 0
        self.statuses_posted = 0
        self.answers: dict[str, int] = {}
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.secret = args.app_secret.encode()

    def accept(self, body: bytes) -> bytes:
        """The answer to one message request; queues its statuses."""
        self.requests += 1
        try:
            to = str(json.loads(body)["to"])
        except (ValueError, KeyError, TypeError):
            return _json(400, {"error": {"code": 100, "message": "Invalid parameter"}})
        wamid = f"wamid.BENCH{next(self.wamids):012d}"
        now = time.monotonic()
        self.first_at = self.first_at or now
        self.last_at = now
        self.accepted += 1
        for index, queue in enumerate(self.due):
            queue.append((now + index * self.args.status_gap, wamid, to))
        answer = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": wamid}],
        }
        return _json(200, answer)

    def take_due(self) -> list[tuple[str, str, str]]:
        """Up to one body's worth of due statuses: (wamid, recipient, state)."""
        now = time.monotonic()
        taken: list[tuple[str, str, str]] = []
        for state, queue in zip(STATES, self.due, strict=True):
            while queue and queue[0][0] <= now and len(taken) < self.args.statuses_per_webhook:
                _, wamid, to = queue.popleft()
                taken.append((wamid, to, state))
        return taken

    def build_webhook(self, statuses: Sequence[tuple[str, str, str]]) -> tuple[bytes, str]:
        """A webhook body with these statuses, and its signature."""
        at = str(int(time.time()))
        value = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": self.args.business_number,
                "phone_number_id": self.args.phone_number_id,
            },
            "statuses": [
                {"id": wamid, "status": state, "timestamp": at, "recipient_id": to}
                for wamid, to, state in statuses
            ],
        }
        document = {
            "object": "whatsapp_business_account",
            "entry": [{"id": "0", "changes": [{"field": "messages", "value": value}]}],
        }
        body = json.dumps(document, separators=(",", ":")).encode()
        digest = hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        return body, f"sha256={digest}"


def _json(status: int, payload: object) -> bytes:
    body = json.dumps(payload, separators=(",", ":")).encode()
    reason = "OK" if status == 200 else "Bad Request"
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def read_message(reader: asyncio.StreamReader) -> tuple[str, bytes]:
    """One HTTP/1.1 request or response: its first line and body."""
    first = await reader.readline()
    if not first:
        raise ConnectionError("closed")
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    body = await reader.readexactly(length) if length else b""
    return first.decode("latin-1").strip(), body


async def serve_client(
    peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Answer the requests of one keep-alive connection."""
    try:
        while True:
            first, body = await read_message(reader)
            parts = first.split()
            path = parts[1] if len(parts) > 1 else ""
            if parts[:1] == ["POST"] and path.endswith("/messages"):
                writer.write(peer.accept(body))
            else:
                writer.write(_json(400, {"error": {"code": 100, "message": "Unsupported"}}))
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        pass
    finally:
        writer.close()


async def post_webhooks(peer: Peer, stop: asyncio.Event) -> None:
    """Post due statuses until stopped: each connection, once free, takes what is due then."""
    url = urlsplit(peer.args.webhook_url)
    port = url.port or 80

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        while not stop.is_set():
            taken = peer.take_due()
            if not taken:
                await asyncio.sleep(peer.args.batch_ms / 1000)
                continue
            body, signature = peer.build_webhook(taken)
            head = (
                f"POST {url.path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
                f"Content-Type: application/json\r\nX-Hub-Signature-256: {signature}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            )
            try:
                writer.write(head.encode() + body)
                first, _ = await read_message(reader)
                status = first.split()[1]
            except (ConnectionError, OSError, asyncio.IncompleteReadError, IndexError):
                status = "error"
                writer.close()
                reader, writer = await asyncio.open_connection(HOST, port)
            peer.webhooks += 1
            peer.statuses_posted += len(taken)
            peer.answers[status] = peer.answers.get(status, 0) + 1

    await asyncio.gather(*(connection() for _ in range(peer.args.webhook_connections)))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--webhook-url", required=True, help="Tambuli's webhook route")
    parser.add_argument("--app-secret", required=True)
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--business-number", default="15550783881")
    parser.add_argument("--phone-number-id", default="106540352242922")
    parser.add_argument("--statuses-per-webhook", type=int, default=50)
    parser.add_argument("--status-gap", type=float, default=0.05, help="seconds")
    parser.add_argument("--batch-ms", type=float, default=20.0)
    parser.add_argument("--webhook-connections", type=int, default=4)
    args = parser.parse_args(argv)
    if urlsplit(args.webhook_url).hostname != HOST:
        parser.error("--webhook-url must be on 127.0.0.1")
    return args


async def run(args: argparse.Namespace) -> None:
    """Serve and post until SIGTERM or SIGINT, then write the report."""
    peer = Peer(args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = await asyncio.start_server(lambda r, w: serve_client(peer, r, w), HOST, args.port)
    poster = asyncio.create_task(post_webhooks(peer, stop))
    await stop.wait()
    poster.cancel()
    server.close()
    report = {
        "requests": peer.requests,
        "accepted": peer.accepted,
        "webhooks": peer.webhooks,
        "statuses_posted": peer.statuses_posted,
        "answers": peer.answers,
        "accepting_s": (peer.last_at - peer.first_at) if peer.first_at and peer.last_at else 0,
    }
    args.report.write_text(json.dumps(report) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the peer."""
    asyncio.run(run(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
