"""The contacts routes: list, create, get, update, delete."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from litestar import Request, delete, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from tambuli.api.auth import authorize_org, parse_path_id
from tambuli.api.bodies import (
    ContactBody,
    ContactListBody,
    CreateContactBody,
    EmptyBody,
    SubscriptionStatusBody,
    UpdateContactBody,
    read_contact_input,
    render_contact,
)
from tambuli.api.pagination import clamp_list_number, parse_query_flag, parse_query_id
from tambuli.api.runtime import runtime_of
from tambuli.campaigns import reports
from tambuli.campaigns import service as campaigns
from tambuli.contacts import phones
from tambuli.contacts import service as contacts
from tambuli.contacts.conditions import parse_conditions
from tambuli.contacts.models import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    ContactFilter,
)
from tambuli.db.engine import Database
from tambuli.errors import (
    CampaignNotFound,
    ContactNotFound,
    InvalidField,
    UnknownCampaign,
)

CONTACTS_PATH = "/v1/organizations/{org_id:str}/contacts"
CONTACT_PATH = "/v1/organizations/{org_id:str}/contacts/{contact_id:str}"

# IDs and row offsets are 64-bit in both databases: a larger number from the query string
# would overflow in the database driver (a 500) instead of being refused.
MAX_DB_INT = 2**63 - 1
MAX_PAGE = MAX_DB_INT // MAX_PAGE_SIZE


def _subscription_campaign_id(text: str | None) -> int | None:
    """The subscriptionstatus campaign ID; a number that can name no campaign is unknown."""
    if text is None or not text.strip():
        return None
    clean = text.strip()
    digits = clean.removeprefix("-")
    if not digits.isascii() or not digits.isdigit():
        raise InvalidField(
            f"subscriptionstatus: {text!r} is not a campaign ID", {"field": "subscriptionstatus"}
        )
    if len(digits) > 19 or not 0 < int(clean) <= MAX_DB_INT:
        raise UnknownCampaign(f"subscriptionstatus: {clean} is not a campaign ID")
    return int(clean)


def _contact_id(text: str) -> int:
    value = parse_path_id(text)
    if value is None:
        raise ContactNotFound()
    return value


@get(CONTACTS_PATH, operation_id="listContacts", tags=["Contacts"])
async def list_contacts(
    request: Request[Any, Any, Any],
    org_id: FromPath[str],
    page: FromQuery[int] = 1,
    size: FromQuery[int] = DEFAULT_PAGE_SIZE,
    search: FromQuery[str | None] = None,
    phonenumber: FromQuery[str | None] = None,
    region: FromQuery[str | None] = None,
    groupid: Annotated[str | None, QueryParameter(description="Group ID")] = None,
    noautodelete: Annotated[str | None, QueryParameter(description="true or false")] = None,
    whatsappready: Annotated[str | None, QueryParameter(description="true or false")] = None,
    conditions: Annotated[
        str | None, QueryParameter(description="JSON conditions filter (docs/contacts.md)")
    ] = None,
    subscriptionstatus: Annotated[str | None, QueryParameter(description="Campaign ID")] = None,
    subscriptionfilter: Annotated[
        str | None, QueryParameter(description="is, isnot or was")
    ] = None,
) -> ContactListBody:
    """One page of the organization's contacts, oldest first, with filters; an empty filter
    parameter is no filter."""
    principal = await authorize_org(request, org_id)
    wanted_conditions = parse_conditions(conditions)
    campaign_id = _subscription_campaign_id(subscriptionstatus)
    wanted_subscriptions = subscriptionfilter or None
    # Checked here, after the token: a pattern on the parameter answered 400 before 401.
    if wanted_subscriptions not in (None, "is", "isnot", "was"):
        raise InvalidField(
            "subscriptionfilter must be is, isnot or was", {"field": "subscriptionfilter"}
        )
    if wanted_subscriptions is not None and campaign_id is None:
        raise InvalidField(
            "subscriptionfilter needs subscriptionstatus (a campaign ID)",
            {"field": "subscriptionfilter"},
        )
    group_id = parse_query_id("groupid", groupid, MAX_DB_INT)
    no_autodelete = parse_query_flag("noautodelete", noautodelete)
    whatsapp_ready = parse_query_flag("whatsappready", whatsappready)
    runtime = runtime_of(request)
    if campaign_id is not None:
        await _check_campaign(runtime.db, principal.org_id, campaign_id)
    if page > MAX_PAGE:
        raise InvalidField(f"page must be at most {MAX_PAGE}", {"field": "page"})
    if search is not None and "\x00" in search:
        # PostgreSQL text cannot hold NUL, so the query itself would fail.
        raise InvalidField("search must not contain NUL characters", {"field": "search"})
    phone: str | None = None
    if phonenumber is not None and phonenumber.strip():
        number = (
            phones.normalise_local_number(phonenumber, region)
            if region
            else phones.normalise_full_number(phonenumber)
        )
        phone = number.digits
    wanted = ContactFilter(
        search=search.strip() or None if search else None,
        phone=phone,
        group_id=group_id,
        no_autodelete=no_autodelete,
        whatsapp_ready=whatsapp_ready,
        conditions=wanted_conditions,
    )
    if campaign_id is not None and wanted_subscriptions is not None:
        included, excluded = reports.filter_by_subscription(campaign_id, wanted_subscriptions)
        wanted = replace(wanted, ids_in=included, ids_not_in=excluded)
    found = await contacts.list_contacts(
        runtime.db,
        principal.org_id,
        wanted,
        clamp_list_number(page, None),
        clamp_list_number(size, MAX_PAGE_SIZE),
    )
    rendered = [render_contact(c) for c in found.contacts]
    if campaign_id is not None:
        await _add_subscriptions(runtime.db, principal.org_id, campaign_id, rendered)
    return ContactListBody(total=found.total, org_total=found.org_total, contacts=rendered)


@post(CONTACTS_PATH, operation_id="createContact", tags=["Contacts"], status_code=200)
async def create_contact(
    request: Request[Any, Any, Any], org_id: FromPath[str], data: JSONBody[CreateContactBody]
) -> ContactBody:
    """Create a contact; several contacts may share one phone number."""
    principal = await authorize_org(request, org_id)
    phone = phones.normalise_either(
        data.full_phone_number, data.phone_number, data.phone_number_country
    )
    runtime = runtime_of(request)
    contact = await contacts.create_contact(
        runtime.db,
        runtime.clock,
        principal.org_id,
        phone,
        read_contact_input(data),
        runtime.commits,
    )
    return render_contact(contact)


@get(CONTACT_PATH, operation_id="getContact", tags=["Contacts"])
async def get_contact(
    request: Request[Any, Any, Any],
    org_id: FromPath[str],
    contact_id: FromPath[str],
    subscriptionstatus: FromQuery[int | None] = None,
) -> ContactBody:
    """One contact with its groups and custom fields."""
    principal = await authorize_org(request, org_id)
    db = runtime_of(request).db
    contact = await contacts.get_contact(db, principal.org_id, _contact_id(contact_id))
    rendered = render_contact(contact)
    if subscriptionstatus is not None:
        await _check_campaign(db, principal.org_id, subscriptionstatus)
        await _add_subscriptions(db, principal.org_id, subscriptionstatus, [rendered])
    return rendered


async def _check_campaign(db: Database, org_id: int, campaign_id: int) -> None:
    if not 0 < campaign_id <= MAX_DB_INT:
        raise UnknownCampaign(f"subscriptionstatus: {campaign_id} is not a campaign ID")
    try:
        await campaigns.get_campaign(db, org_id, campaign_id)
    except CampaignNotFound:
        raise UnknownCampaign(f"No campaign with ID {campaign_id} in this organization") from None


async def _add_subscriptions(
    db: Database, org_id: int, campaign_id: int, rendered: list[ContactBody]
) -> None:
    """Fill in each contact's schema_substatus for the campaign."""
    statuses = await reports.read_subscription_statuses(
        db, org_id, campaign_id, [c.id for c in rendered]
    )
    for body in rendered:
        status = statuses[body.id]
        body.subscription = SubscriptionStatusBody(
            total_count=status.total,
            in_progress_count=status.in_progress,
            done_count=status.done,
            unsubbed_count=status.unsubscribed,
            error_count=status.error,
            with_failures_count=status.with_failures,
            active_id=status.active_id or 0,
            last_id=status.last_id or 0,
        )


@put(CONTACT_PATH, operation_id="updateContact", tags=["Contacts"])
async def update_contact(
    request: Request[Any, Any, Any],
    org_id: FromPath[str],
    contact_id: FromPath[str],
    data: JSONBody[UpdateContactBody],
) -> ContactBody:
    """Change only the given fields of a contact."""
    principal = await authorize_org(request, org_id)
    wanted_id = _contact_id(contact_id)
    phone = None
    if data.full_phone_number is not None:
        phone = phones.normalise_full_number(data.full_phone_number)
    runtime = runtime_of(request)
    contact = await contacts.update_contact(
        runtime.db, runtime.clock, principal.org_id, wanted_id, read_contact_input(data), phone
    )
    return render_contact(contact)


@delete(CONTACT_PATH, operation_id="deleteContact", tags=["Contacts"], status_code=200)
async def delete_contact(
    request: Request[Any, Any, Any], org_id: FromPath[str], contact_id: FromPath[str]
) -> EmptyBody:
    """Delete a contact; 404 when it does not exist."""
    principal = await authorize_org(request, org_id)
    await contacts.delete_contact(runtime_of(request).db, principal.org_id, _contact_id(contact_id))
    return EmptyBody()
