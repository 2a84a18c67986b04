"""Channels as an admin manages them: add, edit, disable, remove, and where their webhooks go.

Credentials are write-only: they are encrypted on the way in (`Keyring`) and never shown again;
an edit replaces only the fields given. A console channel gets a random webhook secret, so
texts simulated as a customer are signed and verified like any provider's.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from stopline.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from stopline.providers import generic
from stopline.security import Keyring
from stopline.services.consent import now_utc
from stopline.services.workspaces import CHANNEL_TYPES, PROVIDERS, Principal, add_channel
from stopline.store import workspaces as store

# The credentials each provider needs, in the order a form asks for them: (field, label, help).
CREDENTIAL_FIELDS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "twilio": (
        ("account_sid", "Account SID", "Starts with AC; on the Twilio Console's home page."),
        ("auth_token", "Auth token", "Verifies Twilio's webhook signatures and sends."),
    ),
    "telnyx": (
        ("api_key", "API key", "Mission Control › Account settings › Keys & credentials."),
        ("public_key", "Webhook public key", "Verifies Telnyx's Ed25519 webhook signatures."),
        (
            "messaging_profile_id",
            "Messaging profile id",
            "Optional; needed to read Telnyx's opt-out list (consent sync).",
        ),
    ),
    "vonage": (
        ("api_key", "API key", "Vonage API dashboard › API settings."),
        ("api_secret", "API secret", "Used to send."),
        ("signature_secret", "Signature secret", "Verifies Vonage's signed webhooks."),
    ),
    "generic": (
        ("secret", "Shared secret", "HMAC key for X-Stopline-Signature, both ways."),
        ("send_url", "Send URL", "Where stopline POSTs outgoing messages (JSON)."),
    ),
    "console": (),
    "aws": (
        ("access_key_id", "Access key id", "An IAM user's key allowed sms-voice:* actions."),
        ("secret_access_key", "Secret access key", "Signs every API call (SigV4)."),
        ("region", "Region", "e.g. us-east-1: where the number and its opt-out list live."),
        ("sns_topic_arn", "SNS topic ARN", "The topic(s) whose notifications are accepted."),
        ("opt_out_list", "Opt-out list", "The number's opt-out list name (default: Default)."),
        ("configuration_set", "Configuration set", "Optional: where delivery events go."),
    ),
}
REQUIRED_CREDENTIALS: dict[str, tuple[str, ...]] = {
    "twilio": ("account_sid", "auth_token"),
    "telnyx": ("api_key", "public_key"),
    "vonage": ("api_key", "api_secret", "signature_secret"),
    "generic": ("secret",),
    "console": (),
    "aws": ("access_key_id", "secret_access_key", "region", "sns_topic_arn"),
}
PROVIDER_LABELS = {
    "twilio": "Twilio",
    "telnyx": "Telnyx",
    "vonage": "Vonage",
    "generic": "Generic gateway",
    "console": "Console (no provider)",
    "aws": "AWS End User Messaging SMS",
}
# One line per provider: where its webhook URLs are pasted.
INSTRUCTIONS = {
    "twilio": "In the Twilio Console, open Phone Numbers › Active numbers › this number; under "
    "Messaging set “A message comes in” to the inbound URL (Webhook, HTTP POST). Paste the "
    "status URL as the status callback of its Messaging Service.",
    "telnyx": "In Telnyx Mission Control, open Messaging › your messaging profile and set the "
    "inbound URL as its webhook URL (either URL takes every event).",
    "vonage": "In the Vonage dashboard, open your application's Messages capability and set the "
    "Inbound URL and the Status URL (POST).",
    "generic": "Have your gateway POST signed JSON (X-Stopline-Signature, keyed with the shared "
    "secret) to these URLs.",
    "aws": "Subscribe the inbound URL (HTTPS) to the SNS topic of the number's two-way SMS and "
    "of its configuration set's event destination; stopline confirms the subscription itself.",
    "console": "Nothing to paste: the console sends nowhere. Use “Text this workspace as a "
    "customer” to simulate a customer's text.",
}
# What the consent-sync switch does per provider (issue 15); absent: nothing to sync.
SYNC_SUPPORT = {
    "twilio": "Every opt-out and opt-in is reported to Twilio's Consent API.",
    "telnyx": "Telnyx's opt-out list is read every few minutes; its opt-outs are recorded here.",
    "aws": "Opt-outs and opt-ins update the AWS opt-out list, which is also read back.",
}
MAX_CREDENTIAL = 4000
MAX_NAME = 200
MAX_ADDRESS = 64


@dataclass(frozen=True)
class WebhookUrl:
    label: str  # "Incoming messages" | "Delivery statuses"
    url: str


@dataclass(frozen=True)
class ChannelView:
    """A channel as its settings page shows it: never its credentials, only which are set."""

    id: int
    address: str
    provider: str
    type: str
    location: str | None
    name: str
    base_url: str | None
    disabled: bool
    credentials_set: tuple[str, ...]
    consent_sync: bool = False
    accounts_base_url: str | None = None

    @property
    def sync_support(self) -> str:
        """What switching consent sync on does for this channel's provider."""
        return SYNC_SUPPORT.get(self.provider, "")

    @property
    def provider_label(self) -> str:
        return PROVIDER_LABELS.get(self.provider, self.provider)

    @property
    def instruction(self) -> str:
        return INSTRUCTIONS.get(self.provider, "")

    def as_dict(self, base_url: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "address": self.address,
            "provider": self.provider,
            "type": self.type,
            "location": self.location,
            "name": self.name,
            "disabled": self.disabled,
            "consent_sync": self.consent_sync,
            "accounts_base_url": self.accounts_base_url,
            "webhooks": {_key(w.label): w.url for w in webhook_urls(base_url, self)},
            "instruction": self.instruction,
        }


