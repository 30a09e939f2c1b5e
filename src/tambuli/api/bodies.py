"""Request and response structs shared by the contact routes; they also feed /openapi.json."""

from __future__ import annotations

import msgspec

from tambuli.clock import format_utc_timestamp
from tambuli.contacts.models import (
    Contact,
    ContactInput,
    CustomField,
    Group,
    check_custom_field_names,
    parse_custom_field_values,
    parse_group_ids,
)
from tambuli.errors import InvalidField


class ContactDetails(msgspec.Struct, rename="camel", kw_only=True):
    """The spec's properties_contact: what a caller may set on a contact anywhere (create,
    update, the `contact` of a subscription, a legacy subscriber)."""

    first_name: str | None = None
    last_name: str | None = None
    language: str | None = None
    groups: list[int | str] | None = None
    custom_fields: dict[str, str] | None = None
    custom_fields_by_name: dict[str, str] | None = None


class ContactFields(ContactDetails, kw_only=True):
    """Fields a caller may set on a contact (create and update)."""

    # Declared wide on purpose: the framework converts leniently ("false" and 1 would become
    # booleans), so only a real JSON boolean passes strict_bool() in the route.
    no_autodelete: bool | int | str | None = None


class CreateContactBody(ContactFields, kw_only=True):
    """POST …/contacts/: exactly one of fullPhoneNumber, or phoneNumber + phoneNumberCountry."""

    full_phone_number: str | None = None
    phone_number: str | None = None
    phone_number_country: str | None = None


class UpdateContactBody(ContactFields, kw_only=True):
    """PUT …/contacts/{id}/: only the fields given change."""

    full_phone_number: str | None = None


class SubscriptionStatusBody(msgspec.Struct, rename="camel"):
    """A contact's runs of one campaign (schema_substatus); IDs are 0 when there is none."""

    total_count: int
    in_progress_count: int
    done_count: int
    unsubbed_count: int
    error_count: int
    with_failures_count: int
    active_id: int
    last_id: int


class ContactBody(msgspec.Struct, rename="camel", omit_defaults=True):
    """A contact as engageSPARK shows it."""

    id: int
    full_phone_number: str
    first_name: str
    last_name: str
    language: str
    groups: list[int]
    custom_fields: dict[str, str]
    carrier: str
    created_at: str
    updated_at: str
    last_use_at: str
    no_autodelete: bool
    with_bsuid: bool
    invalid: bool
    # Only when the request asks for a campaign's subscription status.
    subscription: SubscriptionStatusBody | None = None


class ContactListBody(msgspec.Struct, rename="camel"):
    """One page of contacts with the matching and overall counts."""

    total: int
    org_total: int
    contacts: list[ContactBody]


class GroupBody(msgspec.Struct, rename="camel"):
    """A group of contacts."""

    id: int
    name: str
    size: int
    created_at: str


class GroupListBody(msgspec.Struct, rename="camel"):
    """Every group of the organization."""

    groups: list[GroupBody]


class CustomFieldBody(msgspec.Struct, rename="camel"):
    """A custom field definition."""

    id: int
    name: str
    created_at: str


class CustomFieldListBody(msgspec.Struct, rename="camel"):
    """Every custom field of the organization."""

    custom_fields: list[CustomFieldBody]


class NameBody(msgspec.Struct):
    """POST body that names a new group or custom field."""

    name: str


class EmptyBody(msgspec.Struct):
    """The empty JSON object `{}`."""


def read_contact_input(body: ContactDetails) -> ContactInput:
    """The contact fields of a request, checked in shape (IDs, names); None means not given."""
    no_autodelete = None
    if isinstance(body, ContactFields):
        no_autodelete = strict_bool("noAutodelete", body.no_autodelete)
    return ContactInput(
        first_name=body.first_name,
        last_name=body.last_name,
        language=body.language,
        no_autodelete=no_autodelete,
        groups=None if body.groups is None else parse_group_ids(body.groups),
        custom_fields=parse_custom_field_values(body.custom_fields or {}),
        custom_fields_by_name=check_custom_field_names(body.custom_fields_by_name or {}),
    )


def strict_bool(name: str, value: bool | int | str | None) -> bool | None:
    """A JSON boolean (or absent); anything else is refused as a wrong type."""
    if value is None or isinstance(value, bool):
        return value
    raise InvalidField(f"Expected `bool`, got `{type(value).__name__}` ({name})", {"field": name})


def render_contact(contact: Contact) -> ContactBody:
    """The API shape of a contact."""
    return ContactBody(
        id=contact.id,
        full_phone_number=contact.phone,
        first_name=contact.first_name,
        last_name=contact.last_name,
        language=contact.language,
        groups=list(contact.groups),
        custom_fields={str(k): v for k, v in contact.custom_fields.items()},
        carrier=contact.carrier,
        created_at=format_utc_timestamp(contact.created_at),
        updated_at=format_utc_timestamp(contact.updated_at),
        last_use_at=format_utc_timestamp(contact.last_use_at),
        no_autodelete=contact.no_autodelete,
        # WhatsApp-ready: the contact wrote to one of the organization's WhatsApp numbers.
        with_bsuid=contact.whatsapp_inbound_at is not None,
        invalid=contact.invalid,
    )


def render_group(group: Group) -> GroupBody:
    """The API shape of a group."""
    return GroupBody(
        id=group.id,
        name=group.name,
        size=group.size,
        created_at=format_utc_timestamp(group.created_at),
    )


def render_custom_field(field: CustomField) -> CustomFieldBody:
    """The API shape of a custom field."""
    return CustomFieldBody(
        id=field.id, name=field.name, created_at=format_utc_timestamp(field.created_at)
    )
