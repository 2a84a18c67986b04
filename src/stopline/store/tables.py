"""The database schema: one SQLAlchemy Core metadata for SQLite and PostgreSQL, every row keyed by workspace."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

# Stable constraint names so Alembic migrations are identical on both databases.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a real bigint.
BigId = BigInteger().with_variant(Integer(), "sqlite")
Timestamp = DateTime(timezone=True)


def _enum_check(column: str, values: tuple[str, ...], name: str) -> CheckConstraint:
    allowed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=name)


ROLES = ("owner", "admin", "member")
METHODS = ("reply", "manual", "link", "import", "api", "carrier")
SCOPES = ("workspace", "channel_type", "channel")
ACTIONS = (
    "opt_out",
    "opt_in",
    "block",
    "unblock",
    "list_opt_out",
    "list_opt_in",
    "amend",
    "retract",
    "list_subscribe",
    "list_unsubscribe",
)
MESSAGE_STATUSES = (
    "received",
    "queued",
    "scheduled",
    "sending",
    "sent",
    "delivered",
    "failed",
    "canceled",
)
JOB_STATUSES = ("queued", "running", "done", "failed", "canceled")
PROVIDERS = ("twilio", "telnyx", "vonage", "generic", "console", "aws")
SYNC_STATES = ("pending", "delivered", "failed")

workspaces = Table(
    "workspaces",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("slug", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("settings", JSON, nullable=False, default=dict),
    # The workspace's SMTP account (password included), encrypted like provider credentials.
    Column("smtp", Text, nullable=True),
    # Twilio-compatible API identity: the SID is public, the token only stored hashed.
    Column("account_sid", String(34), nullable=False, unique=True),
    Column("auth_token_hash", String(128), nullable=False),
    Column("created_at", Timestamp, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("name", String(200), nullable=False, default=""),
    Column("password_hash", String(255), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    # The person's own time zone for the web UI; NULL: the workspace's.
    Column("time_zone", String(64), nullable=True),
    # Where a sign-in lands: the workspace the person last switched to or joined. No foreign
    # key: adding one would make SQLite rebuild `users`, and a membership is checked anyway.
    Column("last_workspace_id", Integer, nullable=True),
)

members = Table(
    "members",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    UniqueConstraint("workspace_id", "user_id", name="uq_members_workspace_user"),
    _enum_check("role", ROLES, "role"),
)

invitations = Table(
    "invitations",
    metadata,
    # An admin's offer to join a workspace. An existing account joins only by accepting it while
    # signed in (issue 11); an account the invitation itself created joins at its first sign-in.
    Column("id", Integer, primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("email", String(320), nullable=False),
    Column("role", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),  # the link's token, hashed
    Column("created_account", Boolean, nullable=False, default=False),
    Column("invited_by", ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    Column("accepted_at", Timestamp, nullable=True),
    Index("ix_invitations_email", "email"),
    _enum_check("role", ROLES, "role"),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    # Only a hash of the session cookie is stored, so a database leak yields no live sessions.
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
)

sign_in_attempts = Table(
    "sign_in_attempts",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("key", String(400), nullable=False),
    Column("at", Timestamp, nullable=False),
    Index("ix_sign_in_attempts_key_at", "key", "at"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("prefix", String(32), nullable=False, unique=True),
    Column("key_hash", String(64), nullable=False),
    Column("role", String(16), nullable=False, default="admin"),
    Column("created_by", ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("last_used_at", Timestamp, nullable=True),
    Column("revoked_at", Timestamp, nullable=True),
    _enum_check("role", ROLES, "role"),
)

channels = Table(
    "channels",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("address", String(64), nullable=False),
    Column("provider", String(16), nullable=False),
    Column("type", String(16), nullable=False, default="sms"),
    Column("location", String(200), nullable=True),
    Column("name", String(200), nullable=False, default=""),
    # Provider secrets are needed in clear to sign and verify, so they are encrypted, not hashed.
    Column("credentials", Text, nullable=True),
    Column("base_url", String(500), nullable=True),
    Column("created_at", Timestamp, nullable=False),
    # A disabled channel sends nothing new; its webhooks still land, so no STOP is ever lost.
    Column("disabled_at", Timestamp, nullable=True),
    # Provider consent sync (push to Twilio/AWS, pull from Telnyx/AWS), off unless switched on.
    Column("consent_sync", Boolean, nullable=False, default=False, server_default=false()),
    # Twilio's Consent API lives on accounts.twilio.com, not the Messages API's host.
    Column("accounts_base_url", String(500), nullable=True),
    # The newest provider opt-out already read by the pull (Telnyx `created_at[gte]`).
    Column("sync_pulled_until", Timestamp, nullable=True),
    # A receiving number identifies exactly one workspace for inbound routing.
    UniqueConstraint("provider", "address", name="uq_channels_provider_address"),
    _enum_check("provider", PROVIDERS, "provider"),
    _enum_check("type", ("sms", "mms", "whatsapp", "rcs"), "type"),
)
Index("ix_channels_workspace", channels.c.workspace_id)

contacts = Table(
    "contacts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False, default=""),
    Column("email", String(320), nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    # Send-time rules: the contact's own place wins over the number's area code (issue 14).
    Column("time_zone", String(64), nullable=True),
    Column("postal_code", String(16), nullable=True),
)
Index("ix_contacts_workspace_name", contacts.c.workspace_id, contacts.c.name)

contact_numbers = Table(
    "contact_numbers",
    metadata,
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True),
    # One contact per number per workspace: opt-outs match contacts purely by number.
    Column("number", String(16), primary_key=True),
    Column("contact_id", ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("label", String(32), nullable=False, default="mobile"),
)
Index("ix_contact_numbers_contact", contact_numbers.c.contact_id)

contact_notes = Table(
    "contact_notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("contact_id", ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("body", Text, nullable=False),
    Column("author", String(200), nullable=False),
    Column("created_at", Timestamp, nullable=False),
)
Index("ix_contact_notes_contact", contact_notes.c.contact_id)

lists = Table(
    "lists",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    # List keywords and HELP text (seed 001): {"opt_out": [...], "opt_in": [...], "help": [...]}.
    Column("keywords", JSON, nullable=False, default=dict),
    Column("help_text", Text, nullable=True),
    # The list's own confirmation texts, {"opt_out": ..., "opt_in": ...}; unset: the defaults.
    Column("replies", JSON, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    UniqueConstraint("workspace_id", "name", name="uq_lists_workspace_name"),
)

list_members = Table(
    "list_members",
    metadata,
    Column("list_id", ForeignKey("lists.id", ondelete="CASCADE"), primary_key=True),
    Column("number", String(16), primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("subscribed_at", Timestamp, nullable=False),
)
Index("ix_list_members_workspace_number", list_members.c.workspace_id, list_members.c.number)

# --- joining a list: keyword and hosted-form double opt-in (domain/join.py) ---------------------

list_joins = Table(
    "list_joins",
    metadata,
    Column("list_id", ForeignKey("lists.id", ondelete="CASCADE"), primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    # The hosted form's address (/join/{slug}): random, so lists cannot be enumerated.
    Column("slug", String(32), nullable=False, unique=True),
    Column("keywords", JSON, nullable=False, default=list),
    Column("request_text", Text, nullable=False),  # the double opt-in request, sent verbatim
    Column("form_enabled", Boolean, nullable=False, default=False),
    Column("updated_at", Timestamp, nullable=False),
)
Index("ix_list_joins_workspace", list_joins.c.workspace_id)

consent_text_versions = Table(
    "consent_text_versions",
    metadata,
    # The hosted form's consent language, never edited in place: each opt-in names its version.
    Column("id", Integer, primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("list_id", ForeignKey("lists.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    UniqueConstraint("list_id", "version", name="uq_consent_text_versions_list_version"),
)

optin_requests = Table(
    "optin_requests",
    metadata,
    # A double opt-in waiting for its YES; the list opt-in is recorded only on the answer.
    Column("id", BigId, primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("list_id", ForeignKey("lists.id", ondelete="CASCADE"), nullable=False),
    Column("number", String(16), nullable=False),
    Column("channel_id", Integer, nullable=True),
    Column("via", String(8), nullable=False),
    Column("status", String(16), nullable=False, default="pending"),
    Column("request_text", Text, nullable=False),
    Column("requested_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    Column("evidence", JSON, nullable=True),  # what the join itself showed (form fields, JOIN text)
    Column("answered_at", Timestamp, nullable=True),
    Column("event_seq", BigInteger, nullable=True),
    _enum_check("via", ("keyword", "form"), "via"),
    _enum_check("status", ("pending", "confirmed", "expired", "canceled"), "status"),
)
Index("ix_optin_requests_ws_number", optin_requests.c.workspace_id, optin_requests.c.number)
Index("ix_optin_requests_status_expires", optin_requests.c.status, optin_requests.c.expires_at)

# --- consent ledger (append-only) and its projection -------------------------------------------

consent_events = Table(
    "consent_events",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    # Position in the workspace's hash chain; gaps or repeats are evidence of tampering.
    Column("seq", BigInteger, nullable=False),
    Column("number", String(16), nullable=False),
    Column("action", String(16), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("scope_key", String(64), nullable=False, default=""),
    Column("list_id", Integer, nullable=True),
    Column("method", String(16), nullable=False),
    Column("reason", Text, nullable=True),
    Column("inbound_text", Text, nullable=True),
    Column("actor", String(200), nullable=False),
    Column("channel_id", Integer, nullable=True),
    Column("source", String(200), nullable=True),
    Column("correlation_id", String(200), nullable=True),
    Column("consent_note", Text, nullable=True),
    Column("detail", JSON, nullable=True),
    Column("occurred_at", Timestamp, nullable=False),
    Column("recorded_at", Timestamp, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("workspace_id", "seq", name="uq_consent_events_workspace_seq"),
    _enum_check("action", ACTIONS, "action"),
    _enum_check("method", METHODS, "method"),
    _enum_check("scope", SCOPES, "scope"),
)
Index("ix_consent_events_workspace_number", consent_events.c.workspace_id, consent_events.c.number)
Index(
    "ix_consent_events_workspace_occurred",
    consent_events.c.workspace_id,
    consent_events.c.occurred_at,
)

ledger_heads = Table(
    "ledger_heads",
    metadata,
    # The chain head, locked per append: serialises a workspace's ledger writers, and lets
    # verification notice a deleted last event.
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

ledger_checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    # Signed chain heads (domain/checkpoint.py), kept here to put in evidence packets; the
    # copies that prove anything are the ones written to files and sent elsewhere.
    Column("id", BigId, primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("document", Text, nullable=False),  # the signed JSON, as written out
)
Index(
    "ix_ledger_checkpoints_workspace_seq",
    ledger_checkpoints.c.workspace_id,
    ledger_checkpoints.c.seq,
)

opt_outs = Table(
    "opt_outs",
    metadata,
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True),
    Column("number", String(16), primary_key=True),
    Column("scope", String(16), primary_key=True),
    Column("scope_key", String(64), primary_key=True, default=""),
    Column("method", String(16), nullable=False),
    Column("reason", Text, nullable=True),
    Column("actor", String(200), nullable=False),
    Column("channel_id", Integer, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("event_seq", BigInteger, nullable=False),
    # Lists the recipient kept past this opt-out (domain/keep_offer.py): JSON text of
    # [list id, event seq] pairs; NULL for almost every row.
    Column("kept_lists", Text, nullable=True),
    _enum_check("method", METHODS, "method"),
    _enum_check("scope", SCOPES, "scope"),
)
Index("ix_opt_outs_workspace_created", opt_outs.c.workspace_id, opt_outs.c.created_at)
Index(
    "ix_opt_outs_kept",
    opt_outs.c.workspace_id,
    opt_outs.c.number,
    sqlite_where=opt_outs.c.kept_lists.is_not(None),
    postgresql_where=opt_outs.c.kept_lists.is_not(None),
)

blocks = Table(
    "blocks",
    metadata,
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True),
    Column("number", String(16), primary_key=True),
    Column("method", String(16), nullable=False),
    Column("reason", Text, nullable=True),
    Column("actor", String(200), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("event_seq", BigInteger, nullable=False),
)

list_opt_outs = Table(
    "list_opt_outs",
    metadata,
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("list_id", ForeignKey("lists.id", ondelete="CASCADE"), primary_key=True),
    Column("number", String(16), primary_key=True),
    Column("method", String(16), nullable=False),
    Column("reason", Text, nullable=True),
    Column("actor", String(200), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("event_seq", BigInteger, nullable=False),
)
Index("ix_list_opt_outs_workspace_number", list_opt_outs.c.workspace_id, list_opt_outs.c.number)

# --- messaging -----------------------------------------------------------------------------

conversations = Table(
    "conversations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("channel_id", ForeignKey("channels.id", ondelete="CASCADE"), nullable=False),
    Column("number", String(16), nullable=False),
    Column("status", String(16), nullable=False, default="open"),
    Column("last_message_at", Timestamp, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    UniqueConstraint("workspace_id", "channel_id", "number", name="uq_conversations_ws_ch_num"),
    _enum_check("status", ("open", "closed"), "status"),
)
Index(
    "ix_conversations_workspace_last",
    conversations.c.workspace_id,
    conversations.c.last_message_at,
)

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("channel_id", ForeignKey("channels.id", ondelete="CASCADE"), nullable=False),
    Column("list_ids", JSON, nullable=False),
    Column("status", String(16), nullable=False, default="queued"),
    Column("counts", JSON, nullable=False, default=dict),
    Column("created_by", String(200), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("scheduled_at", Timestamp, nullable=True),
    _enum_check("status", ("queued", "expanding", "sending", "done", "canceled"), "status"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("sid", String(34), nullable=False, unique=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("direction", String(8), nullable=False),
    Column("channel_id", ForeignKey("channels.id", ondelete="CASCADE"), nullable=True),
    Column("conversation_id", ForeignKey("conversations.id", ondelete="SET NULL"), nullable=True),
    Column("from_address", String(64), nullable=False),
    Column("to_number", String(64), nullable=False),
    Column("body", Text, nullable=False),
    # normal | confirmation: confirmations are the only messages that pass an opt-out.
    Column("kind", String(16), nullable=False, default="normal"),
    Column("source", String(200), nullable=False, default="api"),
    Column("campaign_id", ForeignKey("campaigns.id", ondelete="SET NULL"), nullable=True),
    Column("list_id", Integer, nullable=True),
    Column("status", String(16), nullable=False),
    Column("refusal_code", String(32), nullable=True),
    Column("error_code", String(32), nullable=True),
    Column("error_message", Text, nullable=True),
    Column("provider", String(16), nullable=True),
    Column("provider_message_id", String(128), nullable=True),
    Column("idempotency_key", String(200), nullable=True),
    Column("status_callback", String(1000), nullable=True),
    Column("hidden", Boolean, nullable=False, default=False),
    Column("sent_by", String(200), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("available_at", Timestamp, nullable=True),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", Timestamp, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("handed_at", Timestamp, nullable=True),
    Column("updated_at", Timestamp, nullable=False),
    # When the sender asked for it to go (scheduled sends); available_at moves with retries.
    Column("scheduled_at", Timestamp, nullable=True),
    # conversational | informational | marketing: decides the send-time rules (issue 14).
    Column(
        "category",
        String(16),
        nullable=False,
        default="informational",
        server_default="informational",
    ),  # fmt: skip
    # Why a message waits (quiet_hours, frequency_cap) and the send-time decision explained:
    # the rule, the recipient's location and zone and how they were found.
    Column("hold_reason", String(16), nullable=True),
    Column("send_decision", JSON, nullable=True),
    UniqueConstraint(
        "workspace_id", "direction", "provider_message_id", name="uq_messages_provider_id"
    ),
    # One message per campaign recipient: a re-run expansion can never queue a second one.
    UniqueConstraint("campaign_id", "to_number", name="uq_messages_campaign_to"),
    UniqueConstraint("workspace_id", "idempotency_key", name="uq_messages_idempotency"),
    _enum_check("direction", ("in", "out"), "direction"),
    _enum_check("status", MESSAGE_STATUSES, "status"),
)
Index("ix_messages_claim", messages.c.status, messages.c.available_at)
Index("ix_messages_ws_to_status", messages.c.workspace_id, messages.c.to_number, messages.c.status)
Index("ix_messages_conversation", messages.c.conversation_id, messages.c.id)
Index("ix_messages_campaign", messages.c.campaign_id, messages.c.status)
# The live inbox asks "anything changed since?" every second: the newest update is one seek.
Index("ix_messages_ws_updated", messages.c.workspace_id, messages.c.updated_at)
# What a number sent us (evidence packets, a number's history): inbound rows only, so campaign
# expansion's millions of outbound rows pay nothing for it.
Index(
    "ix_messages_ws_from_inbound",
    messages.c.workspace_id,
    messages.c.from_address,
    sqlite_where=messages.c.direction == "in",
    postgresql_where=messages.c.direction == "in",
)

conversation_reads = Table(
    "conversation_reads",
    metadata,
    # Per member read markers: the newest message each person has seen in a conversation.
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("conversation_id", ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("message_id", BigInteger, nullable=False),
)
Index(
    "ix_conversation_reads_ws_user", conversation_reads.c.workspace_id, conversation_reads.c.user_id
)
# The frequency-cap lookup: a number's outbound messages of a category handed over since a
# moment, answered from the index alone (no table row read per message in the history).
Index(
    "ix_messages_cap",
    messages.c.workspace_id,
    messages.c.to_number,
    messages.c.category,
    messages.c.direction,
    messages.c.handed_at,
)

disclosures = Table(
    "disclosures",
    metadata,
    # The first message to a number carries the disclosure once (seed 004).
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True),
    Column("number", String(16), primary_key=True),
    Column("message_id", BigInteger, nullable=True),
    Column("created_at", Timestamp, nullable=False),
)

console_outbox = Table(
    "console_outbox",
    metadata,
    # What the console provider "delivered": written in the hand-off transaction, so a
    # retried hand-off can never deliver twice.
    Column("id", BigId, primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("message_id", BigInteger, nullable=False),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("to_number", String(64), nullable=False),
    Column("from_address", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", Timestamp, nullable=False),
)
Index("ix_console_outbox_ws_to", console_outbox.c.workspace_id, console_outbox.c.to_number)

review_items = Table(
    "review_items",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("number", String(16), nullable=False),
    Column("message_id", BigInteger, nullable=True),
    Column("channel_id", Integer, nullable=True),
    Column("body", Text, nullable=False),
    Column("phrase", String(200), nullable=True),
    Column("deadline", Date, nullable=False),
    Column("status", String(16), nullable=False, default="pending"),
    Column("created_at", Timestamp, nullable=False),
    Column("resolved_at", Timestamp, nullable=True),
    Column("resolved_by", String(200), nullable=True),
    # Why it was resolved when no reviewer did (the number opted out by another way).
    Column("resolution_note", Text, nullable=True),
    _enum_check("status", ("pending", "opted_out", "dismissed"), "status"),
)
Index("ix_review_items_ws_status", review_items.c.workspace_id, review_items.c.status)

jobs = Table(
    "jobs",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False, default="queued"),
    Column("payload", JSON, nullable=False, default=dict),
    Column("result", JSON, nullable=True),
    Column("error", Text, nullable=True),
    Column("progress_done", BigInteger, nullable=False, default=0),
    Column("progress_total", BigInteger, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("available_at", Timestamp, nullable=False),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", Timestamp, nullable=True),
    Column("created_by", String(200), nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("started_at", Timestamp, nullable=True),
    Column("finished_at", Timestamp, nullable=True),
    _enum_check("status", JOB_STATUSES, "status"),
)
Index("ix_jobs_claim", jobs.c.status, jobs.c.available_at)
Index("ix_jobs_workspace", jobs.c.workspace_id, jobs.c.id)

sync_items = Table(
    "sync_items",
    metadata,
    # The provider-sync outbox: one row per (consent event, channel that must hear of it),
    # written in the event's own transaction, delivered later by the sync worker.
    Column("id", BigId, primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("channel_id", ForeignKey("channels.id", ondelete="CASCADE"), nullable=False),
    Column("event_seq", BigInteger, nullable=False),
    Column("number", String(16), nullable=False),
    Column("report", String(8), nullable=False),  # opt_out | opt_in
    Column("method", String(16), nullable=False),
    Column("occurred_at", Timestamp, nullable=False),
    Column("state", String(16), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("available_at", Timestamp, nullable=False),
    Column("lease_until", Timestamp, nullable=True),
    Column("error_code", String(64), nullable=True),
    Column("error", Text, nullable=True),
    Column("delivered_at", Timestamp, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    # One report per event and channel: a re-run enqueue can never report twice.
    UniqueConstraint("workspace_id", "channel_id", "event_seq", name="uq_sync_items_event"),
    _enum_check("state", SYNC_STATES, "state"),
    _enum_check("report", ("opt_out", "opt_in"), "report"),
)
# The worker walks one channel's pending reports in order; a pass asks each channel for one.
Index("ix_sync_items_channel_due", sync_items.c.channel_id, sync_items.c.state, sync_items.c.id)
Index("ix_sync_items_ws_number", sync_items.c.workspace_id, sync_items.c.number)
