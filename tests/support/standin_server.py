"""The HTTP plumbing the providers' stand-ins share: a threaded server on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

Standin = TypeVar("Standin")


class StandinServer(ThreadingHTTPServer):
    """A threaded server whose handlers reach the stand-in object as `server.standin`."""

    daemon_threads = True
    # socketserver's default backlog of 5 would stall a burst of concurrent connections.
    request_queue_size = 128
    # A slow answer may still be sleeping when the test ends; do not wait for it.
    block_on_close = False
    standin: Any

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hang up on slow answers on purpose (timeouts); that is not a failure here.
        return


class StandinHandler(BaseHTTPRequestHandler):
    """Reads a request's body and writes one answer; subclasses say what to answer."""

    server: StandinServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; Nagle plus delayed ACKs would add 40 ms each.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self.answer_request("GET")

    def do_POST(self) -> None:
        self.answer_request("POST")

    def answer_request(self, method: str) -> None:
        """Answer one request (overridden by each stand-in)."""
        self.send_answer(501, "text/plain", b"not implemented by this stand-in")

    def read_body(self) -> bytes:
        """The request body, as long as its content-length says."""
        length = int(self.headers.get("content-length", "0"))
        return self.rfile.read(length) if length else b""

    def send_answer(self, status: int, content_type: str, payload: bytes) -> None:
        """Write the status, headers and body."""
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def serving(
    handler: type[StandinHandler], make_standin: Callable[[str], Standin]
) -> Iterator[Standin]:
    """Serve a stand-in (made from its base URL) on a free 127.0.0.1 port during the block."""
    server = StandinServer(("127.0.0.1", 0), handler)
    standin = make_standin(f"http://127.0.0.1:{server.server_address[1]}")
    server.standin = standin
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield standin
    finally:
        server.shutdown()
        server.server_close()
