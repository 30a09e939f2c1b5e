"""Business numbers on a Cloud API channel: the worker's channels, and each number's token
read from the environment variable it names, against the Graph API stand-in on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest

from tambuli.billing import service as billing
from tambuli.channels.secrets import Secret
from tambuli.channels.whatsapp.cloud_config import WhatsAppCloudConfig
from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.messaging.delivery import DeliveryRules
from tambuli.organizations import service as organizations
from tambuli.outbound_http import OutboundHttp
from tambuli.retries import RetryPolicy
from tambuli.settings import Settings
from tambuli.whatsapp import numbers
from tambuli.whatsapp.access_tokens import AccessTokens
from tambuli.whatsapp.delivery import WhatsAppDispatcher
from tambuli.workers.whatsapp_channels import build_whatsapp_channels
from tests.services.whatsapp_world import WhatsAppWorld
from tests.support.graph_standin import (
    BUSINESS_NUMBER,
    OTHER_PHONE_NUMBER_ID,
    OTHER_TOKEN,
    PHONE_NUMBER_ID,
    TOKEN,
    GraphStandin,
    running_graph_standin,
)

TOKEN_ENV = "CLINIC_WHATSAPP_TOKEN"


@pytest.fixture
def standin() -> Iterator[GraphStandin]:
    """The Graph API stand-in."""
    with running_graph_standin() as running:
        running.templates[("order_ready", "en")] = 2
        yield running


@pytest.fixture
async def http() -> AsyncIterator[OutboundHttp]:
    """The worker's HTTP client."""
    async with OutboundHttp() as client:
        yield client


def _dispatcher(
    world: WhatsAppWorld,
    standin: GraphStandin,
    http: OutboundHttp,
    environ: dict[str, str],
    access_token: Secret | None = None,
) -> WhatsAppDispatcher:
    config = WhatsAppCloudConfig(
        name="meta",
        app_secret=Secret("secret"),
        verify_token=Secret("verify"),
        access_token=access_token,
        graph_url=standin.graph_url,
        messages_per_second=0,
    )
    tokens = AccessTokens(environ)
    channels = build_whatsapp_channels(world.db, world.clock, Settings(), [config], http, tokens)
    assert set(channels) == {"simulator", "meta"}
    rules = DeliveryRules(retry=RetryPolicy(base=timedelta(seconds=10)))
    return WhatsAppDispatcher(world.db, world.clock, channels, rules, tokens=tokens)


async def _cloud_org(world: WhatsAppWorld, number: str, phone_number_id: str) -> int:
    created = await organizations.create_organization(world.db, world.clock, "Clinic")
    await billing.credit_balance(world.db, world.clock, created.org_id, 1_000_000, "t")
    await numbers.add_number(
        world.db, world.clock, created.org_id, number, phone_number_id, TOKEN_ENV, "meta"
    )
    await numbers.add_template(world.db, world.clock, number, "order_ready", "en", "{{1}} {{2}}")
    return created.org_id


@pytest.fixture
def world(fresh_db: Database, clock: FakeClock) -> WhatsAppWorld:
    """The WhatsApp world on a database of the test's own."""
    return WhatsAppWorld(fresh_db, clock)


async def test_a_number_on_a_cloud_channel_sends_with_the_token_its_variable_holds(
    world: WhatsAppWorld, standin: GraphStandin, http: OutboundHttp
) -> None:
    org = await _cloud_org(world, BUSINESS_NUMBER, PHONE_NUMBER_ID)
    sent = await world.template(org, BUSINESS_NUMBER, "639171230000")
    dispatcher = _dispatcher(world, standin, http, {TOKEN_ENV: TOKEN})
    assert await dispatcher.dispatch_once() == 1
    [accepted] = standin.sent
    assert accepted.phone_number_id == PHONE_NUMBER_ID
    stored = await world.message(sent)
    assert stored.handed_at is not None and stored.charged_micro > 0
    # The simulator's numbers are unaffected by the Cloud channel beside them.
    simulated_org, simulated_number = await world.new_org()
    await world.template(simulated_org, simulated_number, "639171230001")
    assert await dispatcher.dispatch_once() == 1
    assert len(standin.sent) == 1


async def test_without_its_variable_a_number_uses_the_channels_token_or_is_refused(
    world: WhatsAppWorld, standin: GraphStandin, http: OutboundHttp
) -> None:
    org = await _cloud_org(world, "15550780000", OTHER_PHONE_NUMBER_ID)
    refused = await world.template(org, "15550780000", "639171230000")
    assert await _dispatcher(world, standin, http, {}).dispatch_once() == 1
    failed = await world.message(refused)
    assert failed.status == "failed"
    assert failed.error == "no access token for this business number"
    assert failed.charged_micro == 0

    fallback = await world.template(org, "15550780000", "639171230001")
    dispatcher = _dispatcher(world, standin, http, {TOKEN_ENV: ""}, Secret(OTHER_TOKEN))
    assert await dispatcher.dispatch_once() == 1
    assert (await world.message(fallback)).handed_at is not None
    assert [s.phone_number_id for s in standin.sent] == [OTHER_PHONE_NUMBER_ID]