def _key(label: str) -> str:
    return "inbound" if label.startswith("Incoming") else "status"


def webhook_urls(base_url: str, channel: Any) -> list[WebhookUrl]:
    """The URLs the channel's provider must call: the inbound one and the status one."""
    base = base_url.rstrip("/")
    prefix = f"{base}/webhooks/{channel.provider}/{channel.id}"
    return [
        WebhookUrl("Incoming messages", f"{prefix}/inbound"),
        WebhookUrl("Delivery statuses", f"{prefix}/status"),
    ]


def _view(row: Any, keyring: Keyring) -> ChannelView:
    try:
        stored = keyring.decrypt(row.credentials) if row.credentials else {}
    except Forbidden:  # another key: shown as not set, sending says why
        stored = {}
    return ChannelView(
        id=int(row.id),
        address=row.address,
        provider=row.provider,
        type=row.type,
        location=row.location,
        name=row.name,
        base_url=row.base_url,
        disabled=row.disabled_at is not None,
        credentials_set=tuple(sorted(k for k, v in stored.items() if v)),
        consent_sync=bool(row.consent_sync),
        accounts_base_url=row.accounts_base_url,
    )


def list_channels(conn: Connection, workspace_id: int, keyring: Keyring) -> list[ChannelView]:
    return [_view(r, keyring) for r in store.list_channels(conn, workspace_id)]


def channel_names(conn: Connection, workspace_id: int) -> dict[int, str]:
    """Every channel's name (disabled ones too), for pages that mention channels."""
    return {int(r.id): r.name or r.address for r in store.list_channels(conn, workspace_id)}


def get_channel(
    conn: Connection, workspace_id: int, keyring: Keyring, channel_id: int
) -> ChannelView:
    row = store.get_channel(conn, workspace_id, channel_id)
    if row is None:
        raise NotFound(f"No channel {channel_id}.", code="channel_not_found")
    return _view(row, keyring)


def _clean_credentials(provider: str, given: dict[str, str | None]) -> dict[str, str]:
    allowed = {f for f, _label, _help in CREDENTIAL_FIELDS.get(provider, ())}
    clean: dict[str, str] = {}
    for key, value in given.items():
        value = (value or "").strip()
        if not value or key not in allowed:
            continue
        if len(value) > MAX_CREDENTIAL:
            raise InvalidInput(
                f"{key} is longer than {MAX_CREDENTIAL} characters.", code="credential_too_long"
            )
        clean[key] = value
    return clean


def _missing(provider: str, credentials: dict[str, str]) -> list[str]:
    return [k for k in REQUIRED_CREDENTIALS.get(provider, ()) if not credentials.get(k)]


def _text(value: str | None, label: str) -> str:
    value = (value or "").strip()
    if len(value) > MAX_NAME:
        raise InvalidInput(f"{label} is at most {MAX_NAME} characters.", code="field_too_long")
    return value


