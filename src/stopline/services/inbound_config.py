"""A workspace's inbound configuration, parsed once per distinct stored value: its policy, its
compiled keyword sets and its lists' own keywords (every inbound message needs all three).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from stopline.domain.errors import NotFound, StoplineError
from stopline.domain.policy import Policy
from stopline.store import inbound as store

if TYPE_CHECKING:
    from stopline.domain.keywords import KeywordConfig, ListKeywords

log = logging.getLogger(__name__)


# --- configuration caches ---------------------------------------------------------------------

_cache_lock = threading.Lock()
_policies: dict[str, Policy] = {}
_keyword_configs: dict[str, KeywordConfig] = {}


def policy_from_settings(settings: Mapping[str, Any] | str | None) -> Policy:
    """A workspace's Policy from its stored settings, parsed once per distinct settings value."""
    key = (
        settings if isinstance(settings, str) else json.dumps(settings, sort_keys=True, default=str)
    )
    policy = _policies.get(key)
    if policy is None:
        parsed = json.loads(settings) if isinstance(settings, str) else settings
        policy = Policy.from_dict(parsed)  # type: ignore[arg-type]
        with _cache_lock:
            if len(_policies) > 1024:
                _policies.clear()
            _policies[key] = policy
    return policy


_configs_by_policy: dict[int, tuple[Policy, KeywordConfig]] = {}


def keyword_config(policy: Policy) -> KeywordConfig:
    """The compiled keyword sets of a policy, built once per distinct configuration."""
    known = _configs_by_policy.get(id(policy))
    if known is not None and known[0] is policy:  # policies are cached, so usually the same one
        return known[1]
    key = json.dumps(
        [list(policy.keyword_sets), [dict(k) for k in policy.custom_keywords]],
        sort_keys=True,
        default=str,
    )
    config = _keyword_configs.get(key)
    if config is None:
        from stopline.domain.keywords import KeywordConfig

        config = KeywordConfig.from_settings(policy.keyword_sets, list(policy.custom_keywords))
    with _cache_lock:
        if len(_keyword_configs) > 1024:
            _keyword_configs.clear()
            _configs_by_policy.clear()
        _keyword_configs[key] = config
        _configs_by_policy[id(policy)] = (policy, config)
    return config


_parsed_lists: dict[tuple[int, str, str | None], ListKeywords | None] = {}


def keywords_of_lists(rows: Sequence[Any]) -> list[ListKeywords]:
    """The lists' keywords as the classifier takes them, parsed once per distinct stored value
    (every inbound message needs them; parsing costs ~25 us a list)."""
    out: list[ListKeywords] = []
    for row in rows:
        stored = row.keywords
        text = stored if isinstance(stored, str) else json.dumps(stored, sort_keys=True)
        key = (int(row.id), text, row.help_text)
        if key in _parsed_lists:
            parsed = _parsed_lists[key]
        else:
            parsed = _parse_list_keywords(row)
            with _cache_lock:
                if len(_parsed_lists) > 4096:
                    _parsed_lists.clear()
                _parsed_lists[key] = parsed
        if parsed is not None:
            out.append(parsed)
    return out


def _parse_list_keywords(row: Any) -> ListKeywords | None:
    """One list's stored keywords, or None if it has none.

    Stored as ``{"opt_out": [...], "opt_in": [...], "help": [...]}`` (words, or entries like
    ``{"word", "mode", "language"}``) or as a list of entries with their ``intent``. A list whose
    stored keywords are invalid is skipped, logged: the global keywords still apply to it.
    """
    from stopline.domain.keywords import ListKeywords

    stored = row.keywords or {}
    if isinstance(stored, str):
        stored = json.loads(stored)
    entries: list[Mapping[str, Any]] = []
    if isinstance(stored, Mapping):
        for intent in ("opt_out", "opt_in", "help"):
            for item in stored.get(intent) or ():
                entry = dict(item) if isinstance(item, Mapping) else {"word": item}
                entries.append({**entry, "intent": intent})
    elif isinstance(stored, list):
        entries = [dict(e) for e in stored if isinstance(e, Mapping)]
    if not entries:
        return None
    try:
        return ListKeywords.from_settings(int(row.id), entries, row.help_text)
    except StoplineError:
        log.warning("list %s has invalid keywords; only global keywords apply", row.id)
        return None


def workspace_policy(conn: Connection, workspace_id: int) -> Policy:
    """The workspace's current settings (parsed once per distinct value)."""
    settings = store.settings_text(conn, workspace_id)
    if settings is None:
        raise NotFound("No such workspace.", code="workspace_not_found")
    return policy_from_settings(settings)
