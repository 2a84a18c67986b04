"""Signed ledger checkpoints: the head of each workspace's chain at a moment, in a canonical form.

A checkpoint kept outside the database (a file, another server) proves later that the ledger
still holds exactly what it held then: the chain up to the checkpoint's sequence must end at the
checkpoint's hash. A database restored from an older backup ends *before* that sequence; a
rewritten tail hashes differently there. A checkpoint holds only workspace ids, sequences,
hashes and times, never a phone number or a text.

The signature is Ed25519 over `signed_bytes(document)`: the UTF-8 JSON of every field but
``signature``, keys sorted, no spaces. Signing itself is done by `stopline.security`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stopline.domain.errors import InvalidInput

FORMAT = "stopline-ledger-checkpoint/1"
_HASH = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Head:
    """One workspace's chain head: its last event's sequence, hash and recording time."""

    workspace_id: int
    seq: int
    hash: str
    recorded_at: str | None  # ISO 8601 UTC; None for an empty ledger (seq 0)


def timestamp(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def unsigned_document(
    head: Head, created_at: datetime, key_id: str, public_key: str
) -> dict[str, Any]:
    """One workspace's checkpoint before signing (each workspace's is signed on its own, so an
    evidence packet can carry its workspace's checkpoint and nothing of any other tenant)."""
    return {
        "format": FORMAT,
        "workspace_id": head.workspace_id,
        "seq": head.seq,
        "hash": head.hash,
        "head_recorded_at": head.recorded_at,
        "created_at": timestamp(created_at),
        "key_id": key_id,
        "public_key": public_key,
    }


def signed_bytes(document: Mapping[str, Any]) -> bytes:
    """The exact bytes the signature covers: the document without its signature, canonical JSON."""
    body = {k: v for k, v in document.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def documents_of(content: Any) -> list[Mapping[str, Any]]:
    """The checkpoints of a file: `{"checkpoints": [...]}` as written, or one checkpoint alone
    (as an evidence packet carries it)."""
    if isinstance(content, Mapping) and isinstance(content.get("checkpoints"), list):
        found = list(content["checkpoints"])
    else:
        found = [content]
    if not found:
        raise InvalidInput("The checkpoint file holds no checkpoint.", code="checkpoint_invalid")
    return found


def parse(document: Any) -> tuple[Head, str, str]:
    """A checkpoint's head, public key and signature, or InvalidInput saying what is wrong."""

    def bad(why: str) -> InvalidInput:
        return InvalidInput(f"Not a stopline ledger checkpoint: {why}.", code="checkpoint_invalid")

    if not isinstance(document, Mapping) or document.get("format") != FORMAT:
        raise bad(f"its format is not {FORMAT}")
    signature, public_key = document.get("signature"), document.get("public_key")
    if not isinstance(signature, str) or not signature:
        raise bad("it has no signature")
    if not isinstance(public_key, str) or not public_key:
        raise bad("it names no public key")
    ws, seq, digest = document.get("workspace_id"), document.get("seq"), document.get("hash")
    if not isinstance(ws, int) or not isinstance(seq, int) or seq < 0:
        raise bad("it has no workspace id or sequence")
    if not isinstance(digest, str) or not _HASH.fullmatch(digest):
        raise bad("its hash is not a SHA-256 hex digest")
    at = document.get("head_recorded_at")
    return Head(ws, seq, digest, at if isinstance(at, str) else None), public_key, signature


@dataclass(frozen=True)
class Finding:
    """What verifying one workspace's head against the ledger found."""

    workspace_id: int
    seq: int
    ok: bool
    kind: str  # ok | behind | rewritten | workspace_missing
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "workspace_id": self.workspace_id,
            "seq": self.seq,
            "ok": self.ok,
            "kind": self.kind,
            "detail": self.detail,
        }


def judge(head: Head, ledger_seq: int | None, chain_ends_at: str | None, broken: int) -> Finding:
    """Compare a checkpoint head with the ledger now.

    `ledger_seq` is the workspace's current head sequence (None: no such workspace),
    `chain_ends_at` the hash the recomputed chain reaches at `head.seq`, `broken` how many
    chain problems that recomputation found up to `head.seq`.
    """
    ws, seq = head.workspace_id, head.seq
    if ledger_seq is None:
        return Finding(
            ws, seq, False, "workspace_missing", f"workspace {ws} is not in the database"
        )
    if ledger_seq < seq:
        return Finding(
            ws,
            seq,
            False,
            "behind",
            f"workspace {ws}: the ledger ends at event #{ledger_seq} but the checkpoint covered "
            f"#{seq}: {seq - ledger_seq} consent change(s) are missing (a restore from an older "
            "backup, or deleted events)",
        )
    if broken or chain_ends_at != head.hash:
        return Finding(
            ws,
            seq,
            False,
            "rewritten",
            f"workspace {ws}: the chain up to event #{seq} no longer ends at the checkpoint's hash "
            f"{head.hash[:16]}...: events up to #{seq} were edited, deleted or replaced",
        )
    return Finding(
        ws, seq, True, "ok", f"workspace {ws}: events #1-#{seq} are exactly what was checkpointed"
    )
