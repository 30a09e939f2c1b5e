"""A real HTTP server on 127.0.0.1 that records the pushes it is sent."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


@dataclass
class PushReceiver:
    """What a running receiver has recorded, and where it listens."""

    url: str
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self, path: str | None = None) -> list[Received]:
        """A copy of the requests so far (to one path, if given)."""
        with self.lock:
            return [r for r in self.requests if path is None or r.path == path]

    def wait_for(
        self, found: Callable[[list[Received]], bool], timeout: float = 60.0
    ) -> list[Received]:
        """Wait until `found` holds for the requests received; fails after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            snapshot = self.received()
            if found(snapshot):
                return snapshot
            if time.monotonic() > deadline:
                raise AssertionError(f"not received in {timeout}s; got {len(snapshot)} requests")
            time.sleep(0.05)


@contextmanager
def running_receiver() -> Iterator[PushReceiver]:
    """Listen on a free 127.0.0.1 port, answer 200 to every POST, record each one."""
    state: PushReceiver | None = None

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            assert state is not None
            with state.lock:
                state.requests.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state = PushReceiver(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
