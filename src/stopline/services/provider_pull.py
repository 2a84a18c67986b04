"""Provider consent sync, pull side: read a provider's opt-out list (Telnyx, AWS) into the ledger,
and reconcile it with stopline's opt-outs.

A provider's opt-out becomes a `carrier` opt-out in the workspace's opt-out scope for that
channel, with no confirmation text (the provider already answered the recipient). An opt-out
stopline already holds adds nothing, so reading the same list twice is harmless.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import Connection, Engine

from stopline.domain.consent import utc
from stopline.domain.errors import InvalidInput, NotFound, StoplineError
from stopline.domain.numbers import normalize
from stopline.domain.provider_sync import PULL_PROVIDERS
from stopline.providers.base import ProviderError
from stopline.security import Keyring
from stopline.services.consent import now_utc
from stopline.services.provider_outcomes import record_carrier_opt_out
from stopline.services.workspaces import get_workspace
from stopline.store import sync_items as store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProviderOptOut:
    number: str  # E.164
    at: datetime | None
    detail: str  # for the ledger's reason: "keyword STOP", ...


@dataclass
class PullResult:
    channel_id: int
    read: int = 0
    added: int = 0
    rejected: list[str] = field(default_factory=list)  # entries whose number is unusable
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "channel_id": self.channel_id,
            "read": self.read,
            "added": self.added,
            "rejected": self.rejected,
            "error": self.error,
        }


def _channel(conn: Connection, channel_id: int, workspace_id: int | None) -> Any:
    row = store.channel_row(conn, channel_id)
    if row is None or (workspace_id is not None and row.workspace_id != workspace_id):
        raise NotFound(f"No channel {channel_id}.", code="channel_not_found")
    return row


def provider_opt_outs(
    http: httpx.Client,
    row: Any,
    credentials: dict[str, Any],
    region: str,
    *,
    since: datetime | None,
    end_user_only: bool,
) -> tuple[list[ProviderOptOut], list[str]]:
    """The provider's opt-outs for the channel, numbers in E.164; and the unusable entries."""
    found: list[ProviderOptOut] = []
    rejected: list[str] = []
    if row.provider == "telnyx":
        from stopline.providers import telnyx_optouts

        for t in telnyx_optouts.list_opt_outs(
            http, credentials, since=since, base_url=row.base_url
        ):
            entries = (t.to, t.created_at, f"keyword {t.keyword}" if t.keyword else "opt-out list")
            _add(found, rejected, *entries, region)
    elif row.provider == "aws":
        from stopline.providers import aws

        for a in aws.describe_opted_out_numbers(http, credentials, row.base_url):
            if end_user_only and not a.end_user_opted_out:
                continue  # put there by an API call (stopline's own push, or another app)
            _add(found, rejected, a.number, a.opted_out_at, "opt-out list", region)
    else:
        raise InvalidInput(
            f"{row.provider} keeps no opt-out list stopline can read "
            f"(only {', '.join(PULL_PROVIDERS)} do).",
            code="provider_list_unavailable",
        )
    return found, rejected


def _add(
    found: list[ProviderOptOut],
    rejected: list[str],
    raw: str,
    at: datetime | None,
    detail: str,
    region: str,
) -> None:
    try:
        found.append(ProviderOptOut(normalize(raw, region), at, detail))
    except StoplineError:
        rejected.append(raw)


def pull_channel(
    engine: Engine,
    keyring: Keyring,
    http: httpx.Client,
    channel_id: int,
    *,
    now: datetime | None = None,
) -> PullResult:
    """Read one channel's provider opt-out list since the last read and record what is new."""
    now = now or now_utc()
    result = PullResult(channel_id)
    with engine.connect() as conn:
        row = _channel(conn, channel_id, None)
        credentials = keyring.decrypt(row.credentials) if row.credentials else {}
        region = get_workspace(conn, row.workspace_id).policy.default_region
    since = None
    if row.provider == "telnyx" and row.sync_pulled_until is not None:
        since = utc(row.sync_pulled_until)
    try:
        entries, result.rejected = provider_opt_outs(
            http, row, credentials, region, since=since, end_user_only=True
        )
    except ProviderError as exc:
        result.error = exc.message
        log.warning("pull from channel %s failed: %s", channel_id, exc.message)
        return result
    result.read = len(entries)
    newest = since
    with engine.begin() as conn:
        for entry in entries:
            if _record(conn, row, entry).changed:
                result.added += 1
            if entry.at is not None and (newest is None or entry.at > newest):
                newest = entry.at
        store.set_pulled_until(conn, channel_id, newest or now)
    return result


