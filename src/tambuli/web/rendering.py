"""Jinja2 templates (autoescaped) rendered into HTML responses with the page's CSRF token."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from litestar import MediaType, Request, Response

from tambuli.billing.models import format_usd_cents_down, format_usd_exact_or_cents
from tambuli.web.context import console_of
from tambuli.web.sessions import (
    CSRF_FIELD,
    csrf_token_now,
    read_signed_in_user,
    signed_in_user_now,
    with_cookies,
)

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENVIRONMENT.filters["usd"] = lambda micro: format_usd_cents_down(int(micro))
_ENVIRONMENT.filters["usd_exact"] = lambda micro: format_usd_exact_or_cents(int(micro))
_ENVIRONMENT.filters["thousands"] = lambda n: f"{int(n):,}"
_ENVIRONMENT.filters["utc"] = lambda moment: (
    moment.strftime("%Y-%m-%d %H:%M UTC") if isinstance(moment, datetime) else ""
)

# Pages are private to the signed-in person and change with every send.
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
}


async def render_page(
    request: Request[Any, Any, Any], template: str, status_code: int = 200, **values: Any
) -> Response[str]:
    """The template rendered for the request, with `user`, `csrf_token` and `current_path`."""
    await console_of(request).signing_key()
    await read_signed_in_user(request)
    return render_page_now(request, template, status_code, **values)


def render_page_now(
    request: Request[Any, Any, Any], template: str, status_code: int = 200, **values: Any
) -> Response[str]:
    """render_page for synchronous code (error handlers): the user and the signing key are
    those already read for the request (none when nothing read them)."""
    key = console_of(request).loaded_signing_key()
    token, cookie = ("", None) if key is None else csrf_token_now(request, key)
    values.setdefault("user", signed_in_user_now(request) if key is not None else None)
    values.setdefault("member", None)
    html = _ENVIRONMENT.get_template(template).render(
        csrf_field=CSRF_FIELD, csrf_token=token, current_path=request.url.path, **values
    )
    response = Response(
        html, status_code=status_code, media_type=MediaType.HTML, headers=dict(_HEADERS)
    )
    return with_cookies(response, [cookie])
