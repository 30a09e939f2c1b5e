"""The members of an organization: everyone sees who they are; owners add people."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from tambuli.errors import InvalidInput
from tambuli.organizations import users
from tambuli.organizations.models import Role, parse_role
from tambuli.web.access import Member, require_member
from tambuli.web.context import console_of
from tambuli.web.rendering import render_page


async def _members_page(
    request: Request[Any, Any, Any],
    member: Member,
    status_code: int = 200,
    error: str = "",
    link: str = "",
    email: str = "",
    people_error: str = "",
) -> Response[Any]:
    console = console_of(request)
    listed = await users.list_users(console.db, member.org_id)
    people = [(u, next(r for o, r in u.roles if o == member.org_id)) for u in listed if u.email]
    return await render_page(
        request,
        "members.html",
        status_code=status_code,
        member=member,
        people=people,
        token_users=sum(1 for u in listed if not u.email),
        roles=[r.value for r in Role],
        error=error,
        people_error=people_error,
        link=link,
        email=email,
        can_add=member.may(Role.OWNER),
    )


@get("/orgs/{org_id:int}/members", include_in_schema=False)
async def members_page(request: Request[Any, Any, Any], org_id: FromPath[int]) -> Response[Any]:
    """The organization's people and their roles."""
    member = await require_member(request, org_id, Role.VIEWER)
    return await _members_page(request, member)


@post("/orgs/{org_id:int}/members", include_in_schema=False, status_code=200)
async def add_member(request: Request[Any, Any, Any], org_id: FromPath[int]) -> Response[Any]:
    """Owners only: give a person (new or known) a role here and show a one-time sign-in link."""
    member = await require_member(request, org_id, Role.OWNER)
    console = console_of(request)
    form = await request.form()
    email = str(form.get("email") or "")
    try:
        role = parse_role(str(form.get("role") or ""))
        token = await users.invite_person(console.db, console.clock, org_id, email, role)
    except InvalidInput as refused:
        return await _members_page(
            request, member, status_code=400, error=refused.message, email=email
        )
    if token is None:
        return await _members_page(request, member)
    base = (console.settings.public_url or str(request.base_url)).rstrip("/")
    return await _members_page(request, member, link=f"{base}/sign-in/link/{token}")


@post("/orgs/{org_id:int}/members/{user_id:int}/role", include_in_schema=False, status_code=200)
async def change_member_role(
    request: Request[Any, Any, Any], org_id: FromPath[int], user_id: FromPath[int]
) -> Response[Any]:
    """Owners only: give a member another role (the last owner stays an owner)."""
    member = await require_member(request, org_id, Role.OWNER)
    console = console_of(request)
    form = await request.form()
    try:
        role = parse_role(str(form.get("role") or ""))
        await users.change_role(console.db, console.clock, org_id, user_id, role)
    except InvalidInput as refused:
        return await _members_page(request, member, status_code=400, people_error=refused.message)
    return _after_change(org_id, user_id, member)


@post("/orgs/{org_id:int}/members/{user_id:int}/remove", include_in_schema=False, status_code=200)
async def remove_member(
    request: Request[Any, Any, Any], org_id: FromPath[int], user_id: FromPath[int]
) -> Response[Any]:
    """Owners only: take a person out of the organization (never its last owner)."""
    member = await require_member(request, org_id, Role.OWNER)
    console = console_of(request)
    try:
        await users.remove_member(console.db, org_id, user_id)
    except InvalidInput as refused:
        return await _members_page(request, member, status_code=400, people_error=refused.message)
    return _after_change(org_id, user_id, member)


def _after_change(org_id: int, user_id: int, member: Member) -> Response[Any]:
    # Someone who changed their own role or left sees the pages their new role allows.
    mine = user_id == member.user.id
    return Redirect("/" if mine else f"/orgs/{org_id}/members", status_code=303)
