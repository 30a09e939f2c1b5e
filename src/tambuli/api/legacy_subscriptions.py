"""engageSPARK's legacy Subscription API: POST /api/v1/engagements/{id}/contacts/.

The body is one contact, a list of contacts, or {"contacts": [{"id": …}, …]}; every contact
is subscribed to the engagement in one transaction, all or none.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
import phonenumbers
from litestar import MediaType, Request, Response, post
from litestar.params import FromPath, FromQuery

from tambuli.api.auth import authorize_token, parse_path_id
from tambuli.api.bodies import ContactDetails, read_contact_input
from tambuli.api.body_fields import log_unknown_fields
from tambuli.api.runtime import runtime_of
from tambuli.campaigns.delays import resolve_zone
from tambuli.campaigns.subscriptions import NewSubscriber, find_campaign_org, subscribe_many
from tambuli.contacts import phones
from tambuli.contacts.carriers import find_carrier_id
from tambuli.contacts.models import (
    Contact,
    parse_id,
    parse_optional_id,
)
from tambuli.errors import (
    CampaignNotFound,
    InvalidField,
    MalformedJson,
    Unauthorized,
)
from tambuli.organizations import service as organizations
from tambuli.organizations.models import parse_authorization_header

MAX_CONTACTS_PER_REQUEST = 5000
REUSE_NEWEST = "newest"


class LegacyContact(ContactDetails, kw_only=True):
    """One contact of a legacy subscription request."""

    id: int | str | None = None
    full_phone_number: str | None = None
    # Accepted for compatibility; Tambuli keeps no e-mail addresses.
    email: str | None = None
    organization_id: int | str | None = None


class LegacyContactBody(msgspec.Struct, rename="camel"):
    """A contact in the legacy API's shape."""

    id: int
    full_phone_number: str
    phone_number: str
    dialing_code: str
    # 0 when the number's operator is not known (docs/decisions.md lists the IDs).
    carrier_id: int
    carrier: str
    contact_type: str
    first_name: str
    last_name: str
    language: str
    email: str
    deleted: str
    organization_id: int
    groups: list[int]
    custom_fields: dict[str, str]
    created_date: str


class LegacyResultBody(msgspec.Struct):
    """201: the subscribed contacts, in the order given."""

    data: list[LegacyContactBody]


def _read_entries(raw: bytes, route: str) -> list[LegacyContact]:
    try:
        decoded = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise MalformedJson() from exc
    if isinstance(decoded, dict) and set(decoded) == {"contacts"}:
        decoded = decoded["contacts"]
    items = decoded if isinstance(decoded, list) else [decoded]
    if not items:
        raise InvalidField("No contacts given", {"field": "contacts"})
    if len(items) > MAX_CONTACTS_PER_REQUEST:
        raise InvalidField(
            f"At most {MAX_CONTACTS_PER_REQUEST} contacts per request", {"field": "contacts"}
        )
    entries = []
    for index, item in enumerate(items):
        log_unknown_fields(item, LegacyContact, route, f"contacts[{index}]")
        try:
            entries.append(msgspec.convert(item, LegacyContact))
        except msgspec.ValidationError as exc:
            raise InvalidField(
                f"contacts[{index}]: {exc}", {"field": f"contacts[{index}]"}
            ) from exc
    return entries


def _subscriber(entry: LegacyContact, index: int, org_id: int) -> NewSubscriber:
    where = f"contacts[{index}]"
    if entry.organization_id is not None:
        given_org = parse_id(entry.organization_id, f"{where}.organizationId")
        if given_org != org_id:
            raise InvalidField(
                f"{where}.organizationId: the engagement belongs to organization {org_id}",
                {"field": f"{where}.organizationId"},
            )
    contact_id = parse_optional_id(entry.id, f"{where}.id")
    if contact_id is not None:
        return NewSubscriber(contact_id=contact_id)
    if entry.full_phone_number is None or not entry.full_phone_number.strip():
        raise InvalidField(f'{where} needs "fullPhoneNumber" or "id"', {"field": where})
    fields = read_contact_input(entry)
    return NewSubscriber(phone=phones.normalise_full_number(entry.full_phone_number), fields=fields)


def render_legacy_contact(contact: Contact) -> LegacyContactBody:
    """A contact as the legacy API shows it; createdDate in the number's own time zone."""
    number = phonenumbers.parse("+" + contact.phone, None)
    zone = resolve_zone(None, None, contact.phone)
    return LegacyContactBody(
        id=contact.id,
        full_phone_number=contact.phone,
        phone_number=str(number.national_number),
        dialing_code=str(number.country_code),
        carrier_id=find_carrier_id(contact.region, contact.carrier),
        carrier=contact.carrier,
        contact_type="NORMAL",
        first_name=contact.first_name,
        last_name=contact.last_name,
        language=contact.language,
        email="",
        deleted="",
        organization_id=contact.org_id,
        groups=list(contact.groups),
        custom_fields={str(k): v for k, v in contact.custom_fields.items()},
        created_date=_format_local(contact.created_at, zone),
    )


def _format_local(moment: datetime, zone: Any) -> str:
    return moment.astimezone(zone).replace(microsecond=0).isoformat()


@post(
    "/api/v1/engagements/{campaign_id:str}/contacts",
    operation_id="legacySubscribeContacts",
    tags=["Campaigns"],
    status_code=201,
)
async def subscribe_contacts(
    request: Request[Any, Any, Any],
    campaign_id: FromPath[str],
    try_using_existing: FromQuery[str | None] = None,
) -> Response[LegacyResultBody]:
    """Subscribe one contact, a list, or {"contacts": [{"id": …}]} to an engagement."""
    token = parse_authorization_header(request.headers.get("authorization"))
    if token is None:
        raise Unauthorized()
    runtime = runtime_of(request)
    # A bad token is 401 before anything is looked up, so it learns nothing about campaigns.
    await organizations.identify_token_user(runtime.db, token)
    wanted = parse_path_id(campaign_id)
    org_id = None if wanted is None else await find_campaign_org(runtime.db, wanted)
    if wanted is None or org_id is None:
        raise CampaignNotFound()
    try:
        principal = await authorize_token(runtime_of(request), token, org_id)
    except Unauthorized:
        # Another organization's engagement looks exactly like one that does not exist.
        raise CampaignNotFound() from None
    runtime.refuse_unless_delivering()
    if try_using_existing not in (None, "", REUSE_NEWEST):
        raise InvalidField('try_using_existing must be "newest"', {"field": "try_using_existing"})
    entries = _read_entries(await request.body(), request.url.path)
    subscribers = [_subscriber(e, i, principal.org_id) for i, e in enumerate(entries)]
    subscribed = await subscribe_many(
        runtime.db,
        runtime.clock,
        principal.org_id,
        wanted,
        subscribers,
        reuse_newest=try_using_existing == REUSE_NEWEST,
        server_sender=runtime.settings.server_sender_id,
    )
    runtime.wake_campaigns()
    body = LegacyResultBody(data=[render_legacy_contact(c) for c in subscribed])
    return Response(body, status_code=201, media_type=MediaType.JSON)
