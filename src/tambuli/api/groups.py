"""Groups and custom fields (Tambuli's extension, in the engageSPARK conventions)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath, JSONBody

from tambuli.api.auth import authorize_org
from tambuli.api.bodies import (
    CustomFieldBody,
    CustomFieldListBody,
    GroupBody,
    GroupListBody,
    NameBody,
    render_custom_field,
    render_group,
)
from tambuli.api.runtime import runtime_of
from tambuli.contacts import service as contacts

GROUPS_PATH = "/v1/organizations/{org_id:str}/groups"
FIELDS_PATH = "/v1/organizations/{org_id:str}/customfields"


@get(GROUPS_PATH, operation_id="listGroups", tags=["Groups"])
async def list_groups(request: Request[Any, Any, Any], org_id: FromPath[str]) -> GroupListBody:
    """Every group of the organization with its size."""
    principal = await authorize_org(request, org_id)
    found = await contacts.list_groups(runtime_of(request).db, principal.org_id)
    return GroupListBody(groups=[render_group(g) for g in found])


@post(GROUPS_PATH, operation_id="createGroup", tags=["Groups"], status_code=200)
async def create_group(
    request: Request[Any, Any, Any], org_id: FromPath[str], data: JSONBody[NameBody]
) -> GroupBody:
    """Create a group; names are unique per organization, ignoring case."""
    principal = await authorize_org(request, org_id)
    runtime = runtime_of(request)
    group = await contacts.create_group(runtime.db, runtime.clock, principal.org_id, data.name)
    return render_group(group)


@get(FIELDS_PATH, operation_id="listCustomFields", tags=["Custom fields"])
async def list_custom_fields(
    request: Request[Any, Any, Any], org_id: FromPath[str]
) -> CustomFieldListBody:
    """Every custom field of the organization, oldest first."""
    principal = await authorize_org(request, org_id)
    found = await contacts.list_custom_fields(runtime_of(request).db, principal.org_id)
    return CustomFieldListBody(custom_fields=[render_custom_field(f) for f in found])


@post(FIELDS_PATH, operation_id="createCustomField", tags=["Custom fields"], status_code=200)
async def create_custom_field(
    request: Request[Any, Any, Any], org_id: FromPath[str], data: JSONBody[NameBody]
) -> CustomFieldBody:
    """Create a custom field, or return the oldest existing one with that name (any case)."""
    principal = await authorize_org(request, org_id)
    runtime = runtime_of(request)
    field = await contacts.create_custom_field(
        runtime.db, runtime.clock, principal.org_id, data.name
    )
    return render_custom_field(field)
