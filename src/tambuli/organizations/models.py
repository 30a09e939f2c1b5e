"""Pure rules for organizations and API tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum

from tambuli.errors import InvalidInput

# 32 random bytes: 256 bits of entropy, URL-safe base64 (43 characters).
TOKEN_BYTES = 32
TOKEN_PREFIX_LENGTH = 8
MAX_EMAIL_LENGTH = 320
# Long enough that guessing is hopeless even when throttling is got round; bounded so that
# hashing a pasted novel cannot tie up a core.
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 200
# A one-time sign-in link works this long after it is made.
SIGN_IN_LINK_LIFETIME = timedelta(hours=24)
# A console session ends this long after sign-in, used or not.
SESSION_LIFETIME = timedelta(days=14)
# More failed sign-ins than this for one email from one address within the window are refused.
SIGN_IN_FAILURES_ALLOWED = 5
SIGN_IN_FAILURE_WINDOW = timedelta(minutes=15)


class Role(StrEnum):
    """What a member may do in an organization (each role includes the ones below it)."""

    OWNER = "owner"  # members, tokens and billing settings, besides everything an editor does
    EDITOR = "editor"  # contacts, campaigns and sends
    VIEWER = "viewer"  # reads only


ROLE_RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.OWNER: 2}


def role_allows(role: Role, needed: Role) -> bool:
    """Whether a member with `role` may do what needs `needed`."""
    return ROLE_RANK[role] >= ROLE_RANK[needed]


def parse_role(text: str) -> Role:
    """A role from its name; InvalidInput names the choices otherwise."""
    try:
        return Role(text.strip().lower())
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise InvalidInput(f"The role must be one of {choices}") from None


def normalise_email(text: str) -> str:
    """An email address as stored and compared: trimmed and lower-cased; InvalidInput when it
    cannot be an address."""
    email = text.strip().lower()
    local, at, domain = email.partition("@")
    if (
        not at
        or not local
        or "." not in domain
        or "@" in domain
        or len(email) > MAX_EMAIL_LENGTH
        or any(c.isspace() for c in email)
        or not email.isprintable()
    ):
        raise InvalidInput("That is not an email address")
    return email


def check_new_password(password: str) -> str:
    """A password a user may choose; InvalidInput says why not."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"The password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"The password must have at most {MAX_PASSWORD_LENGTH} characters")
    return password


@dataclass(frozen=True)
class Membership:
    """One organization a user belongs to, and the user's role there."""

    org_id: int
    org_name: str
    role: Role


@dataclass(frozen=True)
class ConsoleUser:
    """A person who signs in to the console, with every organization they belong to."""

    id: int
    name: str
    email: str
    is_operator: bool
    has_password: bool
    memberships: tuple[Membership, ...]

    def membership_in(self, org_id: int) -> Membership | None:
        """The user's membership of org_id, or None when they are not a member."""
        for membership in self.memberships:
            if membership.org_id == org_id:
                return membership
        return None


@dataclass(frozen=True)
class UserListing:
    """A user as `tambuli user list` shows it."""

    id: int
    name: str
    email: str | None
    is_operator: bool
    has_password: bool
    roles: tuple[tuple[int, Role], ...]


# Opt-out and opt-in keyword lists are bounded: each word is compared with every inbound SMS.
MAX_KEYWORDS = 50
MAX_KEYWORD_LENGTH = 50


def check_keyword_list(text: str) -> str:
    """A comma-separated keyword list as stored ("" restores the defaults); InvalidInput when
    it is too long or holds NUL characters."""
    words = [w.strip() for w in text.split(",") if w.strip()]
    if len(words) > MAX_KEYWORDS or any(len(w) > MAX_KEYWORD_LENGTH for w in words):
        raise InvalidInput(f"at most {MAX_KEYWORDS} words of up to {MAX_KEYWORD_LENGTH} characters")
    if any("\x00" in w for w in words):
        raise InvalidInput("NUL characters are not allowed")
    return ",".join(words)


def parse_window_hours(hours: str) -> int:
    """A delivery window given in hours (decimals allowed) as whole seconds; InvalidInput
    when it is not a positive number."""
    try:
        value = Decimal(hours.strip())
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value <= 0:
        raise InvalidInput(f"{hours!r} is not a number of hours")
    return int((value * 3600).to_integral_value(rounding=ROUND_HALF_UP))


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
