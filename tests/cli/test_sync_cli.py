"""`stopline channels add/edit --consent-sync`, `stopline sync status/run/retry/reconcile`, and a
number's history showing what the provider was told."""

from __future__ import annotations

import pytest

from tests.conftest import unique_number
from tests.providers.sync_servers import AwsSmsApi, FakeClock, ScriptedServer, TwilioConsentApi


@pytest.fixture
def twilio():
    api = TwilioConsentApi(FakeClock())
    server = ScriptedServer(api.handle).start()
    api.url = server.url  # type: ignore[attr-defined]
    yield api
    server.stop()


def test_an_opt_out_is_reported_to_twilio_and_shown_in_the_history(cli, workspace_slug, twilio):
    w = ("-w", workspace_slug)
    added = cli(
        "channels", "add", unique_number(), "--provider", "twilio",
        "--account-sid", twilio.account_sid, "--auth-token", twilio.auth_token,
        "--consent-sync", "--accounts-base-url", twilio.url, *w, "--json",
    )  # fmt: skip
    assert added.code == 0, added.err
    channel = added.json()
    assert channel["consent_sync"] is True
    number = unique_number()
    assert cli("optouts", "add", number, *w).code == 0
    status = cli("sync", "status", *w, "--json").json()
    assert (status["pending"], status["delivered"]) == (1, 0)
    ran = cli("sync", "run", *w, "--json")
    assert ran.code == 0 and ran.json()["push"]["delivered"] == 1
    assert [i["contact_id"] for i in twilio.received] == [number]
    history = cli("ledger", "history", number, *w, "--json").json()
    [report] = history[0]["provider_reports"]
    assert report["state"] == "delivered"
    assert report["summary"].startswith("opt-out reported to Twilio at ")
    human = cli("ledger", "history", number, *w)
    assert "reported to Twilio at" in human.out
    # Switched off: later changes are not reported.
    edited = cli("channels", "edit", str(channel["id"]), "--no-consent-sync", *w, "--json")
    assert edited.code == 0 and edited.json()["consent_sync"] is False
    cli("optouts", "add", unique_number(), *w)
    assert cli("sync", "status", *w, "--json").json()["pending"] == 0


def test_a_failed_report_is_listed_and_retried(cli, workspace_slug, twilio):
    w = ("-w", workspace_slug)
    cli(
        "channels", "add", unique_number(), "--provider", "twilio",
        "--account-sid", twilio.account_sid, "--auth-token", twilio.auth_token,
        "--consent-sync", "--accounts-base-url", twilio.url, *w,
    )  # fmt: skip
    number = unique_number()
    twilio.item_errors[number] = (21211, "Invalid 'To' Phone Number")
    cli("optouts", "add", number, *w)
    cli("sync", "run", *w)
    failed = cli("sync", "status", "--state", "failed", *w, "--json").json()
    assert failed["failed"] == 1
    [item] = failed["items"]
    assert "Invalid 'To' Phone Number" in item["summary"]
    table = cli("sync", "status", *w)
    assert "failed 1" in table.out
    del twilio.item_errors[number]
    assert cli("sync", "retry", str(item["id"]), *w).code == 0
    assert cli("sync", "run", *w, "--json").json()["push"]["delivered"] == 1
    assert cli("sync", "retry", "999999999", *w).code != 0


def test_reconcile_prints_both_ways_and_applies(cli, workspace_slug):
    w = ("-w", workspace_slug)
    api = AwsSmsApi(FakeClock())
    server = ScriptedServer(api.handle).start()
    try:
        added = cli(
            "channels", "add", unique_number(), "--provider", "aws",
            "--access-key-id", api.access_key_id, "--secret-access-key", "s",
            "--region", "us-east-1", "--sns-topic-arn", "arn:aws:sns:us-east-1:1:t",
            "--base-url", server.url, *w, "--json",
        )  # fmt: skip
        assert added.code == 0, added.err
        channel_id = str(added.json()["id"])
        only_aws, only_here = unique_number(), unique_number()
        api.end_user_opt_out(only_aws)
        cli("optouts", "add", only_here, *w)
        report = cli("sync", "reconcile", channel_id, *w)
        assert f"only at aws: 1\n  {only_aws}" in report.out
        assert f"only in stopline: 1\n  {only_here}" in report.out
        applied = cli("sync", "reconcile", channel_id, "--apply", *w, "--json").json()
        assert (applied["recorded"], applied["pushed"]) == (1, 1)
        again = cli("sync", "reconcile", channel_id, *w, "--json").json()
        assert again["provider_only"] == [] and again["stopline_only"] == []
    finally:
        server.stop()


def test_vonage_cannot_sync(cli, workspace_slug):
    result = cli(
        "channels", "add", unique_number(), "--provider", "vonage", "--api-key", "k",
        "--api-secret", "s", "--signature-secret", "x", "--consent-sync", "-w", workspace_slug,
    )  # fmt: skip
    assert result.code != 0 and "no consent API" in (result.err + result.out)
