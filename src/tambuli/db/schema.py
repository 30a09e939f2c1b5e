"""Every table of Tambuli, as SQLAlchemy Core. Migrations are generated from this file."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from tambuli.db.types import BigId, UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

organizations = Table(
    "organizations",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    # Derived from ledger_entries and updated in the same transaction; the guard against overdraft.
    Column("balance_micro", BigInteger, nullable=False, server_default="0"),
    Column("auto_recharge", Boolean, nullable=False, server_default="0"),
    Column("auto_recharge_threshold_micro", BigInteger, nullable=False, server_default="0"),
    Column("auto_recharge_amount_micro", BigInteger, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint("balance_micro >= 0", name="balance_not_negative"),
)

users = Table(
    "users",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

memberships = Table(
    "memberships",
    metadata,
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "org_id", BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("created_at", UTCDateTime, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    # SHA-256 of the token, hex; the token itself is never stored.
    Column("token_hash", String(64), nullable=False, unique=True),
    # First characters of the token, so an operator can tell tokens apart when revoking.
    Column("prefix", String(12), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
)

reservations = Table(
    "reservations",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("org_id", BigInteger, ForeignKey("organizations.id"), nullable=False),
    Column("amount_micro", BigInteger, nullable=False),
    Column("charged_micro", BigInteger, nullable=False, server_default="0"),
    Column("refunded_micro", BigInteger, nullable=False, server_default="0"),
    Column("status", String(16), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("reference", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime, nullable=True),
    CheckConstraint("amount_micro > 0", name="amount_positive"),
    CheckConstraint("charged_micro >= 0 AND charged_micro <= amount_micro", name="charge_bounded"),
    CheckConstraint(
        "refunded_micro >= 0 AND refunded_micro <= charged_micro", name="refund_bounded"
    ),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("org_id", BigInteger, ForeignKey("organizations.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    # Signed effect on the spendable balance: credits and releases add, reservations subtract.
    Column("amount_micro", BigInteger, nullable=False),
    Column("balance_after_micro", BigInteger, nullable=False),
    Column("reason", String(200), nullable=False),
    Column("reference", String(200), nullable=False),
    Column("reservation_id", BigInteger, ForeignKey("reservations.id"), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_ledger_entries_org_id_id", "org_id", "id"),
)

contact_groups = Table(
    "groups",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "org_id", BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    ),
    Column("name", String(200), nullable=False),
    # Lower-cased name; group names are unique per organization regardless of case.
    Column("name_key", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("org_id", "name_key", name="uq_groups_org_id_name_key"),
)

custom_fields = Table(
    "custom_fields",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "org_id", BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    ),
    Column("name", String(200), nullable=False),
    # Lower-cased name for case-insensitive lookup; duplicates allowed, the oldest wins.
    Column("name_key", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_custom_fields_org_id_name_key", "org_id", "name_key", "id"),
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "org_id", BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    ),
    # E.164 digits without the leading "+".
    Column("phone", String(20), nullable=False),
    Column("region", String(2), nullable=False, server_default=""),
    Column("carrier", String(100), nullable=False, server_default=""),
    Column("first_name", String(200), nullable=False, server_default=""),
    Column("last_name", String(200), nullable=False, server_default=""),
    Column("language", String(100), nullable=False, server_default=""),
    Column("no_autodelete", Boolean, nullable=False, server_default="0"),
    Column("invalid", Boolean, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("last_use_at", UTCDateTime, nullable=False),
    Index("ix_contacts_org_id_phone", "org_id", "phone", "id"),
    Index("ix_contacts_org_id_id", "org_id", "id"),
)

contact_group_members = Table(
    "contact_group_members",
    metadata,
    Column(
        "contact_id", BigInteger, ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("group_id", BigInteger, ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_contact_group_members_group_id", "group_id", "contact_id"),
)

contact_field_values = Table(
    "contact_field_values",
    metadata,
    Column(
        "contact_id", BigInteger, ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    ),
    Column(
        "field_id", BigInteger, ForeignKey("custom_fields.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("value", Text, nullable=False),
)
