"""A number's evidence packet: everything needed to prove its consent history to a third party.

The packet gathers the number's consent events (with the evidence of each opt-in and how strong
it is), the messages exchanged around them (the STOP and its confirmation with both
timestamps, anything handed over while opted out and why that was allowed), each event's hash
and the chain's verification, the newest signed checkpoint covering each event, and the
formulas and public key to check all of it without stopline. `files.evidence_pdf` prints it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from stopline.domain import checkpoint as checkpoint_rules
from stopline.domain import evidence_packet as rules
from stopline.domain.optin_evidence import STRENGTH_LABELS, Strength, strength
from stopline.security import Keyring, ed25519_verifies
from stopline.services import checkpoints, consent_api, joins
from stopline.services import ledger as ledger_service
from stopline.services.consent import now_utc
from stopline.services.workspaces import get_workspace
from stopline.store import checkpoints as checkpoint_store
from stopline.store import evidence as store
from stopline.store import lists as list_store
from stopline.store.workspaces import get_channel

_MESSAGE_FIELDS = (
    "sid",
    "direction",
    "channel_address",
    "body",
    "kind",
    "source",
    "status",
    "refusal_code",
    "created_at",
    "handed_at",
)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return rules.utc(value).isoformat()
    return value


def _message(message: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if message is None:
        return None
    out = {name: _plain(message.get(name)) for name in _MESSAGE_FIELDS}
    for extra in ("while_opted_out", "why_allowed"):
        if extra in message:
            out[extra] = message[extra]
    return out


def packet(
    conn: Connection,
    workspace_id: int,
    raw_number: str,
    keyring: Keyring,
    *,
    full_chain: bool = False,
) -> dict[str, Any]:
    """The evidence packet of a number, as plain JSON-ready data.

    Each event is always re-hashed and checked against its neighbours in the chain;
    `full_chain` also recomputes the workspace's whole chain, which takes time in proportion
    to the ledger (about 1 s per 10,000 events), so the CLI does it and the web asks."""
    report = consent_api.evidence(conn, workspace_id, raw_number, full_chain=full_chain)
    number = report["number"]
    workspace = get_workspace(conn, workspace_id)
    events = ledger_service.history(conn, workspace_id, number)
    messages = store.messages_with(conn, workspace_id, number)
    links = rules.link_events(events, messages)
    key = checkpoints.public_key(keyring)
    covering: dict[str, dict[str, Any]] = {}
    names: dict[tuple[str, int], str | None] = {}

    def name_of(kind: str, ident: int | None) -> str | None:
        if ident is None:
            return None
        if (kind, ident) not in names:
            row = (
                list_store.get_list(conn, workspace_id, ident)
                if kind == "list"
                else get_channel(conn, workspace_id, ident)
            )
            names[(kind, ident)] = (
                None if row is None else (row.name if kind == "list" else row.address)
            )
        return names[(kind, ident)]

    for item in report["events"]:
        seq = item["seq"]
        found = strength(item["action"], item["method"], item["detail"])
        item["evidence"] = (item["detail"] or {}).get("evidence")
        item["evidence_strength"] = found.value if found else None
        item["evidence_strength_label"] = STRENGTH_LABELS[found] if found else None
        item["list_name"] = name_of("list", item["list_id"])
        item["channel"] = name_of("channel", item["channel_id"])
        link = links.get(seq) or {}
        item["inbound_message"] = _message(link.get("inbound"))
        item["confirmation"] = _message(link.get("confirmation"))
        text = checkpoint_store.covering(conn, workspace_id, seq)
        item["checkpoint"] = None
        if text is not None:
            document = json.loads(text)
            signed = document.get("public_key") == key.text and ed25519_verifies(
                key.text, checkpoint_rules.signed_bytes(document), document.get("signature", "")
            )
            covering[document["signature"]] = document
            item["checkpoint"] = {
                "created_at": document["created_at"],
                "seq": document["seq"],
                "hash": document["hash"],
                "signature_valid": signed,
            }
    chain = report["chain"] or {}
    return {
        "format": rules.FORMAT,
        "generated_at": now_utc().isoformat(),
        "workspace": {"id": workspace.id, "name": workspace.name, "slug": workspace.slug},
        "number": number,
        "state": report["state"],
        "events": report["events"],
        "messages": [_message(m) for m in rules.annotate_messages(events, messages)],
        "verification": {
            "verified": report["verified"],
            "events_verified": all(all(e["checks"].values()) for e in report["events"]),
            "state_matches_events": report["state_matches_events"],
            "chain_checked": full_chain,
            "chain_ok": chain.get("ok"),
            "chain_events": chain.get("events"),
            "head": report["head"],
            "problems": chain.get("problems", []),
            "events_without_checkpoint": [
                e["seq"] for e in report["events"] if e["checkpoint"] is None
            ],
        },
        "join_requests": joins.requests_of(conn, workspace_id, number),
        "checkpoints": list(covering.values()),
        "public_key": key.as_dict(),
        "how_to_verify": {
            "steps": list(rules.HOW_TO_VERIFY),
            "hash_formula": rules.HASH_FORMULA,
            "checkpoint_formula": rules.CHECKPOINT_FORMULA,
        },
    }


@dataclass(frozen=True)
class OptIn:
    """One recorded opt-in of a number and how well it is evidenced (the contact page shows
    these, weak ones marked)."""

    seq: int
    list_id: int | None
    list_name: str | None
    occurred_at: datetime
    strength: Strength
    label: str
    version: str | None

    @property
    def weak(self) -> bool:
        return self.strength in (Strength.NONE, Strength.PARTIAL)


def opt_ins(conn: Connection, workspace_id: int, number: str) -> list[OptIn]:
    found = []
    names = {int(row.id): row.name for row in list_store.all_lists(conn, workspace_id)}
    for event in ledger_service.history(conn, workspace_id, number):
        level = strength(event.action.value, event.method.value, event.detail)
        if level is None:
            continue
        evidence = (event.detail or {}).get("evidence") or {}
        found.append(
            OptIn(
                event.seq,
                event.list_id,
                names.get(event.list_id) if event.list_id is not None else None,
                event.occurred_at,
                level,
                STRENGTH_LABELS[level],
                evidence.get("consent_version"),
            )
        )
    return found
