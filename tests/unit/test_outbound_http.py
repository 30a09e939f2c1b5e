"""OutboundHttp against a real server on 127.0.0.1: bodies, pinning, redirects, cookies, limits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import pytest
from aiohttp import BodyPartReader, web

from tambuli.outbound_http import AnswerTooLarge, CallFailed, OutboundHttp, Upload
from tests.support.server import free_port


@dataclass
class Seen:
    """What the server received."""

    headers: list[dict[str, str]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    parts: list[dict[str, tuple[str, bytes]]] = field(default_factory=list)


@dataclass
class Server:
    url: str
    seen: Seen
    release: asyncio.Event


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    """An aiohttp server with a few routes that show what a call sent."""
    seen = Seen()
    release = asyncio.Event()

    async def echo(request: web.Request) -> web.Response:
        seen.headers.append(dict(request.headers))
        seen.bodies.append(await request.read())
        return web.json_response({"ok": True}, headers={"Set-Cookie": "session=abc"})

    async def upload(request: web.Request) -> web.Response:
        parts: dict[str, tuple[str, bytes]] = {}
        async for part in await request.multipart():
            assert isinstance(part, BodyPartReader)
            parts[part.name or ""] = (part.filename or "", await part.read())
        seen.parts.append(parts)
        return web.json_response({"id": "1"})

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/echo")

    async def slow(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="late")

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 200_000)

    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    app.router.add_post("/upload", upload)
    app.router.add_get("/moved", moved)
    app.router.add_get("/slow", slow)
    app.router.add_get("/big", big)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield Server(f"http://127.0.0.1:{port}", seen, release)
    finally:
        release.set()
        await runner.cleanup()


async def test_a_json_body_and_headers_arrive_and_the_answer_is_read_whole(
    server: Server,
) -> None:
    async with OutboundHttp() as http:
        answer = await http.call(
            "POST",
            f"{server.url}/echo",
            json_body={"to": "639171234567", "text": "Maayong buntag ✓"},
            headers={"Authorization": "Bearer t"},
            time_limit=10,
        )
    assert (answer.status, json.loads(answer.content)) == (200, {"ok": True})
    assert answer.headers["content-type"].startswith("application/json")
    [headers] = server.seen.headers
    assert headers["Authorization"] == "Bearer t"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(server.seen.bodies[0]) == {"to": "639171234567", "text": "Maayong buntag ✓"}


async def test_a_form_is_url_encoded_and_files_make_a_multipart_body(server: Server) -> None:
    async with OutboundHttp() as http:
        await http.call("POST", f"{server.url}/echo", form={"a": "1 & 2"}, time_limit=10)
        await http.call(
            "POST",
            f"{server.url}/upload",
            form={"type": "image/png"},
            files={"file": Upload("a.png", b"\x89PNG", "image/png")},
            time_limit=10,
        )
    assert server.seen.headers[0]["Content-Type"] == "application/x-www-form-urlencoded"
    assert dict(parse_qsl(server.seen.bodies[0].decode())) == {"a": "1 & 2"}
    assert server.seen.parts == [{"type": ("", b"image/png"), "file": ("a.png", b"\x89PNG")}]


async def test_connect_to_keeps_the_urls_host_in_the_host_header(server: Server) -> None:
    port = server.url.rsplit(":", 1)[1]
    async with OutboundHttp() as http:
        answer = await http.call(
            "POST",
            f"http://hooks.example.org:{port}/echo",
            content=b"{}",
            connect_to="127.0.0.1",
            time_limit=10,
        )
    assert answer.status == 200
    assert server.seen.headers[0]["Host"] == f"hooks.example.org:{port}"


async def test_redirects_are_answers_not_followed_and_cookies_never_kept(server: Server) -> None:
    # By name: a cookie jar ignores cookies set by an IP address, whatever its policy.
    by_name = server.url.replace("127.0.0.1", "localhost")
    async with OutboundHttp() as http:
        moved = await http.call("GET", f"{server.url}/moved", time_limit=10)
        await http.call("GET", f"{by_name}/echo", time_limit=10)
        await http.call("GET", f"{by_name}/echo", time_limit=10)
    assert moved.status == 302
    # The first answer set a cookie; the second call must not carry it back.
    assert "Cookie" not in server.seen.headers[1]


async def test_no_answer_in_time_is_a_timeout_after_sending(server: Server) -> None:
    async with OutboundHttp() as http:
        with pytest.raises(CallFailed) as failed:
            await http.call("GET", f"{server.url}/slow", time_limit=0.2)
    assert failed.value.timed_out and not failed.value.never_sent
    assert failed.value.kind == "ReadTimeout"


async def test_a_refused_connection_was_never_sent() -> None:
    async with OutboundHttp() as http:
        with pytest.raises(CallFailed) as failed:
            await http.call("GET", f"http://127.0.0.1:{free_port()}/", time_limit=10)
    assert failed.value.never_sent and not failed.value.timed_out
    assert str(failed.value).startswith("ConnectError")


async def test_a_body_longer_than_allowed_is_cut_off(server: Server) -> None:
    async with OutboundHttp() as http:
        with pytest.raises(AnswerTooLarge):
            await http.call("GET", f"{server.url}/big", time_limit=10, max_bytes=100_000)
        answer = await http.call("GET", f"{server.url}/big", time_limit=10, max_bytes=200_000)
    assert len(answer.content) == 200_000
