"""Exporting the opt-out list: filters, formula-safe cells, the job, the file, the email."""

from __future__ import annotations

import csv
import io
import tracemalloc

import pytest

from stopline.domain.consent import Method, Scope
from stopline.domain.errors import InvalidInput, NotFound
from stopline.services import contacts, exports, jobs, mail, optouts
from stopline.services.consent import bulk_opt_out
from stopline.store.db import read, write
from tests.manage import member, numbers, stop_reply
from tests.services.test_imports import run_jobs
from tests.smtp import smtp_server


def exported(engine, ws_id: int, **flt: str) -> list[dict[str, str]]:
    out = io.BytesIO()
    exports.write_export(engine, ws_id, exports.ExportFilter(**flt), out)
    data = out.getvalue()
    assert data.startswith("\ufeff".encode())  # Excel reads UTF-8 only with a BOM
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_export_has_every_column_and_neutralises_formulas_but_not_numbers(engine, ws) -> None:
    a, b, c = numbers(3, seed=60)
    with write(engine) as conn:
        contacts.create_contact(conn, member(ws), name="=cmd|' /C calc'!A0", numbers=[a])
        optouts.add_opt_out(conn, member(ws), a, reason='=HYPERLINK("http://evil","click")')
        optouts.add_opt_out(
            conn, member(ws), b, reason="@SUM(1)", scope=Scope.CHANNEL_TYPE, scope_key="sms"
        )
        optouts.block(conn, member(ws), c, reason='-2+3 spam, "quoted"\nnew line')
    rows = exported(engine, ws.id)
    assert list(rows[0]) == list(exports.HEADER)
    by = {(r["number"], r["scope"]): r for r in rows}
    first = by[(a, "workspace")]
    assert first["number"] == a  # "+1..." is a plain number: left alone
    assert first["reason"] == '\'=HYPERLINK("http://evil","click")'
    assert first["contact"].startswith("'=cmd")
    assert first["method"] == "manual" and first["actor"] == "member:ann"
    assert first["created_at"].endswith("Z") and "T" in first["created_at"]
    assert by[(b, "channel_type")]["reason"] == "'@SUM(1)"
    assert by[(b, "channel_type")]["scope_key"] == "sms"
    blocked = by[(c, "workspace")]
    assert blocked["blocked"] == "yes" and blocked["reason"] == '\'-2+3 spam, "quoted"\nnew line'


def test_export_takes_the_opt_out_pages_filters(engine, ws) -> None:
    manual, replied = numbers(2, seed=61)
    with write(engine) as conn:
        optouts.add_opt_out(conn, member(ws), manual)
    stop_reply(engine, ws, replied)
    assert [r["number"] for r in exported(engine, ws.id, method="reply")] == [replied]
    assert [r["number"] for r in exported(engine, ws.id, search=manual[-6:])] == [manual]
    assert exported(engine, ws.id, scope="channel") == []
    with pytest.raises(InvalidInput):
        exported(engine, ws.id, method="nope")
    with pytest.raises(InvalidInput):
        exported(engine, ws.id, search="%_")


def test_export_pages_through_a_long_list_in_number_order(engine, ws, monkeypatch) -> None:
    from stopline.store import optouts as store

    wanted = numbers(250, seed=62)
    with write(engine) as conn:
        bulk_opt_out(conn, ws.id, wanted, method=Method.IMPORT, reason="r", actor="x")
        # One number opted out in three scopes: its rows straddle page ends.
        for kind in ("sms", "whatsapp"):
            optouts.add_opt_out(
                conn, member(ws), wanted[7], scope=Scope.CHANNEL_TYPE, scope_key=kind
            )
    real = store.export_csv_pages
    monkeypatch.setattr(store, "export_csv_pages", lambda *a, **k: real(*a, **{**k, "page": 7}))
    rows = exported(engine, ws.id)
    assert [(r["number"], r["scope"], r["scope_key"]) for r in rows] == sorted(
        [(n, "workspace", "") for n in wanted]
        + [(wanted[7], "channel_type", "sms"), (wanted[7], "channel_type", "whatsapp")]
    )


