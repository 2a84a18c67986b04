"""Provider consent sync as rules: which consent changes a provider hears of, in its words, and how
fast it may be told.

Sources: Twilio's Consent Management API (`POST /v1/Consents/Bulk`: at most 25 items a request,
100 requests a minute per account; `source` is one of opt-out-message, opt-in-message, website,
offline, others), AWS End User Messaging SMS opt-out lists, Telnyx's messaging opt-outs list.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum

from stopline.domain.consent import Action, Method, Scope

# Which providers take pushed consent changes and which can be read back (issue 15). Vonage has
# no consent API at all; generic and console channels have nothing to tell.
PUSH_PROVIDERS = ("twilio", "aws")
PULL_PROVIDERS = ("telnyx", "aws")
SYNC_PROVIDERS = tuple(dict.fromkeys(PUSH_PROVIDERS + PULL_PROVIDERS))

TWILIO_BATCH = 25  # items per Consents/Bulk request (Twilio's documented maximum)
TWILIO_REQUESTS_PER_MINUTE = 100  # per account (Twilio's documented limit)


class Report(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"


# Consent changes a provider hears of. A block implies an opt-out; a retracted opt-out (entered
# on a wrong number) lets texts reach the number again, so the provider must lift it too. List
# opt-outs, unblocks and amended reasons change nothing a provider keeps per sender.
REPORTS: dict[Action, Report] = {
    Action.OPT_OUT: Report.OPT_OUT,
    Action.BLOCK: Report.OPT_OUT,
    Action.OPT_IN: Report.OPT_IN,
    Action.RETRACT: Report.OPT_IN,
}


def report_for(action: Action) -> Report | None:
    return REPORTS.get(action)


def twilio_status(report: Report | str) -> str:
    return "opt-out" if Report(report) is Report.OPT_OUT else "opt-in"


def twilio_source(report: Report | str, method: Method | str) -> str:
    """Twilio's `source` for how the consent changed: a keyword reply is a message, an opt-out
    link a website, a member's entry offline (a call, a visit); imports, the API and carrier
    reports are "others"."""
    method = Method(method)
    if method is Method.REPLY:
        return "opt-out-message" if Report(report) is Report.OPT_OUT else "opt-in-message"
    if method is Method.LINK:
        return "website"
    if method is Method.MANUAL:
        return "offline"
    return "others"


def correlation_id(workspace_id: int, channel_id: int, event_seq: int) -> str:
    """32 hex digits naming one event's report to one channel: the same on every retry."""
    return f"{workspace_id:08x}{channel_id:08x}{event_seq:016x}"


def reaches(scope: Scope | str, scope_key: str, channel_id: int, channel_type: str) -> bool:
    """Whether an opt-out or opt-in in this scope concerns the channel."""
    scope = Scope(scope)
    if scope is Scope.WORKSPACE:
        return True
    if scope is Scope.CHANNEL_TYPE:
        return scope_key == channel_type
    return scope_key == str(channel_id)


def retry_delay(attempts: int, retry_after: float | None = None) -> float:
    """Seconds before the next try: the provider's Retry-After when given, else exponential
    backoff from 30 s, capped at an hour."""
    if retry_after is not None and retry_after >= 0:
        return float(retry_after)
    return float(min(3600, 30 * 2 ** max(0, attempts - 1)))


MARGIN = 0.001  # seconds added to a full window's wait
MAX_ATTEMPTS = 12  # about a day of backoff; then the item is `failed` until retried by hand


@dataclass
class RateWindow:
    """At most `limit` requests in any `period` seconds: a sliding window over the last starts.

    Pure: the caller passes the time. `wait(now)` says how long to wait before the next request;
    `take(now)` records one that starts now.
    """

    limit: int = TWILIO_REQUESTS_PER_MINUTE
    period: float = 60.0
    # Requests spaced evenly (period/limit apart) rather than in one burst a period: the same
    # rate, and the worker never spends a whole burst's CPU beside the gate at once.
    spread: bool = True

    def __post_init__(self) -> None:
        self._starts: deque[float] = deque()
        self._held_until = float("-inf")

    def wait(self, now: float) -> float:
        while self._starts and self._starts[0] <= now - self.period:
            self._starts.popleft()
        pause = 0.0
        if len(self._starts) >= self.limit:
            # A millisecond more than exact: floating-point time (unix seconds have ~0.2 us
            # steps) must not let the oldest start still count when the wait is over.
            pause = self._starts[0] + self.period - now + MARGIN
        if self.spread and self._starts:
            pause = max(pause, self._starts[-1] + self.period / self.limit - now)
        return max(0.0, pause, self._held_until - now)

    def take(self, now: float) -> None:
        if self.wait(now) > 0:
            raise ValueError("rate window is full")
        self._starts.append(now)

    def hold_until(self, until: float) -> None:
        """After a 429: no request before `until` (the starts already counted still count)."""
        self._held_until = max(self._held_until, until)
