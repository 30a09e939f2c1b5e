"""The contacts routes: list, create, get, update, delete."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, delete, get, post, put
from litestar.params import Parameter

from tambuli.api.auth import authorize_org, parse_path_id
from tambuli.api.bodies import (
    ContactBody,
    ContactFields,
    ContactListBody,
    CreateContactBody,
    EmptyBody,
    UpdateContactBody,
    render_contact,
    strict_bool,
)
from tambuli.api.runtime import runtime_of
from tambuli.contacts import phones
from tambuli.contacts import service as contacts
from tambuli.contacts.models import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    ContactFilter,
    ContactInput,
    ContactPage,
    check_custom_field_names,
    parse_custom_field_values,
    parse_group_ids,
)
from tambuli.errors import ContactNotFound, InvalidField, InvalidInput

CONTACTS_PATH = "/v1/organizations/{org_id:str}/contacts"
CONTACT_PATH = "/v1/organizations/{org_id:str}/contacts/{contact_id:str}"

# IDs and row offsets are 64-bit in both databases: a larger number from the query string
# would overflow in the database driver (a 500) instead of being refused.
MAX_DB_INT = 2**63 - 1
MAX_PAGE = MAX_DB_INT // MAX_PAGE_SIZE


def _contact_input(body: ContactFields) -> ContactInput:
    return ContactInput(
        first_name=body.first_name,
        last_name=body.last_name,
        language=body.language,
        no_autodelete=strict_bool("noAutodelete", body.no_autodelete),
        groups=None if body.groups is None else parse_group_ids(body.groups),
        custom_fields=parse_custom_field_values(body.custom_fields or {}),
        custom_fields_by_name=check_custom_field_names(body.custom_fields_by_name or {}),
    )


def _contact_id(text: str) -> int:
    value = parse_path_id(text)
    if value is None:
        raise ContactNotFound()
    return value


@get(CONTACTS_PATH, operation_id="listContacts", tags=["Contacts"])
async def list_contacts(
    request: Request[Any, Any, Any],
    org_id: str,
    page: int = 1,
    size: int = DEFAULT_PAGE_SIZE,
    search: str | None = None,
    phonenumber: str | None = None,
    region: str | None = None,
    groupid: int | None = None,
    noautodelete: bool | None = None,
    whatsappready: bool | None = None,
    conditions: str | None = None,
    subscriptionstatus: int | None = None,
    subscriptionfilter: Annotated[str | None, Parameter(pattern="^(is|isnot|was)$")] = None,
) -> ContactListBody:
    """One page of the organization's contacts, oldest first, with filters."""
    principal = await authorize_org(request, org_id)
    if conditions is not None or subscriptionstatus is not None or subscriptionfilter is not None:
        raise InvalidInput(
            "Filtering by conditions or subscriptions is not supported yet",
        )
    if page > MAX_PAGE:
        raise InvalidField(f"page must be at most {MAX_PAGE}", {"field": "page"})
    if groupid is not None and not 0 < groupid <= MAX_DB_INT:
        raise InvalidField(f"groupid: {groupid} is not an ID", {"field": "groupid"})
    if search is not None and "\x00" in search:
        # PostgreSQL text cannot hold NUL, so the query itself would fail.
        raise InvalidField("search must not contain NUL characters", {"field": "search"})
    phone: str | None = None
    if phonenumber is not None:
        number = (
            phones.normalise_local_number(phonenumber, region)
            if region
            else phones.normalise_full_number(phonenumber)
        )
        phone = number.digits
    wanted = ContactFilter(
        search=search.strip() or None if search else None,
        phone=phone,
        group_id=groupid,
        no_autodelete=noautodelete,
    )
    found = await contacts.list_contacts(
        runtime_of(request).db, principal.org_id, wanted, page, size
    )
    if whatsappready:
        # No contact has a WhatsApp Business user ID here, so none is "WhatsApp ready".
        found = ContactPage(total=0, org_total=found.org_total, contacts=[])
    return ContactListBody(
        total=found.total,
        org_total=found.org_total,
        contacts=[render_contact(c) for c in found.contacts],
    )


@post(CONTACTS_PATH, operation_id="createContact", tags=["Contacts"], status_code=200)
async def create_contact(
    request: Request[Any, Any, Any], org_id: str, data: CreateContactBody
) -> ContactBody:
    """Create a contact; several contacts may share one phone number."""
    principal = await authorize_org(request, org_id)
    phone = phones.normalise_either(
        data.full_phone_number, data.phone_number, data.phone_number_country
    )
    runtime = runtime_of(request)
    contact = await contacts.create_contact(
        runtime.db, runtime.clock, principal.org_id, phone, _contact_input(data), runtime.commits
    )
    return render_contact(contact)


@get(CONTACT_PATH, operation_id="getContact", tags=["Contacts"])
async def get_contact(
    request: Request[Any, Any, Any],
    org_id: str,
    contact_id: str,
    subscriptionstatus: int | None = None,
) -> ContactBody:
    """One contact with its groups and custom fields."""
    principal = await authorize_org(request, org_id)
    if subscriptionstatus is not None:
        raise InvalidInput("Subscription status is not supported yet")
    contact = await contacts.get_contact(
        runtime_of(request).db, principal.org_id, _contact_id(contact_id)
    )
    return render_contact(contact)


@put(CONTACT_PATH, operation_id="updateContact", tags=["Contacts"])
async def update_contact(
    request: Request[Any, Any, Any], org_id: str, contact_id: str, data: UpdateContactBody
) -> ContactBody:
    """Change only the given fields of a contact."""
    principal = await authorize_org(request, org_id)
    wanted_id = _contact_id(contact_id)
    phone = None
    if data.full_phone_number is not None:
        phone = phones.normalise_full_number(data.full_phone_number)
    runtime = runtime_of(request)
    contact = await contacts.update_contact(
        runtime.db, runtime.clock, principal.org_id, wanted_id, _contact_input(data), phone
    )
    return render_contact(contact)


@delete(CONTACT_PATH, operation_id="deleteContact", tags=["Contacts"], status_code=200)
async def delete_contact(
    request: Request[Any, Any, Any], org_id: str, contact_id: str
) -> EmptyBody:
    """Delete a contact; 404 when it does not exist."""
    principal = await authorize_org(request, org_id)
    await contacts.delete_contact(runtime_of(request).db, principal.org_id, _contact_id(contact_id))
    return EmptyBody()
