"""The sync loop: deliver due provider-sync reports, and read provider opt-out lists now and then.

It runs in its own thread of the worker pool, so a slow or unreachable provider delays only
other reports, never a send or the gate.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import httpx
from sqlalchemy import Engine

from stopline.security import Keyring
from stopline.services import provider_pull, provider_sync

log = logging.getLogger(__name__)

PULL_INTERVAL = 300.0  # seconds between reads of Telnyx's and AWS's opt-out lists
MAX_WAIT = 2.0  # a pass sleeps through the spacing between requests, not a full window


class SyncRunner:
    def __init__(
        self,
        engine: Engine,
        keyring: Keyring,
        http: Callable[[], httpx.Client],
        *,
        pull_interval: float = PULL_INTERVAL,
        clock: provider_sync.Clock | None = None,
    ) -> None:
        self.engine = engine
        self.keyring = keyring
        self.http = http
        self.pull_interval = pull_interval
        self.clock = clock or provider_sync.Clock()
        self._pusher: provider_sync.Pusher | None = None
        self._pulled = -float("inf")

    def step(self) -> bool:
        """One push pass that does not wait on a full rate window; a pull when it is due.
        Returns whether anything was sent (the loop idles otherwise)."""
        if self._pusher is None or self._pusher.http is not self.http():
            self._pusher = provider_sync.Pusher(
                self.engine,
                self.keyring,
                self.http(),
                clock=self.clock,
                windows=self._pusher.windows if self._pusher else {},
            )
        result = self._pusher.run_pass(wait=False, max_wait=MAX_WAIT)
        if time.monotonic() - self._pulled >= self.pull_interval:
            self._pulled = time.monotonic()
            for pulled in provider_pull.pull_all(self.engine, self.keyring, self.http()):
                if pulled.added:
                    log.info(
                        "channel %s: %s provider opt-outs recorded", pulled.channel_id, pulled.added
                    )
        return result.requests > 0
