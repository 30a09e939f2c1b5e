"""Pure rules for organizations and API tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

# 32 random bytes: 256 bits of entropy, URL-safe base64 (43 characters).
TOKEN_BYTES = 32
TOKEN_PREFIX_LENGTH = 8


class ClientPushEvents(StrEnum):
    """Which message events an organization has pushed to a message's clientPushURL."""

    # What engageSPARK does: each delivery receipt, and a final failure no receipt will follow;
    # the body is the stored message record alone.
    RECEIPTS = "receipts"
    # Also `accepted` when an operator takes the message, and an `event` field in every body.
    ALL = "all"


@dataclass(frozen=True)
class Organization:
    """An organization: the owner of contacts, messages and a balance."""

    id: int
    name: str
    created_at: datetime


@dataclass(frozen=True)
class NewOrganization:
    """What creating an organization returns: its ID, its owner and the owner's first token."""

    org_id: int
    user_id: int
    token: str


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user acting in one organization they are a member of."""

    user_id: int
    org_id: int


@dataclass(frozen=True)
class TokenInfo:
    """A stored token as an operator may see it (never the token itself)."""

    id: int
    user_id: int
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class OperatorTokenInfo:
    """A stored operator token as `tambuli operator token list` shows it (never the token)."""

    id: int
    prefix: str
    note: str
    created_at: datetime
    revoked_at: datetime | None


def generate_token() -> str:
    """A new random API token; never starting with "-", which command lines read as an option
    (`tambuli token revoke -abc…` would fail)."""
    while True:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        if not token.startswith("-"):
            return token


def hash_token(token: str) -> str:
    """The SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(token: str, stored_hash: str) -> bool:
    """Compare a presented token with a stored hash in constant time."""
    return hmac.compare_digest(hash_token(token), stored_hash)


def token_prefix(token: str) -> str:
    """The first characters of a token, kept so operators can tell tokens apart."""
    return token[:TOKEN_PREFIX_LENGTH]


def parse_authorization_header(value: str | None) -> str | None:
    """The token from `Authorization: Token <token>`; None for anything else.

    The scheme is compared case-insensitively; a bare token or another scheme is refused.
    """
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "token" or not token or " " in token:
        return None
    if len(token) > 256 or not token.isascii() or not token.isprintable():
        return None
    return token