def create_channel(
    conn: Connection,
    principal: Principal,
    keyring: Keyring,
    *,
    address: str,
    provider: str,
    type: str = "sms",
    name: str = "",
    location: str | None = None,
    credentials: dict[str, str | None] | None = None,
    base_url: str | None = None,
    consent_sync: bool = False,
    accounts_base_url: str | None = None,
) -> ChannelView:
    """Add a channel (admins). Every credential the provider needs must be given; a console
    channel gets a fresh webhook secret."""
    principal.require("admin")
    if provider not in PROVIDERS:
        raise InvalidInput(
            f"Unknown provider {provider!r}; use one of {', '.join(PROVIDERS)}.",
            code="provider_unknown",
        )
    clean = _clean_credentials(provider, credentials or {})
    missing = _missing(provider, clean)
    if missing:
        labels = dict((f, label) for f, label, _h in CREDENTIAL_FIELDS[provider])
        raise InvalidInput(
            f"A {PROVIDER_LABELS[provider]} channel needs "
            + ", ".join(labels.get(m, m) for m in missing)
            + ".",
            code="credentials_missing",
        )
    if provider == "console":
        # Simulated customer texts are signed with it, so they verify like a provider's.
        clean = {"secret": secrets.token_urlsafe(32)}
    if not (address or "").strip():
        raise InvalidInput("A channel needs its number or sender id.", code="address_required")
    if len(address) > MAX_ADDRESS:
        raise InvalidInput(
            f"A number or sender id is at most {MAX_ADDRESS} characters.", code="address_invalid"
        )
    channel = add_channel(
        conn,
        principal.workspace_id,
        keyring,
        address=address,
        provider=provider,
        type=type,
        location=_text(location, "Location") or None,
        name=_text(name, "Name"),
        credentials=clean or None,
        base_url=_text(base_url, "API base URL") or None,
        consent_sync=sync_switch(provider, consent_sync),
        accounts_base_url=_text(accounts_base_url, "Accounts API base URL") or None,
    )
    return get_channel(conn, principal.workspace_id, keyring, channel.id)


def sync_switch(provider: str, on: bool) -> bool:
    if on and provider not in SYNC_SUPPORT:
        raise InvalidInput(
            f"{PROVIDER_LABELS.get(provider, provider)} has no consent API to sync with"
            + (
                " (Vonage keeps no opt-out list that can be read or written)."
                if provider == "vonage"
                else "."
            ),
            code="consent_sync_unsupported",
        )
    return on


def update_channel(
    conn: Connection,
    principal: Principal,
    keyring: Keyring,
    channel_id: int,
    *,
    name: str | None = None,
    type: str | None = None,
    location: str | None = None,
    credentials: dict[str, str | None] | None = None,
    base_url: str | None = None,
    consent_sync: bool | None = None,
    accounts_base_url: str | None = None,
) -> ChannelView:
    """Change a channel's name, type, location, API base URL and credentials (admins).

    A credential left empty keeps its stored value: they are never sent back to the browser,
    so an edit form cannot show them.
    """
    principal.require("admin")
    row = store.get_channel(conn, principal.workspace_id, channel_id)
    if row is None:
        raise NotFound(f"No channel {channel_id}.", code="channel_not_found")
    values: dict[str, Any] = {}
    if name is not None:
        values["name"] = _text(name, "Name") or row.address
    if type is not None:
        if type not in CHANNEL_TYPES:
            raise InvalidInput(
                f"Unknown channel type {type!r}; use one of {', '.join(CHANNEL_TYPES)}.",
                code="channel_type_unknown",
            )
        values["type"] = type
    if location is not None:
        values["location"] = _text(location, "Location") or None
    if base_url is not None:
        values["base_url"] = _text(base_url, "API base URL") or None
    if consent_sync is not None:
        values["consent_sync"] = sync_switch(row.provider, consent_sync)
    if accounts_base_url is not None:
        values["accounts_base_url"] = _text(accounts_base_url, "Accounts API base URL") or None
    changed = _clean_credentials(row.provider, credentials or {})
    if changed:
        try:
            stored = keyring.decrypt(row.credentials) if row.credentials else {}
        except Forbidden:
            # Encrypted with another secret key: they can only be replaced, all at once.
            stored = {}
            if _missing(row.provider, changed):
                raise InvalidInput(
                    "The stored credentials cannot be read with this server's secret key; "
                    "enter all of them again.",
                    code="credentials_undecryptable",
                ) from None
        values["credentials"] = keyring.encrypt({**stored, **changed})
    if values:
        store.update_channel(conn, principal.workspace_id, channel_id, **values)
    return get_channel(conn, principal.workspace_id, keyring, channel_id)