def test_export_memory_does_not_grow_with_the_list(engine, ws, monkeypatch) -> None:
    from stopline.store import optouts as store

    real = store.export_csv_pages
    monkeypatch.setattr(store, "export_csv_pages", lambda *a, **k: real(*a, **{**k, "page": 1000}))

    class Sink(io.RawIOBase):
        written = 0

        def writable(self) -> bool:
            return True

        def write(self, b) -> int:  # type: ignore[no-untyped-def]
            self.written += len(b)
            return len(b)

    def peak_of_export() -> tuple[int, int]:
        sink = Sink()
        tracemalloc.start()
        try:
            exports.write_export(engine, ws.id, exports.ExportFilter(), sink)  # type: ignore[arg-type]
            return tracemalloc.get_traced_memory()[1], sink.written
        finally:
            tracemalloc.stop()

    batch = numbers(24_000, seed=63)
    with write(engine) as conn:
        bulk_opt_out(conn, ws.id, batch[:8000], method=Method.IMPORT, reason="r" * 40, actor="x")
    small_peak, small_size = peak_of_export()
    with write(engine) as conn:
        bulk_opt_out(conn, ws.id, batch[8000:], method=Method.IMPORT, reason="r" * 40, actor="x")
    big_peak, big_size = peak_of_export()
    assert big_size > 2.5 * small_size
    assert big_peak < 1.5 * small_peak  # pages and batches: flat however long the list


def test_export_job_writes_a_file_the_workspace_can_download(engine, ws, tmp_path) -> None:
    wanted = numbers(5, seed=64)
    with write(engine) as conn:
        for n in wanted:
            optouts.add_opt_out(conn, member(ws), n)
    job = exports.start_export(engine, member(ws), data_dir=tmp_path)
    done = run_jobs(engine, job.id, ws.id, [exports.KIND])
    assert done.status == "done", done.error
    assert done.result["rows"] == 5 and done.result["emailed_to"] is None
    path = exports.export_path(tmp_path, done)
    assert path.parent == exports.exports_dir(tmp_path, ws.id).resolve()
    assert path.stat().st_mode & 0o777 == 0o600
    assert {r["number"] for r in csv.DictReader(io.StringIO(path.read_text("utf-8-sig")))} == set(
        wanted
    )
    assert not list(path.parent.glob(".*partial"))


def test_an_export_not_yet_done_or_of_another_kind_cannot_be_downloaded(
    engine, ws, tmp_path
) -> None:
    job = exports.start_export(engine, member(ws), data_dir=tmp_path)
    with pytest.raises(NotFound) as exc:
        exports.export_path(tmp_path, job)
    assert exc.value.code == "export_not_ready"
    run_jobs(engine, job.id, ws.id, [exports.KIND])
    with read(engine) as conn:
        done = jobs.get(conn, ws.id, job.id)
    exports.export_path(tmp_path, done).unlink()
    with pytest.raises(NotFound) as gone:
        exports.export_path(tmp_path, done)
    assert gone.value.code == "export_gone"


def test_asking_for_email_without_smtp_is_refused_up_front(
    engine, ws, tmp_path, monkeypatch
) -> None:
    monkeypatch.delenv("STOPLINE_SMTP_HOST", raising=False)
    with pytest.raises(InvalidInput) as exc:
        exports.start_export(engine, member(ws), data_dir=tmp_path, email="me@example.com")
    assert exc.value.code == "email_not_configured"
    with pytest.raises(InvalidInput) as bad:
        exports.start_export(engine, member(ws), data_dir=tmp_path, email="not an address")
    assert bad.value.code == "email_invalid"


