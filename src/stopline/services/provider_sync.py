"""Provider consent sync, push side: deliver the outbox's reports to Twilio and AWS, within their
limits, and show what became of them.

The reports were written in the same transaction as the consent events they carry
(`services.consent`), so this side may be slow, down or killed without the gate ever waiting or a
report being lost: it claims reports under a lease, talks to the provider outside any
transaction, then records the outcome. A push cut short is claimed again when its lease runs out
and sent with the same correlation id, which the provider recognises.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Connection, Engine

from stopline.domain.errors import NotFound
from stopline.domain.provider_sync import (
    MAX_ATTEMPTS,
    TWILIO_BATCH,
    TWILIO_REQUESTS_PER_MINUTE,
    RateWindow,
    correlation_id,
    retry_delay,
    twilio_source,
    twilio_status,
)
from stopline.providers import twilio_consent
from stopline.providers.base import ProviderError
from stopline.security import Keyring
from stopline.services.consent import now_utc
from stopline.services.workspaces import Principal
from stopline.store import sync_items as store

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
PROVIDER_LABELS = {"twilio": "Twilio", "aws": "AWS", "telnyx": "Telnyx"}


@dataclass
class Clock:
    """Time for the sync worker; tests and the benchmark pass a simulated one."""

    now: Callable[[], datetime] = now_utc
    sleep: Callable[[float], None] = time.sleep


@dataclass
class PassResult:
    delivered: int = 0
    failed: int = 0  # failed for good this pass (shown, retried by hand)
    retrying: int = 0  # failed this try, due again later
    requests: int = 0
    waited: float = 0.0  # seconds spent waiting for a rate window

    def as_dict(self) -> dict[str, Any]:
        return {
            "delivered": self.delivered,
            "failed": self.failed,
            "retrying": self.retrying,
            "requests": self.requests,
            "waited_seconds": round(self.waited, 3),
        }


@dataclass
class Pusher:
    """Delivers due reports. Keep one per worker: it remembers each account's rate window.

    One pusher per provider account is assumed (the rate window lives in memory); run one sync
    worker, as `stopline worker` and `serve` do.
    """

    engine: Engine
    keyring: Keyring
    http: httpx.Client
    clock: Clock = field(default_factory=Clock)
    lease: timedelta = LEASE
    twilio_rate: tuple[int, float] = (TWILIO_REQUESTS_PER_MINUTE, 60.0)
    aws_rate: tuple[int, float] = (10, 1.0)  # PutOptedOutNumber/DeleteOptedOutNumber: modest
    windows: dict[str, RateWindow] = field(default_factory=dict)
    workspace_id: int | None = None  # None: every workspace's reports

    def _window(self, provider: str, credentials: dict[str, Any]) -> RateWindow:
        if provider == "twilio":
            key, (limit, period) = f"twilio:{credentials.get('account_sid')}", self.twilio_rate
        else:
            key = f"aws:{credentials.get('access_key_id')}:{credentials.get('region')}"
            limit, period = self.aws_rate
        window = self.windows.get(key)
        if window is None:
            window = self.windows[key] = RateWindow(limit, period)
        return window

    def run_pass(
        self, *, wait: bool = True, max_wait: float | None = None, max_requests: int | None = None
    ) -> PassResult:
        """Deliver every due report, then return. With `wait`, sleep through full rate windows
        (the pass still ends when nothing is due); without, sleep only through waits up to
        `max_wait` seconds (the spacing between requests) and leave longer ones for the next
        pass."""
        limit = float("inf") if wait else (max_wait or 0.0)
        result = PassResult()
        channels: dict[int, tuple[Any, dict[str, Any]]] = {}
        while max_requests is None or result.requests < max_requests:
            now = self.clock.now()
            with self.engine.connect() as conn:
                due = store.due_channels(conn, now, self.workspace_id)
                for channel_id in due:
                    if channel_id not in channels:
                        channels[channel_id] = _channel(conn, self.keyring, channel_id)
            progressed, soonest = False, float("inf")
            for channel_id in due:
                row, credentials = channels[channel_id]
                window = self._window(row.provider, credentials)
                pause = window.wait(self.clock.now().timestamp())
                if pause > 0:
                    soonest = min(soonest, pause)
                    continue
                if self._push_batch(row, credentials, window, result):
                    progressed = True
            if progressed:
                continue
            if soonest == float("inf") or soonest > limit:
                break
            self.clock.sleep(soonest)
            result.waited += soonest
        return result

    def _push_batch(
        self, row: Any, credentials: dict[str, Any], window: RateWindow, result: PassResult
    ) -> bool:
        now = self.clock.now()
        with self.engine.begin() as conn:
            items = store.claim(
                conn,
                row.id,
                limit=TWILIO_BATCH if row.provider == "twilio" else 1,
                now=now,
                lease_until=now + self.lease,
            )
        if not items:
            return False
        window.take(now.timestamp())
        result.requests += 1
        if row.provider == "twilio":
            self._push_twilio(row, credentials, items, window, result)
        elif row.provider == "aws":
            self._push_aws(row, credentials, items[0], result)
        return True

    def _push_twilio(
        self,
        row: Any,
        credentials: dict[str, Any],
        items: list[Any],
        window: RateWindow,
        result: PassResult,
    ) -> None:
        consents = [
            twilio_consent.Consent(
                contact_id=item.number,
                correlation_id=correlation_id(item.workspace_id, item.channel_id, item.event_seq),
                sender_id=row.address,  # the number, or the Messaging Service SID (MG...)
                status=twilio_status(item.report),
                source=twilio_source(item.report, item.method),
                date_of_consent=_utc(item.occurred_at),
            )
            for item in items
        ]
        try:
            outcomes = twilio_consent.report(
                self.http, credentials, consents, row.accounts_base_url
            )
        except twilio_consent.RateLimited as limited:
            pause = limited.retry_after if limited.retry_after is not None else 60.0
            now = self.clock.now()
            window.hold_until(now.timestamp() + pause)
            with self.engine.begin() as conn:  # due again: the window now holds them back
                store.release(conn, [i.id for i in items], now)
            log.warning("twilio rate-limited consent sync; waiting %.0f s", pause)
            return
        except ProviderError as exc:
            self._failed_all(items, exc, result)
            return
        now = self.clock.now()
        with self.engine.begin() as conn:
            store.mark_delivered(
                conn,
                [i.id for i, o in zip(items, outcomes, strict=True) if o.error_code is None],
                now,
            )
            for item, outcome in zip(items, outcomes, strict=True):
                if outcome.error_code is None:
                    result.delivered += 1
                    continue
                # Twilio refused this item (a malformed number, an unknown sender): trying the
                # same again will not help, so it waits, visible, for a person.
                store.mark_failed(
                    conn,
                    item.id,
                    error_code=f"twilio:{outcome.error_code}",
                    error=outcome.error or "refused",
                    retry_at=None,
                )
                result.failed += 1

    def _push_aws(
        self, row: Any, credentials: dict[str, Any], item: Any, result: PassResult
    ) -> None:
        from stopline.providers import aws

        try:
            if item.report == "opt_out":
                aws.put_opted_out_number(self.http, credentials, item.number, row.base_url)
            else:
                aws.delete_opted_out_number(self.http, credentials, item.number, row.base_url)
        except ProviderError as exc:
            self._failed_all([item], exc, result)
            return
        with self.engine.begin() as conn:
            store.mark_delivered(conn, [item.id], self.clock.now())
        result.delivered += 1

    def _failed_all(self, items: list[Any], exc: ProviderError, result: PassResult) -> None:
        now = self.clock.now()
        code = exc.provider_code or (
            f"http_{exc.http_status}" if exc.http_status else "unreachable"
        )
        with self.engine.begin() as conn:
            for item in items:
                attempts = item.attempts + 1
                retry_at = None
                if exc.retryable and attempts < MAX_ATTEMPTS:
                    retry_at = now + timedelta(seconds=retry_delay(attempts))
                    result.retrying += 1
                else:
                    result.failed += 1
                store.mark_failed(
                    conn, item.id, error_code=code, error=exc.message, retry_at=retry_at
                )


def _channel(conn: Connection, keyring: Keyring, channel_id: int) -> tuple[Any, dict[str, Any]]:
    row = store.channel_row(conn, channel_id)
    if row is None:  # pragma: no cover - the items cascade away with their channel
        raise NotFound(f"No channel {channel_id}.", code="channel_not_found")
    credentials = keyring.decrypt(row.credentials) if row.credentials else {}
    return row, credentials


def _utc(value: datetime) -> datetime:
    from stopline.domain.consent import utc

    return utc(value)


# --- what people see ------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncItem:
    id: int
    event_seq: int
    number: str
    report: str  # opt_out | opt_in
    channel_id: int
    channel: str
    provider: str
    state: str  # pending | delivered | failed
    attempts: int
    error_code: str | None
    error: str | None
    occurred_at: datetime
    available_at: datetime
    delivered_at: datetime | None
    correlation_id: str

    @property
    def provider_label(self) -> str:
        return PROVIDER_LABELS.get(self.provider, self.provider)

    def summary(self) -> str:
        """One line for a number's history: "reported to Twilio at ..." or the failure."""
        what = "opt-out" if self.report == "opt_out" else "opt-in"
        if self.state == "delivered" and self.delivered_at is not None:
            return f"{what} reported to {self.provider_label} at {_utc(self.delivered_at):%Y-%m-%d %H:%M:%S} UTC"
        if self.state == "failed":
            return f"{what} NOT reported to {self.provider_label}: {self.error} (failed, retry by hand)"
        if self.attempts:
            return (
                f"{what} not yet reported to {self.provider_label}: {self.error}; "
                f"retrying at {_utc(self.available_at):%Y-%m-%d %H:%M:%S} UTC"
            )
        return f"{what} waiting to be reported to {self.provider_label}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event_seq": self.event_seq,
            "number": self.number,
            "report": self.report,
            "channel_id": self.channel_id,
            "channel": self.channel,
            "provider": self.provider,
            "state": self.state,
            "attempts": self.attempts,
            "error_code": self.error_code,
            "error": self.error,
            "occurred_at": _utc(self.occurred_at).isoformat(),
            "available_at": _utc(self.available_at).isoformat(),
            "delivered_at": _utc(self.delivered_at).isoformat() if self.delivered_at else None,
            "correlation_id": self.correlation_id,
            "summary": self.summary(),
        }