def set_disabled(
    conn: Connection, principal: Principal, keyring: Keyring, channel_id: int, disabled: bool
) -> ChannelView:
    """Disable (nothing new is sent from it; its webhooks still land) or enable a channel."""
    principal.require("admin")
    if store.get_channel(conn, principal.workspace_id, channel_id) is None:
        raise NotFound(f"No channel {channel_id}.", code="channel_not_found")
    store.update_channel(
        conn, principal.workspace_id, channel_id, disabled_at=now_utc() if disabled else None
    )
    return get_channel(conn, principal.workspace_id, keyring, channel_id)


def usage(conn: Connection, workspace_id: int, channel_id: int) -> int:
    """Messages, conversations and campaigns on the channel: a channel with any is kept."""
    return store.channel_usage(conn, workspace_id, channel_id)


def remove_channel(conn: Connection, principal: Principal, channel_id: int) -> None:
    """Delete a channel that has never carried a message; one with history can be disabled.

    Deleting one with history would delete its conversations with it (the tables cascade).
    """
    principal.require("admin")
    if store.get_channel(conn, principal.workspace_id, channel_id) is None:
        raise NotFound(f"No channel {channel_id}.", code="channel_not_found")
    used = usage(conn, principal.workspace_id, channel_id)
    if used:
        raise Conflict(
            "This channel has carried messages (or has campaigns); disable it instead, so its "
            "history stays in the inbox.",
            code="channel_in_use",
        )
    store.delete_channel(conn, principal.workspace_id, channel_id)


# --- console channels: a secret, and texts simulated as a customer -----------------------------


def ensure_console_secret(conn: Connection, keyring: Keyring, row: Any) -> str:
    """The console channel's webhook secret, created (and stored encrypted) if it has none."""
    stored = keyring.decrypt(row.credentials) if row.credentials else {}
    if stored.get("secret"):
        return str(stored["secret"])
    secret = secrets.token_urlsafe(32)
    store.update_channel(
        conn, row.workspace_id, row.id, credentials=keyring.encrypt({**stored, "secret": secret})
    )
    return secret


def ensure_console_secrets(conn: Connection, keyring: Keyring) -> int:
    """Give every console channel of every workspace a secret (at start); returns how many."""
    given = 0
    for row in store.channels_of_provider(conn, "console"):
        try:
            stored = keyring.decrypt(row.credentials) if row.credentials else {}
        except Forbidden:
            continue  # encrypted with another key: leave it alone, sending will say why
        if not stored.get("secret"):
            ensure_console_secret(conn, keyring, row)
            given += 1
    return given


@dataclass(frozen=True)
class SignedWebhook:
    """A webhook exactly as a gateway would send it: path, headers and the signed bytes."""

    channel_id: int
    path: str
    headers: dict[str, str]
    body: bytes


def customer_text(
    conn: Connection,
    workspace_id: int,
    keyring: Keyring,
    channel_id: int,
    *,
    from_number: str,
    text: str,
) -> SignedWebhook:
    """A console channel's inbound webhook carrying `text` from `from_number`, signed with the
    channel's secret, for the web app to put through the real webhook path (verification
    included)."""
    from stopline.domain.numbers import normalize
    from stopline.services.workspaces import get_workspace

    row = store.get_channel(conn, workspace_id, channel_id)
    if row is None:
        raise NotFound(f"No channel {channel_id}.", code="channel_not_found")
    if row.provider != "console":
        raise InvalidInput(
            "Only console channels can be texted from here; a real number is texted from a phone.",
            code="channel_not_console",
        )
    region = get_workspace(conn, workspace_id).policy.default_region
    number = normalize(from_number, region)
    if not isinstance(text, str) or len(text) > 1600:
        raise InvalidInput("A text is at most 1600 characters.", code="body_too_long")
    secret = ensure_console_secret(conn, keyring, row)
    body = json.dumps(
        {
            "id": f"console-in-{secrets.token_hex(8)}",
            "from": number,
            "to": row.address,
            "text": text,
            "timestamp": now_utc().isoformat(),
        }
    ).encode()
    return SignedWebhook(
        channel_id=int(row.id),
        path=f"/webhooks/console/{row.id}/inbound",
        headers={
            "content-type": "application/json",
            generic.SIGNATURE_HEADER: generic.sign(secret, body),
        },
        body=body,
    )
