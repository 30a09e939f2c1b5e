"""Every table of Tambuli, as SQLAlchemy Core. Migrations are generated from this file."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
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
    # Console sign-in: lower-cased email (None for users that only hold API tokens) and its
    # Argon2id password hash (None until a password is set, e.g. through a sign-in link).
    Column("email", String(320), nullable=True, unique=True),
    Column("password_hash", String(200), nullable=True),
    # Operators of the installation (the operator pages of the console), beside any membership.
    Column("is_operator", Boolean, nullable=False, server_default="0"),
)

memberships = Table(
    "memberships",
    metadata,
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "org_id", BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("created_at", UTCDateTime, nullable=False),
    # owner, editor or viewer (organizations.models.Role); API token holders made before roles
    # existed were the organizations' owners.
    Column("role", String(16), nullable=False, server_default="owner"),
)

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    # SHA-256 of the session token the signed cookie carries; the token itself is never stored.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_console_sessions_user_id", "user_id"),
)

sign_in_links = Table(
    "sign_in_links",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    # SHA-256 of the one-time token in the link.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=True),
)

login_failures = Table(
    "login_failures",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    # Lower-cased email as typed (it may name no user) and the client address.
    Column("email", String(320), nullable=False),
    Column("address", String(64), nullable=False),
    Column("failed_at", UTCDateTime, nullable=False),
    Index("ix_login_failures_email_address_failed_at", "email", "address", "failed_at"),
)

installation_secrets = Table(
    "installation_secrets",
    metadata,
    # Secrets of the whole installation made on first use (the console's cookie-signing key).
    Column("name", String(64), primary_key=True),
    Column("value", String(200), nullable=False),
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

operator_tokens = Table(
    "operator_tokens",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    # SHA-256 of the token, hex; the token itself is never stored.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(12), nullable=False),
    # What the operator said the token is for ("prometheus", "on-call laptop").
    Column("note", String(200), nullable=False, server_default=""),
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
    # When the contact last wrote to one of the organization's WhatsApp business numbers: it
    # is WhatsApp-ready from then on, and free-form messages may reach it for 24 hours after.
    Column("whatsapp_inbound_at", UTCDateTime, nullable=True),
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

# A file uploaded in the console's contact import, from its mapping to its report: kept here,
# not in a process's memory, so any API process behind a load balancer serves its pages.
contact_imports = Table(
    "contact_imports",
    metadata,
    # The unguessable token in the import's URLs.
    Column("id", String(32), primary_key=True),
    Column(
        "org_id", BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    ),
    Column("filename", Text, nullable=False),
    Column("data", LargeBinary, nullable=False),
    # JSON: the header, the first records, the chosen mapping.
    Column("header", Text, nullable=False),
    Column("preview", Text, nullable=False),
    Column("mapping", Text, nullable=False),
    # mapping, running, done or failed.
    Column("state", String(16), nullable=False),
    Column("total", Integer, nullable=False),
    Column("done", Integer, nullable=False, server_default="0"),
    Column("created", Integer, nullable=False, server_default="0"),
    Column("failed", Integer, nullable=False, server_default="0"),
    # JSON: the refused records with their reasons, once done.
    Column("refused", Text, nullable=False, server_default="[]"),
    Column("error", Text, nullable=False, server_default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_contact_imports_org_id", "org_id"),
    Index("ix_contact_imports_expires_at", "expires_at"),
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

organization_settings = Table(
    "organization_settings",
    metadata,
    Column(
        "org_id", BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    ),
    # Used when a send request leaves out "from".
    Column("default_sender_id", String(20), nullable=False, server_default=""),
    # How long delivery is retried after a message is accepted.
    Column("delivery_window_seconds", BigInteger, nullable=False, server_default="86400"),
    # Standard Webhooks secret ("whsec_…") that signs every push to this organization's URLs.
    Column("webhook_secret", String(100), nullable=False, server_default=""),
    # Where inbound SMS are pushed; empty means nowhere.
    Column("inbound_url", Text, nullable=False, server_default=""),
    # Comma-separated keywords that opt a number out of (and back into) campaigns; "" means
    # the defaults in organizations/profile.py.
    Column("opt_out_keywords", Text, nullable=False, server_default=""),
    Column("opt_in_keywords", Text, nullable=False, server_default=""),
    # Where the final result of every top-up is pushed; empty means nowhere.
    Column("topup_url", Text, nullable=False, server_default=""),
    # Which events go to a message's clientPushURL; see organizations.models.ClientPushEvents.
    Column("client_push_events", String(20), nullable=False, server_default="receipts"),
)

prices = Table(
    "prices",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    # Two-letter region of the destination number.
    Column("country", String(2), nullable=False),
    # Digits a destination number (E.164, no "+") starts with; "" applies to the whole country.
    Column("prefix", String(20), nullable=False, server_default=""),
    Column("price_micro", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("country", "prefix", name="uq_prices_country_prefix"),
    CheckConstraint("price_micro >= 0", name="price_not_negative"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("org_id", BigInteger, ForeignKey("organizations.id"), nullable=False),
    # "egress" (sent by the organization) or "ingress" (received from a handset).
    Column("direction", String(8), nullable=False),
    # No foreign key: a message outlives the contact it went to.
    Column("contact_id", BigInteger, nullable=True),
    Column("sender", String(20), nullable=False),
    Column("recipient", String(20), nullable=False),
    Column("body", Text, nullable=False),
    Column("encoding", String(8), nullable=False),
    Column("parts", Integer, nullable=False),
    Column("price_per_part_micro", BigInteger, nullable=False, server_default="0"),
    Column("reservation_id", BigInteger, nullable=True),
    Column("charged_micro", BigInteger, nullable=False, server_default="0"),
    Column("client_ref", Text, nullable=False, server_default=""),
    Column("client_dedup", Text, nullable=False, server_default=""),
    Column("client_push_url", Text, nullable=False, server_default=""),
    # See messaging.models.MessageStatus.
    Column("status", String(16), nullable=False),
    # deliveredToPhone: unknown, confirmed or failed.
    Column("receipt", String(16), nullable=False, server_default="unknown"),
    Column("error", Text, nullable=False, server_default=""),
    Column("delivery_error", String(100), nullable=False, server_default=""),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    # A worker's claim; once it passes, another worker may take the message over.
    Column("lease_until", UTCDateTime, nullable=True),
    Column("deadline_at", UTCDateTime, nullable=True),
    Column("channel", String(50), nullable=False, server_default=""),
    Column("operator_message_id", String(100), nullable=True),
    Column("handed_at", UTCDateTime, nullable=True),
    Column("success_parts", Integer, nullable=False, server_default="0"),
    Column("success_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # The campaign run whose step sent this message, if any.
    Column("campaign_run_id", BigInteger, nullable=True),
    Index("ix_messages_org_id_id", "org_id", "id"),
    # The console's daily counts read one organization's messages by creation time.
    Index("ix_messages_org_id_created_at", "org_id", "created_at"),
    Index("ix_messages_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_messages_recipient_handed_at", "recipient", "handed_at"),
    Index("ix_messages_channel_operator_message_id", "channel", "operator_message_id"),
)

message_day_totals = Table(
    "message_day_totals",
    metadata,
    # One organization's SMS of one UTC day, counted once the day is over by more than a day
    # (messaging/traffic.py): the console's dashboard reads these instead of the messages.
    Column(
        "org_id", BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("day", String(10), primary_key=True),
    Column("sent", BigInteger, nullable=False),
    Column("delivered", BigInteger, nullable=False),
    Column("failed", BigInteger, nullable=False),
    Column("inbound", BigInteger, nullable=False),
    Column("spent_micro", BigInteger, nullable=False),
    Column("counted_at", UTCDateTime, nullable=False),
)

message_dedup = Table(
    "message_dedup",
    metadata,
    # One row per (organization, clientDedup): the key that makes a retried POST safe.
    Column(
        "org_id", BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("client_dedup", String(200), primary_key=True),
    Column("message_id", BigInteger, ForeignKey("messages.id"), nullable=False),
)

senders = Table(
    "senders",
    metadata,
    # A sender ID (alphanumeric, short code or long number) the operator registered to one
    # organization: only it may send from it, and every inbound SMS to it is its own.
    # The key folds case and a leading "+" (messaging/senders.py), so "ACME" is "Acme".
    Column("sender_key", String(20), primary_key=True),
    Column("sender", String(20), nullable=False),
    Column("org_id", BigInteger, ForeignKey("organizations.id"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_senders_org_id", "org_id"),
)

unmatched_inbound = Table(
    "unmatched_inbound",
    metadata,
    # An inbound SMS whose organization is uncertain (docs/decisions.md): kept for the
    # operator (`tambuli inbound unmatched`), delivered to nobody.
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("channel", String(50), nullable=False),
    # Wider than a message's: what an operator sends here is kept as it came.
    Column("sender", String(50), nullable=False),
    Column("recipient", String(50), nullable=False),
    Column("body", Text, nullable=False),
    Column("operator_message_id", String(100), nullable=True),
    # The organizations with an open conversation (comma-separated IDs; "" for none).
    Column("candidates", Text, nullable=False, server_default=""),
    Column("received_at", UTCDateTime, nullable=False),
    Index("ix_unmatched_inbound_channel_operator_message_id", "channel", "operator_message_id"),
)

early_receipts = Table(
    "early_receipts",
    metadata,
    # A delivery receipt that arrived before the hand-off it belongs to was recorded: kept
    # until the Dispatcher records that hand-off and applies it (or pruned, unmatched, later).
    Column("channel", String(50), primary_key=True),
    Column("operator_message_id", String(100), primary_key=True),
    # confirmed or failed.
    Column("status", String(16), nullable=False),
    Column("delivery_error", String(100), nullable=False, server_default=""),
    Column("delivered_parts", Integer, nullable=False, server_default="0"),
    Column("received_at", UTCDateTime, nullable=False),
    Index("ix_early_receipts_received_at", "received_at"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("org_id", BigInteger, ForeignKey("organizations.id"), nullable=False),
    Column("url", Text, nullable=False),
    Column("event", String(50), nullable=False),
    # The JSON body exactly as it is sent (and signed).
    Column("payload", Text, nullable=False),
    # See webhooks.models.DeliveryStatus.
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("give_up_at", UTCDateTime, nullable=False),
    Column("last_error", Text, nullable=False, server_default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime, nullable=True),
    # The ID of what the push reports (the payload's "id": a message or a top-up), so the
    # console shows a message's pushes on its page.
    Column("subject_id", String(100), nullable=True),
    Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_webhook_deliveries_org_id_subject_id", "org_id", "subject_id"),
)

simulator_messages = Table(
    "simulator_messages",
    metadata,
    # The simulated operator's own record of every submission it accepted or refused: the
    # inbox `tambuli simulator inbox` shows, and the source of its receipts and replies.
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("operator_message_id", String(100), nullable=False),
    Column("message_id", BigInteger, nullable=False),
    Column("sender", String(20), nullable=False),
    Column("recipient", String(20), nullable=False),
    Column("body", Text, nullable=False),
    Column("parts", Integer, nullable=False),
    # What the simulated operator answered: accepted, transient or permanent.
    Column("outcome", String(16), nullable=False),
    # Receipt still owed: confirmed, failed or "" (none will come).
    Column("receipt", String(16), nullable=False, server_default=""),
    Column("receipt_due_at", UTCDateTime, nullable=True),
    Column("reply", Text, nullable=False, server_default=""),
    Column("submitted_at", UTCDateTime, nullable=False),
    Index("ix_simulator_messages_receipt_due_at", "receipt_due_at"),
    Index("ix_simulator_messages_message_id", "message_id"),
)

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("org_id", BigInteger, ForeignKey("organizations.id"), nullable=False),
    Column("name", String(200), nullable=False),
    # blast, drip, reminder or poll.
    Column("kind", String(16), nullable=False),
    # draft, launched or stopped.
    Column("state", String(16), nullable=False),
    Column("open_for_subscriptions", Boolean, nullable=False),
    # Steps, sending window and the other rules, as the JSON the campaign was created with
    # (checked): a campaign is read whole and never queried by its parts.
    Column("definition", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("launched_at", UTCDateTime, nullable=True),
    Column("stopped_at", UTCDateTime, nullable=True),
    Index("ix_campaigns_org_id_id", "org_id", "id"),
)

campaign_runs = Table(
    "campaign_runs",
    metadata,
    # One subscription of a contact to a campaign, and the queue row of its next step.
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("org_id", BigInteger, ForeignKey("organizations.id"), nullable=False),
    Column("campaign_id", BigInteger, ForeignKey("campaigns.id"), nullable=False),
    Column("contact_id", BigInteger, nullable=False),
    # The contact while the run is active (or paused), NULL once it ended: the unique
    # constraint below then allows one active run per contact and campaign.
    Column("active_contact_id", BigInteger, nullable=True),
    Column("status", String(16), nullable=False),
    Column("time_zone", String(64), nullable=False),
    # The time zone came from the subscription's timeZone: it then sets the time of day of
    # drip and reminder steps; otherwise each step's delay says (its timezone, country, UTC).
    Column("time_zone_given", Boolean, nullable=False, server_default="0"),
    Column("args", Text, nullable=False, server_default="{}"),
    # When the subscription started (after its delay) and, for reminders, the date counted from.
    Column("started_at", UTCDateTime, nullable=False),
    Column("anchor_at", UTCDateTime, nullable=True),
    # The step to fire next and the moment it is planned for; steps count from planned
    # moments, never from when a worker got round to them, so a late worker causes no drift.
    Column("step_index", Integer, nullable=False, server_default="0"),
    Column("step_due_at", UTCDateTime, nullable=True),
    # Queue column: when a worker should next look at the run (a step, a poll timeout, a
    # retry); claiming moves it to the claim's lease. NULL once the run ended.
    Column("next_fire_at", UTCDateTime, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    # Poll runs: waiting for the answer to the current question, and invalid answers so far.
    Column("awaiting_reply", Boolean, nullable=False, server_default="0"),
    Column("invalid_replies", Integer, nullable=False, server_default="0"),
    Column("steps_sent", Integer, nullable=False, server_default="0"),
    Column("with_failures", Boolean, nullable=False, server_default="0"),
    Column("last_error", Text, nullable=False, server_default=""),
    # The newest message of the run: an SMS, or a WhatsApp message for a WhatsApp step.
    Column("last_message_id", BigInteger, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime, nullable=True),
    UniqueConstraint("campaign_id", "active_contact_id"),
    Index("ix_campaign_runs_status_next_fire_at", "status", "next_fire_at"),
    Index("ix_campaign_runs_campaign_id_id", "campaign_id", "id"),
    # Runs are looked up by their contacts (subscribe checks, opt-outs, replies): the contact
    # leads, so the plan is right even before PostgreSQL has statistics on the table.
    Index("ix_campaign_runs_contact_id_campaign_id", "contact_id", "campaign_id"),
)

poll_answers = Table(
    "poll_answers",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("org_id", BigInteger, ForeignKey("organizations.id"), nullable=False),
    Column("campaign_id", BigInteger, nullable=False),
    Column("run_id", BigInteger, ForeignKey("campaign_runs.id"), nullable=False),
    Column("contact_id", BigInteger, nullable=False),
    Column("step_index", Integer, nullable=False),
    # The matched choice (or the reply itself for an open question) and what was sent.
    Column("answer", Text, nullable=False),
    Column("reply", Text, nullable=False),
    Column("message_id", BigInteger, nullable=True),
    Column("answered_at", UTCDateTime, nullable=False),
    # One answer per question and run: replaying an inbound message cannot add a second.
    UniqueConstraint("run_id", "step_index"),
    Index("ix_poll_answers_campaign_id_id", "campaign_id", "id"),
)

opt_outs = Table(
    "opt_outs",
    metadata,
    # A number that sent an opt-out keyword to the organization; campaigns do not send to it.
    Column("org_id", BigInteger, ForeignKey("organizations.id"), primary_key=True),
    Column("phone", String(20), primary_key=True),
    Column("keyword", String(50), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

topup_countries = Table(
    "topup_countries",
    metadata,
    # The imported top-up catalogue; while it is empty the built-in one applies.
    Column("code", String(2), primary_key=True),
    Column("name", String(100), nullable=False),
    # The currency recipients in this country receive (their operators may sell in USD).
    Column("local_currency", String(3), nullable=False),
)

topup_operators = Table(
    "topup_operators",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    # Stable name used in files, top-up records and the API, e.g. "ph-globe".
    Column("code", String(50), nullable=False, unique=True),
    Column("country", String(2), ForeignKey("topup_countries.code"), nullable=False),
    Column("name", String(100), nullable=False),
    # The currency the operator's amounts are sold in (PHP, or USD where only USD is sold).
    Column("currency", String(3), nullable=False),
    Column("minor_digits", Integer, nullable=False),
    # JSON lists: phonenumbers carrier names and number prefixes (E.164 digits) that are theirs.
    Column("carrier_names", Text, nullable=False, server_default="[]"),
    Column("prefixes", Text, nullable=False, server_default="[]"),
    # The operator's ID at the top-up provider, where it has one.
    Column("provider_ref", String(100), nullable=False, server_default=""),
)

topup_products = Table(
    "topup_products",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "operator_id",
        BigInteger,
        ForeignKey("topup_operators.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # "fixed": one amount; "range": amount_minor up to range_max in range_step steps.
    Column("kind", String(8), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("range_max", BigInteger, nullable=True),
    Column("range_step", BigInteger, nullable=True),
    # Fixed: the price and what the recipient receives (local minor units). Range: the same
    # per whole unit of the operator's currency.
    Column("price_micro", BigInteger, nullable=False),
    Column("received_minor", BigInteger, nullable=False),
    Index("ix_topup_products_operator_id", "operator_id"),
)

topups = Table(
    "topups",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("org_id", BigInteger, ForeignKey("organizations.id"), nullable=False),
    # No foreign key: a top-up outlives the contact it went to.
    Column("contact_id", BigInteger, nullable=True),
    Column("recipient", String(20), nullable=False),
    Column("country", String(2), nullable=False),
    # The operator as it was when the top-up was made (catalogues change).
    Column("operator_code", String(50), nullable=False),
    Column("operator_name", String(100), nullable=False),
    Column("provider_operator_ref", String(100), nullable=False, server_default=""),
    Column("currency", String(3), nullable=False),
    Column("minor_digits", Integer, nullable=False),
    # maxAmount and desiredAmount as requested, to choose again for a ported number.
    Column("max_amount", String(40), nullable=False),
    Column("desired_amount", String(40), nullable=False, server_default=""),
    Column("amount_minor", BigInteger, nullable=False),
    Column("received_minor", BigInteger, nullable=True),
    Column("received_currency", String(3), nullable=False, server_default=""),
    Column("price_micro", BigInteger, nullable=False),
    Column("reservation_id", BigInteger, nullable=True),
    Column("charged_micro", BigInteger, nullable=False, server_default="0"),
    # See topups.models.TopupStatus.
    Column("status", String(16), nullable=False),
    Column("error", Text, nullable=False, server_default=""),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
    # The provider reference of an attempt whose outcome is not known yet: it is looked up
    # before anything is sent again, so a crash mid-call cannot pay twice.
    Column("pending_ref", String(100), nullable=True),
    Column("rerouted", Boolean, nullable=False, server_default="0"),
    Column("provider", String(50), nullable=False, server_default=""),
    Column("provider_transaction_id", String(100), nullable=False, server_default=""),
    Column("client_ref", Text, nullable=False, server_default=""),
    Column("client_dedup", String(200), nullable=False, server_default=""),
    # Legacy /v1/airtime-topup: where the final result is pushed for this top-up alone.
    Column("results_url", Text, nullable=False, server_default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Index("ix_topups_org_id_id", "org_id", "id"),
    Index("ix_topups_status_next_attempt_at", "status", "next_attempt_at"),
)

topup_dedup = Table(
    "topup_dedup",
    metadata,
    # One row per (organization, clientDedup): the key that makes a retried top-up safe.
    Column(
        "org_id", BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("client_dedup", String(200), primary_key=True),
    Column("topup_id", BigInteger, ForeignKey("topups.id"), nullable=False),
)

simulator_topups = Table(
    "simulator_topups",
    metadata,
    # The simulated top-up provider's own record of what it did, so a lookup after a crash
    # answers truthfully.
    Column("reference", String(100), primary_key=True),
    Column("recipient", String(20), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    # succeeded, transient, permanent or wrong_operator.
    Column("outcome", String(16), nullable=False),
    Column("received_minor", BigInteger, nullable=True),
    Column("error", Text, nullable=False, server_default=""),
    Column("transaction_id", String(100), nullable=False, server_default=""),
    Column("created_at", UTCDateTime, nullable=False),
)

channel_status = Table(
    "channel_status",
    metadata,
    # Each worker process writes its channels' health here every few seconds, so that the API
    # and the CLI of any process can show it (the live state sits in the worker's memory).
    Column("process", String(200), primary_key=True),
    Column("channel", String(100), primary_key=True),
    Column("kind", String(16), nullable=False),
    # up, connecting, down or stopped.
    Column("state", String(16), nullable=False),
    Column("parts_per_second", Float, nullable=False),
    Column("window", Integer, nullable=False, server_default="0"),
    Column("in_flight", Integer, nullable=False, server_default="0"),
    Column("parts_sent", BigInteger, nullable=False, server_default="0"),
    Column("parts_refused", BigInteger, nullable=False, server_default="0"),
    Column("throttled", BigInteger, nullable=False, server_default="0"),
    Column("reconnects", BigInteger, nullable=False, server_default="0"),
    Column("last_error", Text, nullable=False, server_default=""),
    Column("started_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

stored_files = Table(
    "stored_files",
    metadata,
    # Media of the Files API. The bytes live in the row, so every API and worker process of an
    # installation sees them on SQLite and PostgreSQL alike (docs/decisions.md).
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("org_id", BigInteger, ForeignKey("organizations.id"), nullable=False),
    # Unique within the organization, URL-safe, derived from the title.
    Column("filename", String(200), nullable=False),
    # The uploaded file's name without its path.
    Column("title", String(255), nullable=False),
    Column("category", String(100), nullable=False),
    Column("transcript", Text, nullable=False, server_default=""),
    # Detected from the bytes, never taken from the client.
    Column("content_type", String(100), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha1", String(40), nullable=False),
    Column("content", LargeBinary, nullable=False),
    # JPEG of an early frame of a checked video; None for every other file.
    Column("thumbnail", LargeBinary, nullable=True),
    Column("uploaded_at", UTCDateTime, nullable=False),
    UniqueConstraint("org_id", "filename", name="uq_stored_files_org_id_filename"),
    Index("ix_stored_files_org_id_title", "org_id", "title"),
)

whatsapp_numbers = Table(
    "whatsapp_numbers",
    metadata,
    # A WhatsApp Business number the operator registered to one organization: only it may send
    # from it, and every inbound WhatsApp message to it is its own.
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("org_id", BigInteger, ForeignKey("organizations.id"), nullable=False),
    # International form without "+".
    Column("number", String(20), nullable=False, unique=True),
    # The provider's ID of the number (the Cloud API's phone-number-id).
    Column("phone_number_id", String(100), nullable=False),
    # The NAME of the environment variable holding the access token; never the token itself.
    Column("token_env", String(100), nullable=False, server_default=""),
    # The WhatsApp channel that serves it: "simulator" or a whatsapp_cloud channel's name.
    Column("channel", String(50), nullable=False),
    # Charged per message sent from this number (docs/decisions.md).
    Column("price_micro", BigInteger, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_whatsapp_numbers_org_id", "org_id"),
    CheckConstraint("price_micro > 0", name="price_positive"),
)

whatsapp_templates = Table(
    "whatsapp_templates",
    metadata,
    # A template message registered (approved by Meta) for one business number.
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "number_id",
        BigInteger,
        ForeignKey("whatsapp_numbers.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(512), nullable=False),
    Column("language", String(20), nullable=False),
    # The body with its {{1}}, {{2}}, … parameters, and how many there are.
    Column("body", Text, nullable=False),
    Column("parameter_count", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint(
        "number_id", "name", "language", name="uq_whatsapp_templates_number_id_name_language"
    ),
)

whatsapp_messages = Table(
    "whatsapp_messages",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("org_id", BigInteger, ForeignKey("organizations.id"), nullable=False),
    # "egress" (sent by the organization) or "ingress" (received from a contact).
    Column("direction", String(8), nullable=False),
    # No foreign key: a message outlives the contact it went to.
    Column("contact_id", BigInteger, nullable=True),
    # Digits without "+": the business number and the contact's number, by direction.
    Column("sender", String(20), nullable=False),
    Column("recipient", String(20), nullable=False),
    Column("body", Text, nullable=False),
    # JSON of a template message ({"name", "language", "parameters", "body"}); "" for none.
    Column("content", Text, nullable=False, server_default=""),
    # JSON of a location an inbound message shared; "" for none.
    Column("location", Text, nullable=False, server_default=""),
    Column("price_micro", BigInteger, nullable=False, server_default="0"),
    Column("reservation_id", BigInteger, nullable=True),
    Column("charged_micro", BigInteger, nullable=False, server_default="0"),
    Column("client_ref", Text, nullable=False, server_default=""),
    Column("client_dedup", Text, nullable=False, server_default=""),
    Column("client_push_url", Text, nullable=False, server_default=""),
    # See whatsapp.models.WhatsAppMessageStatus.
    Column("status", String(16), nullable=False),
    # The newest state the provider reported: "", sent, delivered, read or failed.
    Column("state", String(16), nullable=False, server_default=""),
    Column("error", Text, nullable=False, server_default=""),
    Column("delivery_error", String(100), nullable=False, server_default=""),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    # A worker's claim; once it passes, another worker may take the message over.
    Column("lease_until", UTCDateTime, nullable=True),
    Column("deadline_at", UTCDateTime, nullable=True),
    Column("channel", String(50), nullable=False, server_default=""),
    # The provider's message ID (a wamid); for inbound messages, its event ID.
    Column("operator_message_id", String(200), nullable=True),
    Column("handed_at", UTCDateTime, nullable=True),
    Column("sent_at", UTCDateTime, nullable=True),
    Column("delivered_at", UTCDateTime, nullable=True),
    Column("read_at", UTCDateTime, nullable=True),
    Column("failed_at", UTCDateTime, nullable=True),
    # The campaign run a step's message belongs to; no foreign key, as for SMS messages.
    Column("campaign_run_id", BigInteger, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_whatsapp_messages_org_id_id", "org_id", "id"),
    Index("ix_whatsapp_messages_campaign_run_id", "campaign_run_id"),
    Index("ix_whatsapp_messages_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_whatsapp_messages_channel_operator_message_id", "channel", "operator_message_id"),
)

whatsapp_message_files = Table(
    "whatsapp_message_files",
    metadata,
    # The Files a WhatsApp message carries (sent or received), in order.
    Column(
        "message_id",
        BigInteger,
        ForeignKey("whatsapp_messages.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("position", Integer, primary_key=True),
    Column("org_id", BigInteger, nullable=False),
    # image, audio, video or document.
    Column("kind", String(16), nullable=False),
    Column("filename", String(200), nullable=False),
    Index("ix_whatsapp_message_files_org_id_filename", "org_id", "filename"),
)

whatsapp_dedup = Table(
    "whatsapp_dedup",
    metadata,
    # One row per (organization, clientDedup) of WhatsApp sends, as message_dedup for SMS.
    Column(
        "org_id", BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("client_dedup", String(200), primary_key=True),
    Column("message_id", BigInteger, ForeignKey("whatsapp_messages.id"), nullable=False),
)

whatsapp_early_statuses = Table(
    "whatsapp_early_statuses",
    metadata,
    # A status that came before its hand-off was recorded: applied when it is.
    Column("channel", String(50), primary_key=True),
    Column("operator_message_id", String(200), primary_key=True),
    Column("state", String(16), primary_key=True),
    Column("error", Text, nullable=False, server_default=""),
    Column("at", UTCDateTime, nullable=False),
)

simulator_whatsapp_events = Table(
    "simulator_whatsapp_events",
    metadata,
    # What the simulated WhatsApp provider still owes (a status, or the contact's reply): kept
    # here so that a restart forgets none of it. A row goes once it is reported.
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("channel", String(50), nullable=False),
    # When it falls due; moved a lease ahead while a worker reports it.
    Column("due_at", UTCDateTime, nullable=False),
    # The status's wamid, or the reply's own event ID.
    Column("operator_message_id", String(200), nullable=False),
    # sent, delivered, read or failed; "" for a reply.
    Column("state", String(16), nullable=False, server_default=""),
    Column("error", Text, nullable=False, server_default=""),
    # A reply's sender (the contact) and recipient (the business number) and its text.
    Column("sender", String(20), nullable=False, server_default=""),
    Column("recipient", String(20), nullable=False, server_default=""),
    Column("text", Text, nullable=False, server_default=""),
    # When the provider says it happened.
    Column("happened_at", UTCDateTime, nullable=False),
    Index("ix_simulator_whatsapp_events_due_at", "due_at"),
)
