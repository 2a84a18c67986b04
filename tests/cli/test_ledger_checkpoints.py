"""Signed ledger checkpoints, as an operator uses them: `stopline ledger checkpoint`, keep the file
elsewhere, and later `stopline ledger verify --checkpoint FILE` proves the ledger still holds
exactly what was checkpointed, or says plainly that it does not."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import sqlalchemy as sa

from stopline.store.tables import consent_events, ledger_heads, opt_outs, workspaces
from tests.conftest import unique_number


def _workspace_id(engine: sa.Engine, slug: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(sa.select(workspaces.c.id).where(workspaces.c.slug == slug)).scalar()
        )


def _drop_last_event(engine: sa.Engine, ws_id: int) -> None:
    """What an insider covering their tracks does: delete the last event and its opt-out row,
    and move the head back, so the chain and the state tables agree again."""
    with engine.begin() as conn:
        last = conn.execute(
            sa.select(consent_events.c.seq, consent_events.c.prev_hash)
            .where(consent_events.c.workspace_id == ws_id)
            .order_by(consent_events.c.seq.desc())
            .limit(1)
        ).one()
        for table in (consent_events, opt_outs):
            column = table.c.seq if table is consent_events else table.c.event_seq
            conn.execute(sa.delete(table).where(table.c.workspace_id == ws_id, column == last.seq))
        conn.execute(
            sa.update(ledger_heads)
            .where(ledger_heads.c.workspace_id == ws_id)
            .values(seq=last.seq - 1, hash=last.prev_hash)
        )


def _three_opt_outs(cli, slug: str) -> list[str]:
    numbers = [unique_number() for _ in range(3)]
    for n in numbers:
        assert cli("optouts", "add", n, "--reason", "asked", "-w", slug).code == 0
    return numbers


def test_checkpoint_verifies_then_fails_after_a_tail_event_is_deleted(
    cli, workspace_slug, engine, tmp_path
) -> None:
    numbers = _three_opt_outs(cli, workspace_slug)
    out = tmp_path / "cp.json"
    made = cli("ledger", "checkpoint", "--out", str(out), "--json")
    assert made.code == 0, made.err
    text = out.read_text()
    for n in numbers:  # a checkpoint never carries a number
        assert n not in text and n[1:] not in text

    ok = cli("ledger", "verify", "--checkpoint", str(out), "-w", workspace_slug)
    assert ok.code == 0, ok.out + ok.err
    assert "events #1-#3 are exactly what was checkpointed" in ok.out

    # An insider deletes the last consent change and moves the head back so the chain
    # still verifies on its own.
    ws_id = _workspace_id(engine, workspace_slug)
    _drop_last_event(engine, ws_id)
    assert cli("ledger", "verify", "-w", workspace_slug).code == 0  # the chain alone is fine

    broken = cli("ledger", "verify", "--checkpoint", str(out), "-w", workspace_slug, "--json")
    assert broken.code == 1
    (finding,) = broken.json()["findings"]
    assert finding["kind"] == "behind" and "1 consent change(s) are missing" in finding["detail"]
    human = cli("ledger", "verify", "--checkpoint", str(out), "-w", workspace_slug)
    assert human.code == 1 and "CHECKPOINT FAILED" in human.out


def test_a_rewritten_tail_fails_even_when_it_is_as_long(
    cli, workspace_slug, engine, tmp_path
) -> None:
    _three_opt_outs(cli, workspace_slug)
    out = tmp_path / "cp.json"
    assert cli("ledger", "checkpoint", "--out", str(out)).code == 0
    ws_id = _workspace_id(engine, workspace_slug)
    # Delete the last event and the head, then append a different, validly chained event.
    _drop_last_event(engine, ws_id)
    assert cli("optouts", "add", unique_number(), "-w", workspace_slug).code == 0
    assert cli("ledger", "verify", "-w", workspace_slug).code == 0
    result = cli("ledger", "verify", "--checkpoint", str(out), "-w", workspace_slug, "--json")
    assert result.code == 1 and result.json()["findings"][0]["kind"] == "rewritten"


def test_checkpoint_fails_after_the_database_is_restored_from_an_older_copy(
    cli, tmp_path, monkeypatch
) -> None:
    db = tmp_path / "own.db"
    monkeypatch.setenv("STOPLINE_DATABASE_URL", f"sqlite:///{db}")
    init = cli("init", "--name", "Restore Co", "--email", "restore@example.com", "--json")
    slug = init.json()["workspace"]
    _three_opt_outs(cli, slug)
    backup = tmp_path / "backup.db"
    with sqlite3.connect(db) as conn:  # the nightly backup: a plain copy of the file
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copyfile(db, backup)
    _three_opt_outs(cli, slug)  # three more STOPs after the backup
    out = tmp_path / "cp.json"
    assert cli("ledger", "checkpoint", "--out", str(out)).code == 0
    assert cli("ledger", "verify", "--checkpoint", str(out)).code == 0

    # The disk dies; the backup is restored.
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(backup, db)
    assert cli("ledger", "verify").code == 0  # internally consistent: only the checkpoint knows
    result = cli("ledger", "verify", "--checkpoint", str(out))
    assert result.code == 1
    assert "ends at event #3 but the checkpoint covered #6" in result.out
    assert "restore from an older backup" in result.out


def test_an_altered_checkpoint_or_another_key_is_refused(cli, workspace_slug, tmp_path) -> None:
    _three_opt_outs(cli, workspace_slug)
    out = tmp_path / "cp.json"
    assert cli("ledger", "checkpoint", "--out", str(out)).code == 0
    content = json.loads(out.read_text())
    mine = next(
        c for c in content["checkpoints"] if c["seq"] == 3 and c["hash"]
    )  # any workspace's will do; take one with events
    mine["seq"] = 2  # claim less was there
    out.write_text(json.dumps({"checkpoints": [mine]}))
    result = cli("ledger", "verify", "--checkpoint", str(out), "--json")
    assert result.code == 1 and result.json()["findings"][0]["kind"] == "bad_signature"

    key = cli("ledger", "public-key", "--json").json()
    assert len(key["key_id"]) == 16 and "BEGIN PUBLIC KEY" in key["pem"]
    other = "A" * 43 + "="
    result = cli("ledger", "verify", "--checkpoint", str(out), "--public-key", other, "--json")
    assert result.code == 1 and result.json()["findings"][0]["kind"] == "other_key"


def test_checkpoint_is_posted_to_the_configured_endpoint(
    cli, workspace_slug, tmp_path, monkeypatch
) -> None:
    received: list[tuple[str, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers.get("Authorization", ""), json.loads(body)))
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("STOPLINE_CHECKPOINT_URL", f"http://127.0.0.1:{server.server_port}/cp")
        monkeypatch.setenv("STOPLINE_CHECKPOINT_TOKEN", "s3cret")
        result = cli("ledger", "checkpoint", "--json")
        assert result.code == 0, result.out + result.err
        data = result.json()
        assert Path(data["path"]).exists()  # under STOPLINE_DATA_DIR by default
        assert data["published_to"].endswith("/cp")
        auth, posted = received[0]
        assert auth == "Bearer s3cret"
        assert posted["checkpoints"] == json.loads(Path(data["path"]).read_text())["checkpoints"]
    finally:
        server.shutdown()
        server.server_close()

    monkeypatch.setenv("STOPLINE_CHECKPOINT_URL", f"http://127.0.0.1:{server.server_port}/cp")
    failed = cli("ledger", "checkpoint")
    assert failed.code == 1 and "POST FAILED" in failed.out


def test_checkpoint_is_emailed_when_asked(cli, workspace_slug, monkeypatch) -> None:
    from tests.smtp import smtp_server

    with smtp_server() as (port, mailbox):
        monkeypatch.setenv("STOPLINE_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("STOPLINE_SMTP_PORT", str(port))
        monkeypatch.setenv("STOPLINE_SMTP_TLS", "none")
        monkeypatch.setenv("STOPLINE_CHECKPOINT_EMAIL", "auditor@example.com")
        result = cli("ledger", "checkpoint", "--json")
    assert result.code == 0, result.out + result.err
    assert result.json()["emailed_to"] == "auditor@example.com"
    [message] = mailbox.messages
    body = message.get_payload(decode=True).decode()
    assert "stopline-ledger-checkpoint/1" in body and "ledger verify --checkpoint" in body

    monkeypatch.delenv("STOPLINE_SMTP_HOST")
    failed = cli("ledger", "checkpoint")
    assert failed.code == 1 and "EMAIL FAILED" in failed.out
