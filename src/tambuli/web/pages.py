"""Signing in and out, one-time sign-in links, the account page and the start page."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from tambuli.errors import InvalidInput, SignInRefused, TooManySignInAttempts
from tambuli.organizations import users
from tambuli.web.access import require_user
from tambuli.web.context import console_of
from tambuli.web.rendering import render_page
from tambuli.web.sessions import (
    cleared_session_cookie,
    read_signed_in_user,
    session_cookie,
    session_token,
    with_cookies,
)


def _form_text(form: Any, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _client_address(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client is not None else "unknown"


@get("/", include_in_schema=False)
async def start_page(request: Request[Any, Any, Any]) -> Response[Any]:
    """The first organization's dashboard, or the sign-in page."""
    user = await read_signed_in_user(request)
    if user is None:
        return Redirect("/sign-in", status_code=303)
    if user.memberships:
        return Redirect(f"/orgs/{user.memberships[0].org_id}/", status_code=303)
    return await render_page(request, "no_organization.html")


@get("/sign-in", include_in_schema=False)
async def sign_in_page(request: Request[Any, Any, Any]) -> Response[Any]:
    """The sign-in form (signed-in users go to their start page)."""
    if await read_signed_in_user(request) is not None:
        return Redirect("/", status_code=303)
    return await render_page(request, "sign_in.html", email="", error="")


@post("/sign-in", include_in_schema=False, status_code=303)
async def sign_in(request: Request[Any, Any, Any]) -> Response[Any]:
    """Check the email and password and start a session."""
    console = console_of(request)
    form = await request.form()
    email = _form_text(form, "email")
    try:
        user_id = await users.verify_sign_in(
            console.db, console.clock, email, _form_text(form, "password"), _client_address(request)
        )
    except SignInRefused as refused:
        return await render_page(
            request, "sign_in.html", status_code=401, email=email, error=refused.message
        )
    except TooManySignInAttempts as throttled:
        minutes = (throttled.retry_after_seconds + 59) // 60
        error = (
            f"Too many failed sign-ins for this email. Try again in {minutes} "
            f"minute{'s' if minutes != 1 else ''}."
        )
        page = await render_page(request, "sign_in.html", status_code=429, email=email, error=error)
        page.headers["Retry-After"] = str(throttled.retry_after_seconds)
        return page
    token = await users.start_session(console.db, console.clock, user_id)
    return with_cookies(Redirect("/", status_code=303), list(await session_cookie(request, token)))


@post("/sign-out", include_in_schema=False, status_code=303)
async def sign_out(request: Request[Any, Any, Any]) -> Response[Any]:
    """End this session."""
    token = await session_token(request)
    if token is not None:
        await users.end_session(console_of(request).db, token)
    return with_cookies(Redirect("/sign-in", status_code=303), [cleared_session_cookie(request)])


@get("/sign-in/link/{token:str}", include_in_schema=False)
async def sign_in_link_page(request: Request[Any, Any, Any], token: FromPath[str]) -> Response[Any]:
    """Ask before using a one-time link (mail scanners that open links do not use it up)."""
    return await render_page(request, "sign_in_link.html", token=token, error="")


@post("/sign-in/link/{token:str}", include_in_schema=False, status_code=303)
async def use_sign_in_link(request: Request[Any, Any, Any], token: FromPath[str]) -> Response[Any]:
    """Use a one-time link: start a session and go to the account page to set a password."""
    console = console_of(request)
    try:
        user_id = await users.use_sign_in_link(console.db, console.clock, token)
    except SignInRefused as refused:
        return await render_page(
            request, "sign_in_link.html", status_code=401, token=token, error=refused.message
        )
    session = await users.start_session(console.db, console.clock, user_id)
    return with_cookies(
        Redirect("/account", status_code=303), list(await session_cookie(request, session))
    )


@get("/account", include_in_schema=False)
async def account_page(request: Request[Any, Any, Any]) -> Response[Any]:
    """The signed-in user's account: organizations, roles and the password form."""
    await require_user(request)
    notice = ""
    if request.query_params.get("changed") == "1":
        notice = "Your password is changed. Every other session of yours is signed out."
    return await render_page(request, "account.html", error="", notice=notice)


@post("/account/password", include_in_schema=False, status_code=303)
async def change_password(request: Request[Any, Any, Any]) -> Response[Any]:
    """Set a new password, end every session of the user and start a fresh one here."""
    user = await require_user(request)
    console = console_of(request)
    form = await request.form()
    new = _form_text(form, "new_password")
    if new != _form_text(form, "repeat_password"):
        return await render_page(
            request,
            "account.html",
            status_code=400,
            error="The two new passwords differ.",
            notice="",
        )
    current = _form_text(form, "current_password") if user.has_password else None
    try:
        await users.change_password(console.db, console.clock, user.id, current, new)
    except InvalidInput as refused:
        return await render_page(
            request, "account.html", status_code=400, error=refused.message, notice=""
        )
    token = await users.start_session(console.db, console.clock, user.id)
    return with_cookies(
        Redirect("/account?changed=1", status_code=303), list(await session_cookie(request, token))
    )
