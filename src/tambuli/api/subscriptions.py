"""POST …/engagements/{campaignId}/subscribe and …/unsubscribe (the spec's Campaigns tag)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, post
from litestar.params import FromPath, JSONBody

from tambuli.api.auth import authorize_org, parse_path_id
from tambuli.api.bodies import ContactDetails, read_contact_input, strict_bool
from tambuli.api.runtime import runtime_of
from tambuli.campaigns.subscription_intake import subscribe_contact
from tambuli.campaigns.subscriptions import SubscribeRequest, unsubscribe_contact
from tambuli.contacts import phones
from tambuli.contacts.models import (
    parse_id,
    parse_optional_id,
)
from tambuli.errors import AmbiguousPhoneNumber, UnknownCampaign

ENGAGEMENT_PATH = "/v1/organizations/{org_id:str}/engagements/{campaign_id:str}"


class SubscriptionDelay(msgspec.Struct, rename="camel", kw_only=True):
    """The spec's schema_sub_delay. Only its names are read here, so that unknown ones are
    ignored as everywhere; the values are the delay parser's to check (campaigns/delays.py)."""

    unit: Any = msgspec.UNSET
    value: Any = msgspec.UNSET
    day_of_week: Any = msgspec.UNSET
    days_of_week: Any = msgspec.UNSET
    time: Any = msgspec.UNSET
    timezone: Any = msgspec.UNSET
    country: Any = msgspec.UNSET
    # Tambuli's extensions (docs/campaigns.md): a fixed moment, and what the delay counts from.
    at: Any = msgspec.UNSET
    relative: Any = msgspec.UNSET


class SubscribeBody(msgspec.Struct, rename="camel", kw_only=True):
    """subscribeContact: exactly one of contactId, fullPhoneNumber, or phoneNumber with
    phoneNumberCountry."""

    contact_id: int | str | None = None
    full_phone_number: str | None = None
    phone_number: str | None = None
    phone_number_country: str | None = None
    # Wide on purpose, so that only a real JSON boolean passes (see strict_bool).
    allow_resubscribe: bool | int | str | None = None
    time_zone: str | None = None
    delay: SubscriptionDelay | None = None
    args: dict[str, Any] | None = None
    contact: ContactDetails | None = None


class SubscribedBody(msgspec.Struct, rename="camel"):
    """The run (subscription) created and the contact subscribed."""

    run_id: int
    contact_id: int


class UnsubscribeBody(msgspec.Struct, rename="camel"):
    """unsubscribeContact."""

    contact_id: int | str


class UnsubscribedBody(msgspec.Struct, rename="camel", omit_defaults=True):
    """The run that was ended, if the contact had an active one."""

    run_id: int | None = None


def _given_delay(delay: SubscriptionDelay) -> dict[str, Any]:
    """The delay's fields as given (absent ones left out, as the parser expects)."""
    given = msgspec.to_builtins(delay)
    assert isinstance(given, dict)
    return given


def _campaign_id(text: str) -> int:
    value = parse_path_id(text)
    if value is None:
        raise UnknownCampaign(f"{text!r} is not a campaign ID")
    return value


@post(
    ENGAGEMENT_PATH + "/subscribe",
    operation_id="subscribeContact",
    tags=["Campaigns"],
    status_code=200,
)
async def subscribe(
    request: Request[Any, Any, Any],
    org_id: FromPath[str],
    campaign_id: FromPath[str],
    data: JSONBody[SubscribeBody],
) -> SubscribedBody:
    """Subscribe a contact (found, created or updated first) to a launched, open campaign."""
    principal = await authorize_org(request, org_id)
    runtime_of(request).refuse_unless_delivering()
    wanted_campaign = _campaign_id(campaign_id)
    contact_id = parse_optional_id(data.contact_id, "contactId")
    phone = phones.normalise_optional(
        data.full_phone_number, data.phone_number, data.phone_number_country
    )
    if (phone is None) == (contact_id is None):
        raise AmbiguousPhoneNumber(
            'Exactly one of "contactId", "fullPhoneNumber", or "phoneNumber" with'
            ' "phoneNumberCountry" must be set'
        )
    allow = strict_bool("allowResubscribe", data.allow_resubscribe)
    runtime = runtime_of(request)
    done = await subscribe_contact(
        runtime.subscriptions,
        SubscribeRequest(
            org_id=principal.org_id,
            campaign_id=wanted_campaign,
            contact_id=contact_id,
            phone=phone,
            allow_resubscribe=True if allow is None else allow,
            time_zone=(data.time_zone or "").strip(),
            delay=None if data.delay is None else _given_delay(data.delay),
            args=data.args or {},
            contact=None if data.contact is None else read_contact_input(data.contact),
        ),
    )
    runtime.wake_campaigns()
    return SubscribedBody(run_id=done.run_id, contact_id=done.contact_id)


@post(
    ENGAGEMENT_PATH + "/unsubscribe",
    operation_id="unsubscribeContact",
    tags=["Campaigns"],
    status_code=200,
)
async def unsubscribe(
    request: Request[Any, Any, Any],
    org_id: FromPath[str],
    campaign_id: FromPath[str],
    data: JSONBody[UnsubscribeBody],
) -> UnsubscribedBody:
    """End the contact's active run (reported as an error); no active run is fine."""
    principal = await authorize_org(request, org_id)
    runtime_of(request).refuse_unless_delivering()
    wanted_campaign = _campaign_id(campaign_id)
    contact_id = parse_id(data.contact_id, "contactId")
    runtime = runtime_of(request)
    run_id = await unsubscribe_contact(
        runtime.db, runtime.clock, principal.org_id, wanted_campaign, contact_id
    )
    return UnsubscribedBody(run_id=run_id)
