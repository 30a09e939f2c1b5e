"""Who may see and do what in the console: every page asks here, and nowhere else.

Signed-out visitors are sent to the sign-in page; a signed-in user asking for an organization
they do not belong to gets the same 404 as for one that does not exist (so IDs reveal
nothing); a member whose role is too low for an action gets 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException
from litestar.handlers.base import BaseRouteHandler

from tambuli.errors import BodyTooLarge, Forbidden, NotFound
from tambuli.organizations.models import ConsoleUser, Membership, Role, role_allows
from tambuli.web.context import console_of
from tambuli.web.sessions import CSRF_FIELD, csrf_matches, read_signed_in_user


class SignInNeeded(Exception):
    """The page needs a signed-in user; the console answers with a redirect to sign in."""


class CsrfRefused(Exception):
    """A form came without this session's CSRF token; the console answers 403."""


@dataclass(frozen=True)
class Member:
    """A signed-in user acting in one of their organizations."""

    user: ConsoleUser
    membership: Membership

    @property
    def org_id(self) -> int:
        """The organization acted in."""
        return self.membership.org_id

    def may(self, needed: Role) -> bool:
        """Whether the member's role allows what needs `needed` (for showing controls)."""
        return role_allows(self.membership.role, needed)


async def require_user(request: Request[Any, Any, Any]) -> ConsoleUser:
    """The signed-in user; SignInNeeded otherwise."""
    user = await read_signed_in_user(request)
    if user is None:
        raise SignInNeeded()
    return user


async def require_member(request: Request[Any, Any, Any], org_id: int, needed: Role) -> Member:
    """The signed-in user as a member of org_id with at least the role `needed`."""
    user = await require_user(request)
    membership = user.membership_in(org_id)
    if membership is None:
        raise NotFound("No such organization")
    if not role_allows(membership.role, needed):
        raise Forbidden()
    return Member(user=user, membership=membership)


async def _discard_body(request: Request[Any, Any, Any], limit: int) -> None:
    """Read and drop a refused body (up to limit): answering while the browser still sends
    makes the server reset the connection, and the browser then shows no answer at all."""
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                return
    except HTTPException:
        return


async def require_operator(request: Request[Any, Any, Any]) -> ConsoleUser:
    """The signed-in user if they operate the installation; for anyone else the operator
    pages do not exist (404)."""
    user = await require_user(request)
    if not user.is_operator:
        raise NotFound("No such page")
    return user


# A route with this opt reads files: its body may reach Settings.max_upload_bytes.
UPLOAD_OPT = "console_upload"


async def check_csrf(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Guard of every console route: a POST must carry the session's CSRF token."""
    if connection.scope.get("method") != "POST":
        return
    request: Request[Any, Any, Any] = connection  # type: ignore[assignment]
    if handler.opt.get(UPLOAD_OPT):
        # Such a route lifts the body cap, so the form is read only when announced small.
        limit = console_of(request).settings.max_upload_bytes
        announced = request.content_length
        if announced is None or announced > limit:
            await _discard_body(request, 2 * limit)
            raise BodyTooLarge(f"The file is larger than the {limit}-byte upload limit")
    form = await request.form()
    presented = form.get(CSRF_FIELD)
    if not isinstance(presented, str) or not await csrf_matches(request, presented):
        raise CsrfRefused()
