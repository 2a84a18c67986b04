"""Sending from the command line: send, messages, lists, campaigns, worker --once, twilio token."""

from __future__ import annotations

from tests.conftest import unique_number


def _channel(cli, slug: str) -> int:  # type: ignore[no-untyped-def]
    made = cli("channels", "add", unique_number(), "--provider", "console", "-w", slug, "--json")
    assert made.code == 0, made.err
    return int(made.json()["id"])


def test_send_queues_and_the_worker_hands_it_over(cli, workspace_slug) -> None:  # type: ignore[no-untyped-def]
    _channel(cli, workspace_slug)
    to = unique_number()
    sent = cli("send", "--to", to, "--body", "Hello", "-w", workspace_slug, "--json")
    assert sent.code == 0, sent.err
    message = sent.json()
    assert message["status"] == "queued" and message["sid"].startswith("SM")
    assert cli("worker", "--once", "--json").code == 0
    shown = cli("messages", "show", message["sid"], "-w", workspace_slug, "--json").json()
    assert shown["status"] == "sent"
    assert shown["body"].startswith("Hello\n")  # the first message carries the disclosure


def test_send_to_an_opted_out_number_exits_1_with_opted_out(cli, workspace_slug) -> None:  # type: ignore[no-untyped-def]
    _channel(cli, workspace_slug)
    to = unique_number()
    cli("optouts", "add", to, "-w", workspace_slug)
    refused = cli(
        "send", "--to", to, "--body", "Hi", "--source", "zap", "-w", workspace_slug, "--json"
    )
    assert refused.code == 1
    assert (refused.json()["status"], refused.json()["refusal_code"]) == ("failed", "opted_out")
    human = cli("send", "--to", to, "--body", "Hi", "-w", workspace_slug)
    assert human.code == 1 and "refused: opted_out" in human.out


def test_send_later_is_scheduled(cli, workspace_slug) -> None:  # type: ignore[no-untyped-def]
    _channel(cli, workspace_slug)
    result = cli(
        "send",
        "--to",
        unique_number(),
        "--body",
        "Later",
        "--at",
        "2099-01-01T09:00:00Z",
        "-w",
        workspace_slug,
        "--json",
    )
    assert result.code == 0 and result.json()["status"] == "scheduled"
    bad = cli(
        "send", "--to", unique_number(), "--body", "x", "--at", "tomorrow", "-w", workspace_slug
    )
    assert bad.code == 2 and "ISO 8601" in bad.err


def test_send_without_a_channel_says_so(cli, workspace_slug) -> None:  # type: ignore[no-untyped-def]
    result = cli("send", "--to", unique_number(), "--body", "Hi", "-w", workspace_slug)
    assert result.code == 2 and "no channel" in result.err


def test_a_campaign_from_the_cli_reaches_subscribed_members_only(cli, workspace_slug) -> None:  # type: ignore[no-untyped-def]
    _channel(cli, workspace_slug)
    made = cli("lists", "create", "Newsletter", "-w", workspace_slug, "--json").json()
    # Toronto numbers: no US send-time rule holds the campaign, whatever the hour the test runs.
    ok, opted = (unique_number().replace("+1415", "+1416") for _ in range(2))
    added = cli(
        "lists",
        "add-members",
        str(made["id"]),
        ok,
        opted,
        "garbage",
        "-w",
        workspace_slug,
        "--json",
    )
    assert added.json()["added"] == 2 and added.json()["rejected"][0]["input"] == "garbage"
    cli("optouts", "add", opted, "-w", workspace_slug)
    preview = cli("campaigns", "preview", "--list", str(made["id"]), "-w", workspace_slug, "--json")
    counted = preview.json()
    assert counted.pop("send_time")["now"] == 1
    assert counted == {"allowed": 1, "opted_out": 1}
    created = cli(
        "campaigns",
        "create",
        "--name",
        "News",
        "--body",
        "Issue 1",
        "--list",
        str(made["id"]),
        "-w",
        workspace_slug,
        "--json",
    )
    assert created.code == 0, created.err
    assert cli("worker", "--once").code == 0
    shown = cli(
        "campaigns", "show", str(created.json()["id"]), "-w", workspace_slug, "--json"
    ).json()
    assert shown["status"] == "done"
    assert shown["counts"]["by_status"] == {"sent": 1, "failed": 1}
    assert shown["counts"]["by_refusal"] == {"opted_out": 1}
    listed = cli("messages", "list", "--to", opted, "-w", workspace_slug, "--json").json()
    assert [m["refusal_code"] for m in listed] == ["opted_out"]


def test_rotating_the_twilio_token_prints_a_new_one(cli, workspace_slug) -> None:  # type: ignore[no-untyped-def]
    first = cli("twilio", "rotate-token", "-w", workspace_slug, "--json").json()
    second = cli("twilio", "rotate-token", "-w", workspace_slug, "--json").json()
    assert first["account_sid"].startswith("AC")
    assert len(first["auth_token"]) == 32 and first["auth_token"] != second["auth_token"]
