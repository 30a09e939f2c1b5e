"""GET /v1/status: this process's channels live, other worker processes' from channel_status;
only for the operator."""

from __future__ import annotations

import secrets
from datetime import timedelta

import httpx

from tambuli.channels.base import ChannelHealth, LinkState
from tambuli.clock import SystemClock
from tambuli.db.engine import Database
from tambuli.messaging.channel_status import STALE_AFTER, forget_process, write_channel_health
from tambuli.organizations import service as organizations
from tambuli.organizations.models import NewOrganization
from tests.api.conftest import TIMESTAMP, auth_header


async def test_status_shows_every_worker_process_and_marks_silent_ones_stale(
    http: httpx.AsyncClient, db: Database
) -> None:
    now = SystemClock().now()
    operator_token = await organizations.create_operator_token(db, SystemClock(), "status test")
    fresh, silent = f"fresh-{secrets.token_hex(3)}:1", f"silent-{secrets.token_hex(3)}:2"
    smpp = ChannelHealth("globe-smpp", "smpp", LinkState.DOWN, 50, window=10, reconnects=3)
    await write_channel_health(db, now, fresh, now, [smpp])
    await write_channel_health(db, now - STALE_AFTER - timedelta(seconds=5), silent, now, [smpp])
    try:
        answer = await http.get("/v1/status", headers=auth_header(operator_token))
    finally:
        await forget_process(db, fresh)
        await forget_process(db, silent)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["workers"] is True
    channels = {(c["name"], c["process"]): c for c in body["channels"]}
    # The answering process's own simulator, read live.
    own = channels[("simulator", body["process"])]
    assert (own["state"], own["stale"]) == ("up", False)
    assert TIMESTAMP.match(own["updatedAt"])
    remote = channels[("globe-smpp", fresh)]
    assert (remote["state"], remote["stale"], remote["reconnects"], remote["window"]) == (
        "down",
        False,
        3,
        10,
    )
    assert channels[("globe-smpp", silent)]["stale"] is True


async def test_status_needs_a_live_token(http: httpx.AsyncClient) -> None:
    answer = await http.get("/v1/status", headers={"Authorization": "Token nonsense"})
    assert answer.status_code == 401
    assert answer.json()["error"]


async def test_an_organization_token_cannot_read_the_status(
    http: httpx.AsyncClient, org: NewOrganization
) -> None:
    # It shows every organization's traffic, processes and channel errors.
    answer = await http.get("/v1/status", headers=auth_header(org.token))
    assert answer.status_code == 401
    assert answer.json()["error"]


async def test_a_revoked_operator_token_cannot_read_the_status(
    http: httpx.AsyncClient, db: Database
) -> None:
    clock = SystemClock()
    token = await organizations.create_operator_token(db, clock)
    assert (await http.get("/v1/status", headers=auth_header(token))).status_code == 200
    [listed] = [
        t for t in await organizations.list_operator_tokens(db) if token.startswith(t.prefix)
    ]
    await organizations.revoke_operator_token(db, clock, listed.id)
    assert (await http.get("/v1/status", headers=auth_header(token))).status_code == 401
