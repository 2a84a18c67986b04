"""Signed ledger checkpoints: write them (a file, the database, an HTTP endpoint) and verify the
ledger against one.

A checkpoint is worth something only outside the database it describes: the file and the
endpoint copy are the proof; the database copy lets an evidence packet show which checkpoint
covers an event. The worker writes one a day (`write_if_due`); `stopline ledger checkpoint`
writes one on demand.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Connection, Engine

from stopline.domain import checkpoint
from stopline.domain.checkpoint import Finding, Head
from stopline.domain.consent import verify_chain
from stopline.domain.errors import StoplineError
from stopline.security import (
    Keyring,
    ed25519_verifies,
    key_id,
    public_key_pem,
    public_key_text,
)
from stopline.services.consent import now_utc
from stopline.store import checkpoints as store
from stopline.store import ledger
from stopline.store.db import read, write

log = logging.getLogger(__name__)

EVERY = timedelta(hours=24)  # the worker's schedule


@dataclass(frozen=True)
class PublicKey:
    text: str  # raw 32 bytes, base64
    pem: str
    key_id: str

    def as_dict(self) -> dict[str, str]:
        return {"public_key": self.text, "pem": self.pem, "key_id": self.key_id}


def public_key(keyring: Keyring) -> PublicKey:
    key = keyring.checkpoint_key().public_key()
    text = public_key_text(key)
    return PublicKey(text, public_key_pem(key), key_id(text))


def sign(keyring: Keyring, head: Head, now: datetime) -> dict[str, Any]:
    pub = public_key(keyring)
    document = checkpoint.unsigned_document(head, now, pub.key_id, pub.text)
    signature = keyring.checkpoint_key().sign(checkpoint.signed_bytes(document))
    return {**document, "signature": base64.b64encode(signature).decode()}


def create(
    conn: Connection, keyring: Keyring, *, now: datetime, workspace_id: int | None = None
) -> list[dict[str, Any]]:
    """Sign every workspace's current head (or one's) and keep the checkpoints in the database."""
    documents = []
    for head in store.current_heads(conn, workspace_id):
        document = sign(keyring, head, now)
        text = json.dumps(document, sort_keys=True, ensure_ascii=False)
        store.insert_checkpoint(conn, head.workspace_id, head.seq, now, text)
        documents.append(document)
    return documents


@dataclass
class Written:
    path: Path
    checkpoints: list[dict[str, Any]]
    published_to: str | None = None
    publish_error: str | None = None
    emailed_to: str | None = None
    email_error: str | None = None

    @property
    def failed(self) -> str | None:
        """Why a copy could not be sent elsewhere, if one could not."""
        return self.publish_error or self.email_error

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "workspaces": len(self.checkpoints),
            "published_to": self.published_to,
            "publish_error": self.publish_error,
            "emailed_to": self.emailed_to,
            "email_error": self.email_error,
            "checkpoints": self.checkpoints,
        }


def default_path(data_dir: Path, now: datetime) -> Path:
    return data_dir / "checkpoints" / f"ledger-checkpoint-{now:%Y%m%dT%H%M%SZ}.json"


def write_checkpoint(
    engine: Engine,
    keyring: Keyring,
    *,
    data_dir: Path,
    out: Path | None = None,
    url: str | None = None,
    token: str | None = None,
    email: str | None = None,
    workspace_id: int | None = None,
    now: datetime | None = None,
    http: httpx.Client | None = None,
) -> Written:
    """Checkpoint every workspace: into the database, a file, and (if set) an HTTP endpoint
    and an email address.

    The file is written whatever happens to the endpoint; a failed POST is reported, not
    raised, so the daily run still leaves its file.
    """
    now = now or now_utc()
    with write(engine) as conn:
        documents = create(conn, keyring, now=now, workspace_id=workspace_id)
    path = out or default_path(data_dir, now)
    content: dict[str, Any] = {
        "format": checkpoint.FORMAT,
        "created_at": checkpoint.timestamp(now),
        "checkpoints": documents,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    written = Written(path, documents)
    if url:
        written.publish_error = publish(content, url, token, http)
        if written.publish_error is None:
            written.published_to = url
    if email:
        written.email_error = send_email(content, email, path.name)
        if written.email_error is None:
            written.emailed_to = email
    return written


def send_email(content: Mapping[str, Any], to: str, name: str) -> str | None:
    """Email the checkpoints (the JSON in the body, to paste into a file); None when sent."""
    from stopline.services import mail

    try:
        settings = mail.require_configured()
        mail.send(
            settings,
            to,
            f"stopline ledger checkpoint {content['created_at']}",
            f"Signed ledger checkpoint {name}. Save the JSON below as a file and keep it: "
            "`stopline ledger verify --checkpoint FILE` checks the ledger against it.\n\n"
            + json.dumps(content, indent=2, ensure_ascii=False)
            + "\n",
        )
    except StoplineError as exc:
        return exc.message
    return None


def publish(
    content: Mapping[str, Any], url: str, token: str | None, http: httpx.Client | None = None
) -> str | None:
    """POST the checkpoints as JSON; None when the endpoint accepted them, else why not."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    client = http or httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0))
    try:
        response = client.post(url, json=content, headers=headers)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        if http is None:
            client.close()
    if response.status_code >= 300:
        return f"the endpoint answered HTTP {response.status_code}"
    return None


