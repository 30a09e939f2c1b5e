"""Signed session cookies and CSRF tokens.

The session cookie carries a random session token (its hash is the database row) followed by
an HMAC of it under the console's key, so a cookie that was not issued here is refused before
the database is asked. A visitor who is not signed in gets a signed "pre-session" cookie
instead, so the sign-in form has a CSRF token too. The CSRF token of a form is an HMAC of the
cookie's token: a synchronizer token that a page of another site cannot read or compute.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any

from litestar import Request, Response
from litestar.datastructures import Cookie

from tambuli.organizations import users
from tambuli.organizations.models import SESSION_LIFETIME, ConsoleUser
from tambuli.web.context import console_of

SESSION_COOKIE = "tambuli_session"
PRE_SESSION_COOKIE = "tambuli_pre"
CSRF_FIELD = "csrf_token"
# The signed-in user, once read, is kept on the request's scope for the rest of it.
_USER_KEY = "tambuli_console_user"


def _mac(key: bytes, purpose: str, token: str) -> str:
    digest = hmac.new(key, f"{purpose}|{token}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def sign_cookie_value(key: bytes, token: str) -> str:
    """The cookie text for a token: the token, a dot and its signature."""
    return f"{token}.{_mac(key, 'cookie', token)}"


def read_cookie_value(key: bytes, value: str | None) -> str | None:
    """The token of a cookie this console signed; None for anything else."""
    if not value or len(value) > 200:
        return None
    token, dot, signature = value.rpartition(".")
    if not dot or not token:
        return None
    if not hmac.compare_digest(signature, _mac(key, "cookie", token)):
        return None
    return token


def csrf_token_for(key: bytes, cookie_token: str) -> str:
    """The CSRF token forms carry for the session (or pre-session) with this token."""
    return _mac(key, "csrf", cookie_token)


def _cookie(name: str, value: str, max_age: int, secure: bool) -> Cookie:
    return Cookie(
        key=name,
        value=value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure,
    )


async def session_cookie(request: Request[Any, Any, Any], token: str) -> list[Cookie]:
    """Cookies that start a signed-in session with `token` and drop the pre-session."""
    console = console_of(request)
    key = await console.signing_key()
    secure = console.settings.secure_cookies
    lifetime = int(SESSION_LIFETIME.total_seconds())
    return [
        _cookie(SESSION_COOKIE, sign_cookie_value(key, token), lifetime, secure),
        _cookie(PRE_SESSION_COOKIE, "", 0, secure),
    ]


def cleared_session_cookie(request: Request[Any, Any, Any]) -> Cookie:
    """A cookie that makes the browser forget its session."""
    return _cookie(SESSION_COOKIE, "", 0, console_of(request).settings.secure_cookies)


async def session_token(request: Request[Any, Any, Any]) -> str | None:
    """The session token of a validly signed session cookie, or None."""
    key = await console_of(request).signing_key()
    return read_cookie_value(key, request.cookies.get(SESSION_COOKIE))


async def read_signed_in_user(request: Request[Any, Any, Any]) -> ConsoleUser | None:
    """The user of the request's live session, or None (read once per request)."""
    if _USER_KEY in request.scope:
        found: ConsoleUser | None = request.scope[_USER_KEY]  # type: ignore[literal-required]
        return found
    token = await session_token(request)
    console = console_of(request)
    user = None if token is None else await users.read_session(console.db, console.clock, token)
    request.scope[_USER_KEY] = user  # type: ignore[literal-required]
    return user


def signed_in_user_now(request: Request[Any, Any, Any]) -> ConsoleUser | None:
    """The signed-in user if read_signed_in_user already ran for this request, else None."""
    found: ConsoleUser | None = request.scope.get(_USER_KEY)  # type: ignore[assignment]
    return found


def csrf_token_now(request: Request[Any, Any, Any], key: bytes) -> tuple[str, Cookie | None]:
    """The CSRF token for the request's forms, and the pre-session cookie to set when the
    visitor had none."""
    token = read_cookie_value(key, request.cookies.get(SESSION_COOKIE)) or read_cookie_value(
        key, request.cookies.get(PRE_SESSION_COOKIE)
    )
    if token is not None:
        return csrf_token_for(key, token), None
    fresh = secrets.token_urlsafe(32)
    cookie = _cookie(
        PRE_SESSION_COOKIE,
        sign_cookie_value(key, fresh),
        int(SESSION_LIFETIME.total_seconds()),
        console_of(request).settings.secure_cookies,
    )
    return csrf_token_for(key, fresh), cookie


async def csrf_matches(request: Request[Any, Any, Any], presented: str) -> bool:
    """Whether a form's CSRF token belongs to the request's session or pre-session cookie."""
    key = await console_of(request).signing_key()
    token = await session_token(request) or read_cookie_value(
        key, request.cookies.get(PRE_SESSION_COOKIE)
    )
    if token is None or not presented:
        return False
    return hmac.compare_digest(presented, csrf_token_for(key, token))


def with_cookies(response: Response[Any], cookies: list[Cookie | None]) -> Response[Any]:
    """The response with the cookies set (None entries skipped)."""
    for cookie in cookies:
        if cookie is not None:
            response.set_cookie(cookie)
    return response
