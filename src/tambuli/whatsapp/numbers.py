"""WhatsApp Business numbers and their templates: what the operator registers per organization."""

from __future__ import annotations

import re

from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.billing.models import check_amount
from tambuli.clock import Clock
from tambuli.db.engine import Database
from tambuli.errors import (
    BusinessNumberNotFound,
    InvalidField,
    UnknownBusinessNumber,
)
from tambuli.organizations import service as organizations
from tambuli.whatsapp import number_store as store
from tambuli.whatsapp.models import (
    DEFAULT_PRICE_MICRO,
    check_business_number,
    check_language,
    check_template_name,
    count_template_parameters,
)

# Re-exported: the console names these without reaching the store.
from tambuli.whatsapp.number_store import BusinessNumber as BusinessNumber
from tambuli.whatsapp.number_store import StoredTemplate as StoredTemplate

# The WhatsApp simulator; any other channel a number names is a Cloud API channel of the
# channel config file (`kind = "whatsapp_cloud"`), by its name.
SIMULATOR_CHANNEL = "simulator"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A channel name as the channel config file allows it, within the column's 50 characters.
_CHANNEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,49}$")
MAX_TEMPLATE_BODY = 1024


def _check_token_env(token_env: str, channel: str) -> str:
    clean = token_env.strip()
    if clean and not _ENV_NAME.match(clean):
        raise InvalidField(
            "--token-env is the NAME of an environment variable (letters, digits, _)",
            {"field": "token_env"},
        )
    if channel != SIMULATOR_CHANNEL and not clean:
        raise InvalidField(
            "A number on a Cloud API channel needs --token-env", {"field": "token_env"}
        )
    return clean


async def add_number(
    db: Database,
    clock: Clock,
    org_id: int,
    number: str,
    phone_number_id: str,
    token_env: str,
    channel: str = "simulator",
    price_micro: int = DEFAULT_PRICE_MICRO,
) -> BusinessNumber:
    """Register a business number to an organization, or change the settings of its own."""
    digits = check_business_number(number)
    if not _CHANNEL_NAME.match(channel):
        raise InvalidField(
            f"channel is {SIMULATOR_CHANNEL} or the name of a whatsapp_cloud channel "
            "(1 to 50 letters, digits, '.', '_' or '-')",
            {"field": "channel"},
        )
    clean_id = phone_number_id.strip()
    if not clean_id or len(clean_id) > 100:
        raise InvalidField("--phone-number-id is 1 to 100 characters", {"field": "phone_number_id"})
    check_amount(price_micro)
    values = {
        "phone_number_id": clean_id,
        "token_env": _check_token_env(token_env, channel),
        "channel": channel,
        "price_micro": price_micro,
    }
    await organizations.get_organization(db, org_id)  # OrganizationNotFound when there is none
    async with db.write() as conn:
        found = await store.select_number(conn, digits)
        if found is not None and found.org_id != org_id:
            raise InvalidField(f"+{digits} is registered to organization {found.org_id}")
        if found is None:
            await store.insert_number(
                conn, {"org_id": org_id, "number": digits, "created_at": clock.now(), **values}
            )
        else:
            await store.update_number(conn, found.id, values)
        added = await store.select_number(conn, digits)
    assert added is not None
    return added


async def list_numbers(db: Database, org_id: int | None = None) -> list[BusinessNumber]:
    """The registered business numbers, of one organization when given."""
    async with db.read() as conn:
        return await store.select_numbers(conn, org_id)


async def _require_number(conn: AsyncConnection, number: str) -> BusinessNumber:
    found = await store.select_number(conn, check_business_number(number))
    if found is None:
        raise BusinessNumberNotFound(f"+{number.strip().removeprefix('+')} is not registered")
    return found


async def remove_number(db: Database, number: str) -> None:
    """Forget a business number and its templates (its messages stay)."""
    async with db.write() as conn:
        found = await _require_number(conn, number)
        await store.delete_number(conn, found.id)


async def find_sending_number_within(
    conn: AsyncConnection, org_id: int, number: str
) -> BusinessNumber:
    """The organization's business number a message is sent from; UnknownBusinessNumber if the
    number is not one, or is another organization's."""
    digits = number.strip().removeprefix("+")
    found = await store.select_number(conn, digits) if digits else None
    if found is None or found.org_id != org_id:
        raise UnknownBusinessNumber()
    return found


async def add_template(
    db: Database, clock: Clock, number: str, name: str, language: str, body: str
) -> StoredTemplate:
    """Register a template for a number (again with the same name and language: a new body)."""
    clean_name = check_template_name(name)
    clean_language = check_language(language)
    if not body.strip() or len(body) > MAX_TEMPLATE_BODY or "\x00" in body:
        raise InvalidField(f"A template body is 1 to {MAX_TEMPLATE_BODY} characters")
    values = {
        "name": clean_name,
        "language": clean_language,
        "body": body,
        "parameter_count": count_template_parameters(body),
    }
    async with db.write() as conn:
        found = await _require_number(conn, number)
        await store.upsert_template(conn, found.id, values, clock.now())
        added = await store.select_template(conn, found.id, clean_name, clean_language)
    assert added is not None
    return added


async def list_templates(db: Database, number: str) -> list[StoredTemplate]:
    """The templates of a number."""
    async with db.read() as conn:
        found = await _require_number(conn, number)
        return await store.select_templates(conn, found.id)


async def remove_template(db: Database, number: str, name: str, language: str) -> None:
    """Forget a template."""
    async with db.write() as conn:
        found = await _require_number(conn, number)
        if not await store.delete_template(conn, found.id, name.strip(), language.strip()):
            raise InvalidField(f"+{found.number} has no template {name} ({language})")


async def find_template_within(
    conn: AsyncConnection, number_id: int, name: str, language: str
) -> StoredTemplate | None:
    """A template of a number by name and language, inside the caller's transaction."""
    return await store.select_template(conn, number_id, name, language)