def _smtp_env(monkeypatch, port: int, tls: str, **extra: str) -> None:
    monkeypatch.setenv("STOPLINE_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("STOPLINE_SMTP_PORT", str(port))
    monkeypatch.setenv("STOPLINE_SMTP_TLS", tls)
    monkeypatch.setenv("STOPLINE_SMTP_FROM", "stopline@example.com")
    for key, value in extra.items():
        monkeypatch.setenv(f"STOPLINE_SMTP_{key.upper()}", value)


def test_export_emails_a_download_link_when_ready(engine, ws, tmp_path, monkeypatch) -> None:
    with write(engine) as conn:
        optouts.add_opt_out(conn, member(ws), numbers(1, seed=65)[0])
    with smtp_server() as (port, mailbox):
        _smtp_env(monkeypatch, port, "none")
        job = exports.start_export(
            engine,
            member(ws),
            data_dir=tmp_path,
            email="owner@example.com",
            public_url="https://stopline.example.com/",
        )
        done = run_jobs(engine, job.id, ws.id, [exports.KIND])
    assert done.result["emailed_to"] == "owner@example.com", done.result
    [message] = mailbox.messages
    assert mailbox.recipients == [["owner@example.com"]]
    assert message["Subject"] == "Your stopline opt-out export is ready"
    body = message.get_payload(decode=True).decode()
    assert f"https://stopline.example.com/api/v1/exports/{job.id}/download" in body
    assert "+1" not in body  # a link, never the list itself


def test_starttls_with_login_and_a_verified_certificate(tmp_path, monkeypatch) -> None:
    with smtp_server(tmp_path, username="mailer", password="s3cret") as (port, mailbox):
        _smtp_env(
            monkeypatch,
            port,
            "starttls",
            username="mailer",
            password="s3cret",
            ca_file=str(tmp_path / "smtp.crt"),
        )
        settings = mail.require_configured()
        mail.send(settings, "a@example.com", "hello", "body")
    assert mailbox.logins == ["mailer"] and len(mailbox.messages) == 1


def test_an_untrusted_certificate_is_refused(tmp_path, monkeypatch) -> None:
    with smtp_server(tmp_path) as (port, mailbox):
        _smtp_env(monkeypatch, port, "starttls")
        with pytest.raises(mail.MailError):
            mail.send(mail.require_configured(), "a@example.com", "hello", "body")
    assert mailbox.messages == []


def test_starttls_never_falls_back_to_plain_text(engine, ws, tmp_path, monkeypatch) -> None:
    with smtp_server() as (port, mailbox):  # no STARTTLS on offer
        _smtp_env(monkeypatch, port, "starttls")
        job = exports.start_export(engine, member(ws), data_dir=tmp_path, email="o@example.com")
        done = run_jobs(engine, job.id, ws.id, [exports.KIND])
    assert done.status == "done"  # the file is ready all the same
    assert done.result["emailed_to"] is None and "STARTTLS" in done.result["email_error"]
    assert mailbox.messages == []


def test_smtp_settings_come_from_the_environment_with_safe_defaults() -> None:
    assert mail.SmtpSettings.from_env({}) is None
    settings = mail.SmtpSettings.from_env({"STOPLINE_SMTP_HOST": "mail.example.com"})
    assert settings is not None
    assert (settings.port, settings.tls, settings.sender) == (
        587,
        "starttls",
        "stopline@mail.example.com",
    )
    ssl_port = mail.SmtpSettings.from_env({"STOPLINE_SMTP_HOST": "m", "STOPLINE_SMTP_TLS": "ssl"})
    assert ssl_port is not None and ssl_port.port == 465
    with pytest.raises(InvalidInput):
        mail.SmtpSettings.from_env({"STOPLINE_SMTP_HOST": "m", "STOPLINE_SMTP_TLS": "maybe"})


def test_old_export_files_are_purged(engine, ws, tmp_path) -> None:
    import os
    import time

    folder = exports.exports_dir(tmp_path, ws.id)
    folder.mkdir(parents=True)
    old, new = folder / "old.csv", folder / "new.csv"
    old.write_text("x")
    new.write_text("x")
    stale = time.time() - (exports.KEEP_DAYS + 1) * 86400
    os.utime(old, (stale, stale))
    assert exports.purge_expired(tmp_path) == 1
    assert not old.exists() and new.exists()


# --- several processes ---------------------------------------------------------------------------


def _mixed_list(engine, ws, count: int, seed: int) -> list[str]:
    """Opt-outs with contacts, blocks, other scopes and formula-like reasons among them."""
    wanted = numbers(count, seed=seed)
    with write(engine) as conn:
        bulk_opt_out(conn, ws.id, wanted, method=Method.IMPORT, reason="old, CRM", actor="x")
        contacts.create_contact(conn, member(ws), name='=Bob "B"', numbers=[wanted[3]])
        optouts.block(conn, member(ws), wanted[40], reason="spam\nagain")
        optouts.add_opt_out(
            conn, member(ws), wanted[41], reason="@x", scope=Scope.CHANNEL_TYPE, scope_key="sms"
        )
    return wanted


@pytest.mark.parametrize("workers", [2, 3])
def test_several_processes_write_the_same_file_as_one(
    engine, ws, tmp_path, monkeypatch, workers
) -> None:
    _mixed_list(engine, ws, 300, seed=65)
    one = tmp_path / "one.csv"
    exports.run_export(engine, ws.id, exports.ExportFilter(), one, workers=1)
    monkeypatch.setattr(exports, "PARALLEL_MIN_ROWS", 10)
    seen: list[tuple[int, int | None]] = []
    several = tmp_path / "several.csv"
    rows = exports.run_export(
        engine,
        ws.id,
        exports.ExportFilter(),
        several,
        progress=lambda done, total=None: seen.append((done, total)),
        workers=workers,
    )
    assert rows == 301
    assert several.read_bytes() == one.read_bytes()
    assert seen[0] == (0, 301)  # the parallel path ran: it announces the list's size first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.csv", "several.csv"]
    filtered = tmp_path / "filtered.csv"
    assert exports.run_export(engine, ws.id, exports.ExportFilter(scope="channel_type"), filtered,
                              workers=workers) == 1  # fmt: skip


def test_an_export_job_of_a_long_list_runs_in_parts_and_reports_its_progress(
    engine, ws, tmp_path, monkeypatch
) -> None:
    from stopline.services import export_parts

    wanted = _mixed_list(engine, ws, 120, seed=68)
    monkeypatch.setattr(exports, "PARALLEL_MIN_ROWS", 10)
    monkeypatch.setattr(exports, "default_workers", lambda: 2)  # however many CPUs CI has
    parts: list[int] = []
    real = export_parts.write_parts
    monkeypatch.setattr(
        export_parts, "write_parts", lambda *a, **k: parts.append(len(a[3]) + 1) or real(*a, **k)
    )
    job = exports.start_export(engine, member(ws), data_dir=tmp_path)
    done = run_jobs(engine, job.id, ws.id, [exports.KIND])
    assert done.status == "done", done.error
    assert parts and parts[0] >= 2  # written by several processes
    assert done.result["rows"] == 121
    assert (done.progress_done, done.progress_total) == (121, 121)
    path = exports.export_path(tmp_path, done)
    got = [r["number"] for r in csv.DictReader(io.StringIO(path.read_text("utf-8-sig")))]
    assert sorted(set(got)) == sorted(wanted) and len(got) == 121


def test_parts_read_one_snapshot_while_opt_outs_keep_arriving(engine, ws, tmp_path, monkeypatch):
    """A writer adds a low and a high number in each transaction, around the whole export.

    The parts cover the low and the high end of the list: had they read different states, the
    file would hold a low number without its high partner or the other way round.
    """
    import threading

    wanted = numbers(400, seed=66)
    with write(engine) as conn:
        bulk_opt_out(conn, ws.id, wanted, method=Method.IMPORT, reason="r", actor="x")
    monkeypatch.setattr(exports, "PARALLEL_MIN_ROWS", 10)
    stop = threading.Event()
    pairs: list[tuple[str, str]] = []

    def keep_writing() -> None:
        i = 0
        while not stop.is_set():
            pair = (f"+1212555{i:04d}", f"+1917555{i:04d}")  # below and above every 415 number
            with write(engine) as conn:
                bulk_opt_out(conn, ws.id, list(pair), method=Method.API, reason="p", actor="x")
            pairs.append(pair)
            i += 1

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        while len(pairs) < 5:
            stop.wait(0.01)
        files = []
        for k in range(4):
            before = len(pairs)
            while len(pairs) < before + 3:  # the writer is still at it
                stop.wait(0.01)
            path = tmp_path / f"export-{k}.csv"
            exports.run_export(engine, ws.id, exports.ExportFilter(), path, workers=2)
            files.append(path)
    finally:
        stop.set()
        writer.join()
    counts = []
    for path in files:
        got = {r["number"] for r in csv.DictReader(io.StringIO(path.read_text("utf-8-sig")))}
        assert set(wanted) <= got
        low = [lo for lo, hi in pairs if lo in got]
        high = [hi for lo, hi in pairs if hi in got]
        assert len(low) == len(high), (path.name, len(low), len(high))
        assert all(hi in got for lo, hi in pairs if lo in got)
        counts.append(len(low))
    assert counts == sorted(counts) and len(set(counts)) == 4  # writes went on all along


def test_a_part_that_fails_fails_the_export_and_leaves_no_files(engine, ws, tmp_path) -> None:
    from stopline.services import export_parts

    wanted = sorted(_mixed_list(engine, ws, 50, seed=67))
    out = tmp_path / "out.csv"
    with pytest.raises(export_parts.PartFailed, match="unexpected keyword"):
        export_parts.write_parts(
            engine, ws.id, {"colour": "red"}, [wanted[25]], out, list(exports.HEADER)
        )
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]  # the caller removes it
    path = tmp_path / "final.csv"
    exports.run_export(engine, ws.id, exports.ExportFilter(), path, workers=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["final.csv", "out.csv"]


def test_parts_open_the_same_database_wherever_they_run(tmp_path, monkeypatch) -> None:
    import os

    from stopline.services.export_parts import shareable_url
    from stopline.store.db import make_engine

    monkeypatch.chdir(tmp_path)
    relative = make_engine("sqlite:///data/stopline.db")
    assert shareable_url(relative) == f"sqlite:///{os.path.join(tmp_path, 'data/stopline.db')}"
    # An in-memory database is this process's alone: the export stays in one process.
    memory = make_engine("sqlite://")
    assert shareable_url(memory) is None
    assert exports._split_points(memory, 1, 4) == (0, [])
    pg = make_engine("postgresql://u:secret@db.example:5432/stopline")
    assert shareable_url(pg) == "postgresql+psycopg://u:secret@db.example:5432/stopline"


def test_progress_counts_the_rows_written_so_far(engine, ws, monkeypatch) -> None:
    from stopline.services import export_parts
    from stopline.store import optouts as store

    with write(engine) as conn:
        bulk_opt_out(conn, ws.id, numbers(40, seed=69), method=Method.IMPORT, reason="r", actor="x")
    real = store.export_csv_pages
    monkeypatch.setattr(store, "export_csv_pages", lambda *a, **k: real(*a, **{**k, "page": 5}))
    monkeypatch.setattr(export_parts, "PROGRESS_EVERY", 12)
    seen: list[int] = []
    exports.write_export(engine, ws.id, exports.ExportFilter(), io.BytesIO(), progress=seen.append)
    assert seen == [15, 30]


@pytest.mark.parametrize("formula", [False, True])
def test_one_stop_longer_than_the_csv_field_limit_never_breaks_an_export(
    engine, ws, monkeypatch, formula
) -> None:
    """Hole 6: a 140,000-character reason (a recipient's whole STOP text is kept; before the
    limits, a member's reason too) made every later export fail on csv's field limit. Small
    pages, so the long row is a page's last (the page key was parsed out of the CSV text)."""
    monkeypatch.setattr(csv, "field_size_limit", csv.field_size_limit)  # unchanged, for sure
    long_text = ("=HYPERLINK(1)" if formula else "") + "STOP " + "please " * 20_000
    a, b, c = numbers(3, seed=61)
    for number in (a, b, c):
        stop_reply(engine, ws, number, long_text if number == b else "STOP")
    from stopline.store import optouts as optout_store

    original = optout_store.export_csv_pages
    monkeypatch.setattr(
        optout_store, "export_csv_pages", lambda *a, **k: original(*a, **{**k, "page": 1})
    )
    out = io.BytesIO()
    exports.write_export(engine, ws.id, exports.ExportFilter(), out)
    text = out.getvalue().decode("utf-8-sig")
    assert text.count("\r\n") >= 4 and len(text) > 140_000
    assert a in text and b in text and c in text
    expected = ("'" + long_text) if formula else long_text
    assert expected.strip() in text.replace('""', '"')
