"""One contact: create, edit and delete, with its groups and custom fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from tambuli.contacts import phones
from tambuli.contacts import service as contacts
from tambuli.contacts.models import Contact, ContactInput
from tambuli.errors import ContactNotFound, TambuliError
from tambuli.organizations.models import Role
from tambuli.web.access import Member, require_member
from tambuli.web.context import console_of
from tambuli.web.rendering import render_page

# IDs are 64-bit in both databases; a larger one in a URL names no contact.
MAX_ID = 2**63 - 1


def _checked_id(contact_id: int) -> int:
    if not 0 < contact_id <= MAX_ID:
        raise ContactNotFound()
    return contact_id


@dataclass
class ContactFields:
    """What the contact form shows: the stored contact or what the person typed."""

    phone: str = ""
    first_name: str = ""
    last_name: str = ""
    language: str = ""
    no_autodelete: bool = False
    groups: set[int] = field(default_factory=set)
    custom: dict[int, str] = field(default_factory=dict)

    @classmethod
    def of(cls, contact: Contact) -> ContactFields:
        """The form of a stored contact."""
        return cls(
            phone="+" + contact.phone,
            first_name=contact.first_name,
            last_name=contact.last_name,
            language=contact.language,
            no_autodelete=contact.no_autodelete,
            groups=set(contact.groups),
            custom=dict(contact.custom_fields),
        )

    @classmethod
    def read(cls, form: Any) -> ContactFields:
        """The form as sent."""

        def text(name: str) -> str:
            value = form.get(name)
            return value if isinstance(value, str) else ""

        custom = {}
        for key in form:
            if key.startswith("field_") and key[6:].isdigit():
                custom[int(key[6:])] = text(key)
        return cls(
            phone=text("phone"),
            first_name=text("first_name"),
            last_name=text("last_name"),
            language=text("language"),
            no_autodelete=text("no_autodelete") == "yes",
            groups={int(g) for g in form.getall("groups", []) if g.isdigit() and len(g) < 19},
            custom=custom,
        )

    def contact_input(self) -> ContactInput:
        """What the contacts service is given."""
        return ContactInput(
            first_name=self.first_name,
            last_name=self.last_name,
            language=self.language,
            no_autodelete=self.no_autodelete,
            groups=sorted(self.groups),
            custom_fields={k: v.strip() for k, v in self.custom.items()},
        )


async def _form_page(
    request: Request[Any, Any, Any],
    member: Member,
    values: ContactFields,
    contact: Contact | None,
    status_code: int = 200,
    error: str = "",
) -> Response[Any]:
    console = console_of(request)
    return await render_page(
        request,
        "contact_form.html",
        status_code=status_code,
        member=member,
        contact=contact,
        values=values,
        groups=await contacts.list_groups(console.db, member.org_id),
        fields=await contacts.list_custom_fields(console.db, member.org_id),
        error=error,
        can_edit=member.may(Role.EDITOR),
        saved=not error and request.query_params.get("saved") == "1",
    )


@get("/orgs/{org_id:int}/contacts/new", include_in_schema=False)
async def new_contact_page(request: Request[Any, Any, Any], org_id: FromPath[int]) -> Response[Any]:
    """Editors: the empty contact form."""
    member = await require_member(request, org_id, Role.EDITOR)
    return await _form_page(request, member, ContactFields(), None)


@post("/orgs/{org_id:int}/contacts/new", include_in_schema=False, status_code=303)
async def create_contact(request: Request[Any, Any, Any], org_id: FromPath[int]) -> Response[Any]:
    """Editors: create the contact, or show the form again with the service's refusal."""
    member = await require_member(request, org_id, Role.EDITOR)
    console = console_of(request)
    values = ContactFields.read(await request.form())
    try:
        phone = phones.normalise_full_number(values.phone)
        created = await contacts.create_contact(
            console.db, console.clock, org_id, phone, values.contact_input()
        )
    except TambuliError as refused:
        return await _form_page(request, member, values, None, 400, refused.message)
    return Redirect(f"/orgs/{org_id}/contacts/{created.id}?saved=1", status_code=303)


@get("/orgs/{org_id:int}/contacts/{contact_id:int}", include_in_schema=False)
async def contact_page(
    request: Request[Any, Any, Any], org_id: FromPath[int], contact_id: FromPath[int]
) -> Response[Any]:
    """One contact: a form for editors, read-only for viewers."""
    member = await require_member(request, org_id, Role.VIEWER)
    contact = await contacts.get_contact(console_of(request).db, org_id, _checked_id(contact_id))
    page = await _form_page(request, member, ContactFields.of(contact), contact)
    return page


@post("/orgs/{org_id:int}/contacts/{contact_id:int}", include_in_schema=False, status_code=303)
async def update_contact(
    request: Request[Any, Any, Any], org_id: FromPath[int], contact_id: FromPath[int]
) -> Response[Any]:
    """Editors: save the contact's changes."""
    member = await require_member(request, org_id, Role.EDITOR)
    console = console_of(request)
    contact = await contacts.get_contact(console.db, org_id, _checked_id(contact_id))
    values = ContactFields.read(await request.form())
    try:
        phone = phones.normalise_full_number(values.phone)
        await contacts.update_contact(
            console.db, console.clock, org_id, contact_id, values.contact_input(), phone
        )
    except TambuliError as refused:
        return await _form_page(request, member, values, contact, 400, refused.message)
    return Redirect(f"/orgs/{org_id}/contacts/{contact_id}?saved=1", status_code=303)


@post(
    "/orgs/{org_id:int}/contacts/{contact_id:int}/delete",
    include_in_schema=False,
    status_code=303,
)
async def delete_contact(
    request: Request[Any, Any, Any], org_id: FromPath[int], contact_id: FromPath[int]
) -> Response[Any]:
    """Editors: delete the contact and go back to the list."""
    await require_member(request, org_id, Role.EDITOR)
    await contacts.delete_contact(console_of(request).db, org_id, _checked_id(contact_id))
    return Redirect(f"/orgs/{org_id}/contacts?deleted=1", status_code=303)


ROUTES = [new_contact_page, create_contact, contact_page, update_contact, delete_contact]