@dataclass(frozen=True)
class Schedule:
    """The worker's daily checkpoint: where it goes, and how often."""

    data_dir: Path
    url: str | None = None
    token: str | None = None
    email: str | None = None
    every: timedelta = EVERY


def write_if_due(
    engine: Engine, keyring: Keyring, schedule: Schedule, now: datetime | None = None
) -> Written | None:
    """Write a checkpoint if the newest one is older than the schedule's interval. Several
    workers may both write one at the turn of the day: two checkpoints are harmless."""
    now = now or now_utc()
    with read(engine) as conn:
        last = store.latest_created_at(conn)
    if last is not None and now - last < schedule.every:
        return None
    written = write_checkpoint(
        engine,
        keyring,
        data_dir=schedule.data_dir,
        url=schedule.url,
        token=schedule.token,
        email=schedule.email,
        now=now,
    )
    if written.failed:
        log.warning("ledger checkpoint %s not sent elsewhere: %s", written.path, written.failed)
    return written


@dataclass
class Verification:
    ok: bool
    findings: list[Finding] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "findings": [f.as_dict() for f in self.findings]}


def verify(
    conn: Connection, content: Any, *, trusted_key: str, workspace_id: int | None = None
) -> Verification:
    """Check each checkpoint's signature against `trusted_key`, then that the ledger still holds
    exactly the chain it covered (see `domain.checkpoint.judge`)."""
    findings = []
    for document in checkpoint.documents_of(content):
        head, signer, signature = checkpoint.parse(document)
        if workspace_id is not None and head.workspace_id != workspace_id:
            continue
        if signer != trusted_key:
            findings.append(
                Finding(
                    head.workspace_id,
                    head.seq,
                    False,
                    "other_key",
                    f"workspace {head.workspace_id}: signed by key {key_id(signer)}, not by "
                    f"this deployment's {key_id(trusted_key)}",
                )
            )
            continue
        if not ed25519_verifies(signer, checkpoint.signed_bytes(document), signature):
            findings.append(
                Finding(
                    head.workspace_id,
                    head.seq,
                    False,
                    "bad_signature",
                    f"workspace {head.workspace_id}: the signature does not match: the "
                    "checkpoint was altered after it was signed",
                )
            )
            continue
        findings.append(check_head(conn, head))
    return Verification(all(f.ok for f in findings), findings)


def check_head(conn: Connection, head: Head) -> Finding:
    current = ledger.read_head(conn, head.workspace_id)
    if current is None or current[0] < head.seq:
        return checkpoint.judge(head, current[0] if current else None, None, 0)
    report = verify_chain(
        ledger.iter_events(conn, head.workspace_id, through=head.seq), head.seq, head.hash
    )
    return checkpoint.judge(head, current[0], report.head_hash, len(report.problems))