def _record(conn: Connection, row: Any, entry: ProviderOptOut) -> Any:
    label = {"telnyx": "Telnyx", "aws": "AWS"}.get(row.provider, row.provider)
    return record_carrier_opt_out(
        conn,
        row.workspace_id,
        entry.number,
        channel_id=row.id,
        channel_type=row.type,
        provider=row.provider,
        provider_code=None,
        reason=f"{label} reported an opt-out ({entry.detail})",
        occurred_at=entry.at,
        if_new=True,
    )


def pull_all(
    engine: Engine, keyring: Keyring, http: httpx.Client, *, workspace_id: int | None = None
) -> list[PullResult]:
    """One pull per channel with sync on at a provider whose list can be read."""
    with engine.connect() as conn:
        ids = [
            int(r.id)
            for r in store.sync_channels(conn, PULL_PROVIDERS)
            if workspace_id is None or r.workspace_id == workspace_id
        ]
    return [pull_channel(engine, keyring, http, channel_id) for channel_id in ids]


# --- reconcile --------------------------------------------------------------------------------


@dataclass
class Reconciliation:
    channel_id: int
    provider: str
    provider_only: list[str]  # the provider holds an opt-out stopline lacks
    stopline_only: list[str]  # stopline holds an opt-out the provider lacks
    applied: bool = False
    recorded: int = 0
    pushed: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "channel_id": self.channel_id,
            "provider": self.provider,
            "provider_only": self.provider_only,
            "stopline_only": self.stopline_only,
            "applied": self.applied,
            "recorded": self.recorded,
            "pushed": self.pushed,
            "errors": self.errors,
        }


def reconcile(
    engine: Engine,
    keyring: Keyring,
    http: httpx.Client,
    workspace_id: int,
    channel_id: int,
    *,
    apply: bool = False,
) -> Reconciliation:
    """Compare the provider's opt-out list with stopline's opt-outs covering the channel.

    With `apply`, provider-only numbers become `carrier` opt-outs and stopline-only ones are put
    on the provider's list (AWS; Telnyx's list cannot be written, so they are only reported).
    """
    with engine.connect() as conn:
        row = _channel(conn, channel_id, workspace_id)
        credentials = keyring.decrypt(row.credentials) if row.credentials else {}
        region = get_workspace(conn, workspace_id).policy.default_region
        ours = store.opted_out_numbers_for_channel(conn, workspace_id, row.id, row.type)
    entries, _rejected = provider_opt_outs(
        http, row, credentials, region, since=None, end_user_only=False
    )
    theirs = {e.number: e for e in entries}
    result = Reconciliation(
        channel_id,
        row.provider,
        provider_only=sorted(set(theirs) - ours),
        stopline_only=sorted(ours - set(theirs)),
    )
    if not apply:
        return result
    result.applied = True
    with engine.begin() as conn:
        for number in result.provider_only:
            if _record(conn, row, theirs[number]).changed:
                result.recorded += 1
    if row.provider == "aws":
        from stopline.providers import aws

        for number in result.stopline_only:
            try:
                aws.put_opted_out_number(http, credentials, number, row.base_url)
                result.pushed += 1
            except ProviderError as exc:
                result.errors.append(f"{number}: {exc.message}")
    elif result.stopline_only:
        result.errors.append(
            "Telnyx's opt-out list cannot be written through its API: "
            f"{len(result.stopline_only)} stopline-only number(s) stay reported, not pushed "
            "(stopline's gate refuses them anyway)."
        )
    return result
