"""`Authorization: Token …` checking for organization routes and operator routes."""

from __future__ import annotations

from typing import Any

from litestar import Request

from tambuli.api.runtime import ApiRuntime, runtime_of
from tambuli.errors import NotFound, Unauthorized
from tambuli.organizations import service as organizations
from tambuli.organizations.models import Principal, hash_token, parse_authorization_header

# PostgreSQL BIGINT holds 19 digits; anything longer cannot name a row.
MAX_ID_DIGITS = 18


def parse_path_id(text: str) -> int | None:
    """A positive ID from a path segment, or None when it cannot be one."""
    if not text.isascii() or not text.isdigit() or len(text) > MAX_ID_DIGITS:
        return None
    value = int(text)
    return value if value > 0 else None


async def authorize_org(request: Request[Any, Any, Any], org_text: str) -> Principal:
    """The caller of a request to an organization.

    An unusable token is 401 first; a path ID that cannot be an organization is 404; an
    organization the caller is not a member of is 401, exactly like an unknown one.
    """
    token = parse_authorization_header(request.headers.get("authorization"))
    if token is None:
        raise Unauthorized()
    org_id = parse_path_id(org_text)
    if org_id is None:
        # Only a caller with a live token learns that the path itself is wrong.
        await organizations.identify_token_user(runtime_of(request).db, token)
        raise NotFound()
    return await authorize_token(runtime_of(request), token, org_id)


async def authorize_token(runtime: ApiRuntime, token: str, org_id: int) -> Principal:
    """The caller behind a token acting in org_id (cached for a few seconds)."""
    runtime.db.refuse_nested_wait()
    key = (hash_token(token), org_id)
    cached = runtime.tokens.get(key)
    if cached is not None:
        return cached

    async def check() -> Principal:
        principal = await organizations.authenticate(runtime.db, token, org_id)
        runtime.tokens.put(key, principal, runtime.settings.token_cache_seconds)
        return principal

    return await runtime.tokens.checks.load(key, check)


async def authorize_operator(request: Request[Any, Any, Any]) -> None:
    """Return when the request carries a live operator token (`tambuli operator token
    create`); Unauthorized otherwise, organization tokens included."""
    token = parse_authorization_header(request.headers.get("authorization"))
    if token is None:
        raise Unauthorized()
    await organizations.authenticate_operator(runtime_of(request).db, token)
