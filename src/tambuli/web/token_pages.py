"""API tokens of the organization: owners make one (shown once) and revoke them; the page
lists prefixes only, as the database keeps nothing else readable."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath

from tambuli.errors import NotFound
from tambuli.organizations import service as organizations
from tambuli.organizations.models import Role
from tambuli.web.access import Member, require_member
from tambuli.web.context import console_of
from tambuli.web.rendering import render_page


async def _tokens_page(
    request: Request[Any, Any, Any], member: Member, new_token: str = "", revoked: bool = False
) -> Response[Any]:
    console = console_of(request)
    tokens = await organizations.list_tokens(console.db, member.org_id)
    return await render_page(
        request,
        "tokens.html",
        member=member,
        live=[t for t in reversed(tokens) if t.revoked_at is None],
        revoked_tokens=[t for t in reversed(tokens) if t.revoked_at is not None],
        new_token=new_token,
        revoked=revoked,
    )


@get("/orgs/{org_id:int}/tokens", include_in_schema=False)
async def tokens_page(request: Request[Any, Any, Any], org_id: FromPath[int]) -> Response[Any]:
    """Owners only: the organization's API tokens."""
    member = await require_member(request, org_id, Role.OWNER)
    return await _tokens_page(request, member)


@post("/orgs/{org_id:int}/tokens", include_in_schema=False, status_code=200)
async def create_token(request: Request[Any, Any, Any], org_id: FromPath[int]) -> Response[Any]:
    """Owners only: a new API token of the organization's own API user, shown this once.

    Never the signed-in person's own user: a token is good in every organization its user
    belongs to, and this owner may only be a viewer elsewhere."""
    member = await require_member(request, org_id, Role.OWNER)
    console = console_of(request)
    token = await organizations.create_token(console.db, console.clock, org_id)
    return await _tokens_page(request, member, new_token=token)


@post("/orgs/{org_id:int}/tokens/{token_id:int}/revoke", include_in_schema=False, status_code=200)
async def revoke_token(
    request: Request[Any, Any, Any], org_id: FromPath[int], token_id: FromPath[int]
) -> Response[Any]:
    """Owners only: revoke one of the organization's tokens; it stops working at once."""
    member = await require_member(request, org_id, Role.OWNER)
    console = console_of(request)
    try:
        await organizations.revoke_org_token(console.db, console.clock, org_id, token_id)
    except NotFound:
        raise NotFound("No such token") from None
    return await _tokens_page(request, member, revoked=True)
