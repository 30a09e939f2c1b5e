"""Calls from Tambuli to other HTTP servers: gateways, the Graph API, Reloadly, push URLs.

Only this module imports the HTTP client library (import-linter checks it), so every channel,
provider and push speaks one small interface: `OutboundHttp.call` returns an `HttpAnswer` or
raises `CallFailed`, with the same timeouts, no redirects and no cookies for every caller.

Why aiohttp: a WhatsApp hand-off, a gateway hand-off and a push are one call per message.
Measured on this project's hand-off path with 32 calls in flight, httpx spent 0.9 to 2 ms of CPU on
each call (its connection pool's bookkeeping grows with the connections in use), aiohttp about
0.1 ms; with httpx the hand-offs alone took most of a core at a few hundred messages a second
(docs/benchmarks.md, "WhatsApp through the Cloud API channel").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from yarl import URL

# Connections kept open at once, over all peers (each peer's own limit is its channel's).
MAX_CONNECTIONS = 256


class CallFailed(Exception):
    """No answer came. `kind` names what happened; the text never holds the request.

    `timed_out`: the peer took too long (to connect or to answer). `never_sent`: no connection
    was made, so the peer cannot have acted on the request (safe to repeat anything).
    """

    def __init__(
        self, kind: str, detail: str = "", *, timed_out: bool = False, never_sent: bool = False
    ) -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.timed_out = timed_out
        self.never_sent = never_sent


class AnswerTooLarge(Exception):
    """The answer's body was longer than the caller allows; the rest was not read."""


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart/form-data body."""

    filename: str
    content: bytes
    content_type: str


@dataclass(frozen=True)
class HttpAnswer:
    """An answer: its status, headers (names in any case) and whole body."""

    status: int
    content: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The body as text (UTF-8, undecodable bytes replaced)."""
        return self.content.decode("utf-8", errors="replace")


class OutboundHttp:
    """One pool of keep-alive connections for a process's calls; close it when done."""

    def __init__(self, max_connections: int = MAX_CONNECTIONS) -> None:
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> OutboundHttp:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the open connections; a later call opens new ones."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def call(
        self,
        method: str,
        url: str,
        *,
        time_limit: float,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        form: Mapping[str, str] | None = None,
        files: Mapping[str, Upload] | None = None,
        params: Mapping[str, str | int] | None = None,
        connect_to: str | None = None,
        max_bytes: int | None = None,
    ) -> HttpAnswer:
        """Make one request and read its whole answer; CallFailed when no answer came.

        `time_limit` bounds the connection (including the wait for a free one) and each read, as
        a peer that keeps sending is not stuck. `form` with `files` makes a multipart body,
        `form` alone a URL-encoded one. `connect_to` is an IP address to connect to instead of
        looking the URL's host up again (the Host header and TLS name stay the URL's).
        `max_bytes` stops reading a longer body: AnswerTooLarge.
        """
        target = URL(url)
        request_headers = dict(headers or {})
        extra: dict[str, Any] = {}
        if connect_to is not None:
            request_headers.setdefault("Host", _host_header(target))
            if target.scheme == "https":
                extra["server_hostname"] = target.host
            target = target.with_host(connect_to)
        data = _build_body(json_body, content, form, files, request_headers)
        limits = aiohttp.ClientTimeout(total=None, connect=time_limit, sock_read=time_limit)
        try:
            async with self._open_session().request(
                method,
                target,
                headers=request_headers,
                data=data,
                params=params,
                timeout=limits,
                allow_redirects=False,
                **extra,
            ) as response:
                body = await _read_body(response, max_bytes)
                return HttpAnswer(response.status, body, response.headers)
        except TimeoutError as exc:
            connecting = isinstance(exc, aiohttp.ConnectionTimeoutError)
            kind = "ConnectTimeout" if connecting else "ReadTimeout"
            raise CallFailed(kind, timed_out=True, never_sent=connecting) from None
        except aiohttp.InvalidURL as exc:
            raise CallFailed("InvalidURL", str(exc), never_sent=True) from None
        except aiohttp.ClientConnectorError as exc:
            raise CallFailed("ConnectError", str(exc.os_error), never_sent=True) from None
        except aiohttp.ClientError as exc:
            # Never str(exc) of the request: a URL or body may carry credentials.
            raise CallFailed(_name_failure(exc)) from None

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=0)
            # No cookie jar: one peer's cookies must never reach another, nor a later call.
            self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False
            )
        return self._session


def _build_body(
    json_body: Any,
    content: bytes | None,
    form: Mapping[str, str] | None,
    files: Mapping[str, Upload] | None,
    headers: dict[str, str],
) -> Any:
    if json_body is not None:
        headers.setdefault("Content-Type", "application/json")
        return json.dumps(json_body, ensure_ascii=False, separators=(",", ":")).encode()
    if files:
        multipart = aiohttp.FormData()
        for name, value in (form or {}).items():
            multipart.add_field(name, value)
        for name, upload in files.items():
            multipart.add_field(
                name, upload.content, filename=upload.filename, content_type=upload.content_type
            )
        return multipart
    if form is not None:
        return aiohttp.FormData(dict(form))
    return content


async def _read_body(response: aiohttp.ClientResponse, max_bytes: int | None) -> bytes:
    if max_bytes is None:
        return await response.read()
    chunks = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        chunks += chunk
        if len(chunks) > max_bytes:
            raise AnswerTooLarge(f"more than {max_bytes} bytes")
    return bytes(chunks)


def _host_header(url: URL) -> str:
    host = url.raw_host or ""
    if ":" in host:
        host = f"[{host}]"
    return host if url.is_default_port() else f"{host}:{url.port}"


def _name_failure(exc: aiohttp.ClientError) -> str:
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "ServerDisconnected"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "PayloadError"
    if isinstance(exc, aiohttp.ClientResponseError):
        return "ProtocolError"
    return "ReadError"
