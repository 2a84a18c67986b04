"""The core CLI commands, as an operator would use them: output, exit codes, clear errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import unique_number


def test_init_prints_credentials_once(cli) -> None:
    result = cli("init", "--name", "Init Test Co", "--email", "init@example.com", "--json")
    data = result.json()
    assert result.code == 0
    assert data["api_key"].startswith("sl_") and data["account_sid"].startswith("AC")
    assert len(data["auth_token"]) == 32 and data["owner_password"]


def test_opt_out_then_check_is_refused(cli, workspace_slug) -> None:
    number = unique_number()
    added = cli("optouts", "add", number, "--reason", "asked", "-w", workspace_slug, "--json")
    assert added.code == 0 and added.json()["changed"] is True
    check = cli("check", number, "-w", workspace_slug, "--json")
    assert check.code == 1 and check.json()["code"] == "opted_out"
    human = cli("check", number, "-w", workspace_slug)
    assert human.code == 1 and "refused: opted_out" in human.out


def test_check_of_a_clear_number_exits_zero(cli, workspace_slug) -> None:
    result = cli("check", "(415) 555-2671", "-w", workspace_slug, "--json")
    answer = result.json()
    assert result.code == 0 and {k: answer[k] for k in ("number", "input", "allowed")} == {
        "number": "+14155552671",
        "input": "(415) 555-2671",
        "allowed": True,
    }


def test_check_of_garbage_is_refused_as_invalid_number(cli, workspace_slug) -> None:
    result = cli("check", "call me maybe", "-w", workspace_slug, "--json")
    assert result.code == 1 and result.json()["code"] == "invalid_number"


def test_remove_under_recipient_only_policy_is_a_clear_error(cli, workspace_slug) -> None:
    number = unique_number()
    cli("optouts", "add", number, "-w", workspace_slug)
    result = cli("optouts", "remove", number, "--consent-note", "verbal", "-w", workspace_slug)
    assert result.code == 2
    assert "Only the recipient can opt back in" in result.err and "Traceback" not in result.err


def test_block_unblock_leaves_the_number_opted_out(cli, workspace_slug) -> None:
    number = unique_number()
    assert cli("block", number, "--reason", "spam", "-w", workspace_slug).code == 0
    assert cli("check", number, "-w", workspace_slug, "--json").json()["code"] == "blocked"
    assert cli("unblock", number, "-w", workspace_slug).code == 0
    assert cli("check", number, "-w", workspace_slug, "--json").json()["code"] == "opted_out"


def test_list_searches_by_part_of_a_number(cli, workspace_slug) -> None:
    cli("optouts", "add", "+14155552671", "-w", workspace_slug)
    cli("optouts", "add", "+14155559876", "-w", workspace_slug)
    result = cli("optouts", "list", "--search", "2671", "-w", workspace_slug, "--json")
    assert [i["number"] for i in result.json()["items"]] == ["+14155552671"]


def test_ledger_history_and_verify(cli, workspace_slug) -> None:
    number = unique_number()
    cli("optouts", "add", number, "-w", workspace_slug)
    cli("block", number, "-w", workspace_slug)
    history = cli("ledger", "history", number, "-w", workspace_slug, "--json").json()
    assert [e["action"] for e in history] == ["opt_out", "block"]
    verify = cli("ledger", "verify", "-w", workspace_slug, "--json")
    assert verify.code == 0 and verify.json()["ok"] is True and verify.json()["events"] == 2


def test_normalize_reports_each_kind_of_bad_number(cli) -> None:
    assert (
        cli("numbers", "normalize", "+44 20 7946 0958", "--json").json()["e164"] == "+442079460958"
    )
    for raw, code in [
        ("", "number_empty"),
        ("12", "number_too_short"),
        ("hello", "number_not_a_number"),
    ]:
        result = cli("numbers", "normalize", raw, "--json")
        assert result.code == 2 and result.json()["error"]["code"] == code


def test_extension_is_dropped_with_a_warning(cli) -> None:
    result = cli("numbers", "normalize", "+1 415 555 2671 ext. 12")
    assert result.code == 0 and "+14155552671" in result.out and "extension" in result.out


def test_channels_add_needs_the_providers_credentials(cli, workspace_slug) -> None:
    missing = cli("channels", "add", "+14155550199", "--provider", "twilio", "-w", workspace_slug)
    assert missing.code == 2 and "--account-sid" in missing.err
    address = unique_number()
    ok = cli(
        "channels",
        "add",
        address,
        "--provider",
        "twilio",
        "--account-sid",
        "AC" + "1" * 32,
        "--auth-token",
        "secret",
        "-w",
        workspace_slug,
        "--json",
    )
    assert ok.code == 0 and ok.json()["address"] == address
    listed = cli("channels", "list", "-w", workspace_slug, "--json").json()
    assert [c["address"] for c in listed] == [address]
    again = cli(
        "channels",
        "add",
        address,
        "--provider",
        "twilio",
        "--account-sid",
        "AC" + "1" * 32,
        "--auth-token",
        "secret",
        "-w",
        workspace_slug,
    )
    assert again.code == 2 and "already" in again.err


def test_unknown_workspace_is_a_clear_error(cli) -> None:
    result = cli("optouts", "list", "-w", "no-such-workspace")
    assert result.code == 2 and "No workspace" in result.err


def test_real_entry_point_never_prints_a_traceback(tmp_path: Path) -> None:
    env = dict(
        os.environ,
        STOPLINE_DATABASE_URL=f"sqlite:///{tmp_path}/x.db",
        STOPLINE_DATA_DIR=str(tmp_path),
    )
    exe = Path(sys.executable).parent / "stopline"
    result = subprocess.run(
        [str(exe), "optouts", "add", "not-a-number"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr.startswith("error:")


def test_a_mistyped_command_or_missing_argument_is_a_usage_message(cli) -> None:
    unknown = cli("optout", "list")
    assert unknown.code == 2 and "Traceback" not in unknown.err
    assert "No such command 'optout'" in unknown.err and "optouts" in unknown.err
    missing = cli("optouts", "add")
    assert missing.code == 2 and "Traceback" not in missing.err
    assert "Missing argument" in missing.err


def test_classify_says_what_would_happen(cli) -> None:
    stop = cli("classify", "STOP please", "--json").json()
    assert (stop["intent"], stop["keyword"], stop["language"]) == ("opt_out", "STOP", "en")
    assert cli("classify", "PleaseStop", "--json").json()["intent"] == "none"
    french = cli("classify", "Arrêt", "--json").json()
    assert (french["intent"], french["language"]) == ("opt_out", "fr")
    assert (
        cli("classify", "please stop texting me", "--json").json()["intent"] == "possible_opt_out"
    )
    assert cli("classify", "YES", "--json").json()["intent"] == "none"
    assert cli("classify", "YES", "--opted-out", "--json").json()["intent"] == "opt_in"


def test_password_reset_sets_a_new_password_and_ends_the_old_sessions(cli, engine) -> None:
    import uuid

    from stopline.domain.errors import Forbidden
    from stopline.services import sessions
    from stopline.store.db import read

    email = f"reset-{uuid.uuid4().hex[:6]}@example.com"
    made = cli("init", "--name", "Reset Co", "--email", email, "--password", "old password 1")
    assert made.code == 0, made.err
    before = sessions.sign_in(engine, email, "old password 1", ip="cli-test")

    reset = cli("password-reset", email.upper(), "--json")
    assert reset.code == 0, reset.err
    new_password = reset.json()["password"]
    assert len(new_password) >= 12

    with read(engine) as conn:
        assert sessions.load(conn, before.token) is None
    with pytest.raises(Forbidden):
        sessions.sign_in(engine, email, "old password 1", ip="cli-test")
    assert sessions.sign_in(engine, email, new_password, ip="cli-test").token


def test_password_reset_of_an_unknown_email_or_short_password_is_a_clear_error(cli) -> None:
    unknown = cli("password-reset", "nobody-here@example.com")
    assert unknown.code == 2 and "No one signs in as" in unknown.err
    email = f"short-{unique_number()[1:]}@example.com"
    cli("init", "--name", "Short Co", "--email", email, "--password", "long enough")
    short = cli("password-reset", email, "--password", "short")
    assert short.code == 2 and "at least 8 characters" in short.err


def test_classify_a_file_prints_one_json_object_a_line(cli, tmp_path) -> None:
    import json

    replies = tmp_path / "replies.csv"
    replies.write_text(
        'from,body\n+14155550100,BAJA por favor\n+14155550101,"Liked \u201cReply STOP\u201d"\n'
        "+14155550102,Stop by tomorrow?\n",
        encoding="utf-8",
    )
    result = cli("classify", "--file", str(replies))
    assert result.code == 0, result.err
    rows = [json.loads(line) for line in result.out.splitlines()]
    assert [(r["line"], r["intent"], r["outcome"]) for r in rows] == [
        (2, "opt_out", "opt_out"),
        (3, "reaction", "none"),
        (4, "possible_opt_out", "review"),
    ]
    assert rows[0]["keyword"] == "BAJA" and rows[0]["language"] == "es"
    assert rows[2]["rule"] == "STOP used as an ordinary word"


def test_classify_reads_standard_input_as_json_lines_or_plain_lines(cli, monkeypatch) -> None:
    import io
    import json

    monkeypatch.setattr("sys.stdin", io.StringIO('{"text": "Quiero darme de baja"}\n'))
    [row] = [json.loads(line) for line in cli("classify", "-f", "-").out.splitlines()]
    assert (row["rule"], row["language"], row["outcome"]) == ("darme de baja", "es", "review")
    monkeypatch.setattr("sys.stdin", io.StringIO("STOP\nhello\n"))
    rows = [json.loads(line) for line in cli("classify", "-f", "-").out.splitlines()]
    assert [r["outcome"] for r in rows] == ["opt_out", "none"]


def test_classify_a_missing_file_or_no_text_is_a_one_line_error(cli, tmp_path) -> None:
    missing = cli("classify", "--file", str(tmp_path / "nope.txt"))
    assert missing.code != 0 and "Cannot read" in missing.err
    assert cli("classify").code != 0


def test_channels_add_prints_the_webhook_urls_to_paste_at_the_provider(
    cli, workspace_slug, monkeypatch
) -> None:
    monkeypatch.setenv("STOPLINE_PUBLIC_URL", "https://sms.example.com")
    args = [
        "--provider",
        "twilio",
        "--account-sid",
        "AC" + "2" * 32,
        "--auth-token",
        "tok-5ecret-xyz",
    ]
    human = cli("channels", "add", unique_number(), *args, "-w", workspace_slug)
    assert human.code == 0, human.err
    channel_id = re.search(r"channel (\d+):", human.out).group(1)
    assert f"https://sms.example.com/webhooks/twilio/{channel_id}/inbound" in human.out
    assert f"https://sms.example.com/webhooks/twilio/{channel_id}/status" in human.out
    assert "A message comes in" in human.out and "tok-5ecret" not in human.out
    data = cli("channels", "add", unique_number(), *args, "-w", workspace_slug, "--json").json()
    assert data["webhooks"] == {
        "inbound": f"https://sms.example.com/webhooks/twilio/{data['id']}/inbound",
        "status": f"https://sms.example.com/webhooks/twilio/{data['id']}/status",
    }
    assert "tok-5ecret" not in json.dumps(data)