def _item(row: Any) -> SyncItem:
    return SyncItem(
        id=int(row.id),
        event_seq=int(row.event_seq),
        number=row.number,
        report=row.report,
        channel_id=int(row.channel_id),
        channel=row.name or row.address,
        provider=row.provider,
        state=row.state,
        attempts=int(row.attempts),
        error_code=row.error_code,
        error=row.error,
        occurred_at=row.occurred_at,
        available_at=row.available_at,
        delivered_at=row.delivered_at,
        correlation_id=correlation_id(row.workspace_id, row.channel_id, row.event_seq),
    )


@dataclass(frozen=True)
class SyncStatus:
    counts: dict[str, int]
    items: list[SyncItem]

    def as_dict(self) -> dict[str, Any]:
        return {
            "pending": self.counts.get("pending", 0),
            "delivered": self.counts.get("delivered", 0),
            "failed": self.counts.get("failed", 0),
            "items": [i.as_dict() for i in self.items],
        }


def status(
    conn: Connection, workspace_id: int, *, states: list[str] | None = None, limit: int = 100
) -> SyncStatus:
    return SyncStatus(
        store.counts(conn, workspace_id),
        [_item(r) for r in store.list_items(conn, workspace_id, states=states, limit=limit)],
    )


def number_reports(conn: Connection, workspace_id: int, number: str) -> list[SyncItem]:
    """A number's provider reports, for its history."""
    return [_item(r) for r in store.list_items(conn, workspace_id, number=number, limit=500)]


def reports_by_event(conn: Connection, workspace_id: int, number: str) -> dict[int, list[SyncItem]]:
    """A number's provider reports keyed by the ledger event they carry (its `seq`)."""
    found: dict[int, list[SyncItem]] = {}
    for item in number_reports(conn, workspace_id, number):
        found.setdefault(item.event_seq, []).append(item)
    return found


def with_reports(
    conn: Connection, workspace_id: int, number: str, events: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Event dicts (`ledger.event_dict`) with each one's provider reports added."""
    reports = reports_by_event(conn, workspace_id, number)
    return [
        {**e, "provider_reports": [r.as_dict() for r in reports.get(int(e["seq"]), [])]}
        for e in events
    ]


def retry(
    conn: Connection, principal: Principal, item_id: int, now: datetime | None = None
) -> None:
    """Make a failed or waiting report due now (admins)."""
    principal.require("admin")
    if not store.retry(conn, principal.workspace_id, item_id, now or now_utc()):
        raise NotFound(f"No undelivered sync item {item_id}.", code="sync_item_not_found")
