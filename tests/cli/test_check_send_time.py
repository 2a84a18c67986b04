"""`stopline check --category --at`: allowed, deferred until T, or refused, explained."""

from __future__ import annotations


def test_a_marketing_text_at_night_to_florida_is_deferred_until_eight(cli, workspace_slug) -> None:  # type: ignore[no-untyped-def]
    args = ("check", "+13055550123", "--category", "marketing", "--at", "2026-12-05T02:30:00Z")
    result = cli(*args, "-w", workspace_slug, "--json")
    answer = result.json()
    assert result.code == 3 and answer["verdict"] == "deferred" and not answer["allowed"]
    assert answer["until"] == "2026-12-05T08:00:00-05:00"
    assert answer["reason"] == "quiet_hours"
    assert "Florida Telephone Solicitation Act" in answer["rule"]
    assert answer["location"]["states"] == ["FL"]
    assert answer["location"]["found_by"] == "area code 305"
    human = cli(*args, "-w", workspace_slug)
    assert human.code == 3 and "deferred until 2026-12-05T08:00:00-05:00" in human.out


def test_the_same_text_at_noon_may_go_and_an_opted_out_number_is_refused(
    cli, workspace_slug
) -> None:  # type: ignore[no-untyped-def]
    noon = ("--category", "marketing", "--at", "2026-12-05T17:00:00Z", "-w", workspace_slug)
    allowed = cli("check", "+13055550124", *noon, "--json")
    assert allowed.code == 0 and allowed.json()["verdict"] == "allowed"
    cli("optouts", "add", "+13055550125", "-w", workspace_slug)
    refused = cli("check", "+13055550125", *noon, "--json")
    assert refused.code == 1 and refused.json()["code"] == "opted_out"


def test_texas_sunday_morning_waits_for_noon_and_informational_goes(cli, workspace_slug) -> None:  # type: ignore[no-untyped-def]
    sunday = ("--at", "2026-12-06T15:00:00Z", "-w", workspace_slug, "--json")  # 9:00 in Dallas
    held = cli("check", "+12145550126", "--category", "marketing", *sunday)
    assert held.code == 3 and held.json()["until"] == "2026-12-06T12:00:00-06:00"
    assert "Texas" in held.json()["rule"]
    notice = cli("check", "+12145550126", "--category", "informational", *sunday)
    assert notice.code == 0


def test_an_unknown_category_is_a_clear_error(cli, workspace_slug) -> None:  # type: ignore[no-untyped-def]
    result = cli("check", "+13055550127", "--category", "promo", "-w", workspace_slug)
    assert result.code != 0 and "category" in (result.err + result.out).lower()
    assert "Traceback" not in result.err
