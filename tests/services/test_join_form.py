"""The hosted form's checks, without a browser: CSRF, the signed time-to-submit token, the
honeypot, the unticked box, rate limits per IP and per number, and no leak of who opted out."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

import pytest

from stopline.domain.errors import Forbidden, InvalidInput
from stopline.services import join_form, joins, lists
from stopline.services.consent import now_utc
from stopline.store.db import read, write
from stopline.worker.runner import Worker
from tests.inbound_kit import outbound_to
from tests.outbound import add_channel, number, opt_out, owner


@pytest.fixture
def slug(engine, ws, keyring) -> str:
    add_channel(engine, ws, keyring)
    with write(engine) as conn:
        the_list = lists.create_list(conn, owner(ws), name=f"News {uuid.uuid4().hex[:4]}")
        settings = joins.save_settings(
            conn, owner(ws), the_list.id, form_enabled=True, consent_text="Yes, text me news."
        )
    return settings.slug


def form_for(engine, keyring, slug, who: str, opened_ago: float = 5, **changes):
    """A filled-in form opened `opened_ago` seconds ago, and the time it is submitted (now)."""
    now = now_utc()
    with read(engine) as conn:
        form = join_form.open_form(conn, keyring, slug, now=now - timedelta(seconds=opened_ago))
    submission = join_form.Submission(
        phone=who,
        agreed=True,
        token=form.token,
        csrf_form=form.csrf,
        csrf_cookie=form.csrf,
        honeypot="",
        ip=f"198.51.100.{uuid.uuid4().int % 250}",
        user_agent="pytest",
        page_url=f"https://sms.example.com/join/{slug}",
    )
    return replace(submission, **changes), now


def submit(engine, keyring, slug, submission, at):
    with write(engine) as conn:
        return join_form.submit(conn, keyring, slug, submission, now=at)


def test_a_good_submission_texts_the_request(engine, ws, keyring, slug) -> None:
    who = number()
    form, now = form_for(engine, keyring, slug, who)
    outcome = submit(engine, keyring, slug, form, now)
    assert outcome.texted and outcome.masked_number.endswith(who[-4:])
    [request] = outbound_to(engine, ws.id, who)
    assert "Reply YES" in request.body
    assert request.status == "queued" and request.list_id is None  # not refused as a list send
    Worker(engine, keyring).drain()
    assert outbound_to(engine, ws.id, who)[0].status == "sent"
    with read(engine) as conn:
        [row] = joins.requests_of(conn, ws.id, who)
    assert row["via"] == "form" and row["evidence"]["consent_version"] == "1"


@pytest.mark.parametrize(
    ("change", "after", "code"),
    [
        ({}, 1, "form_too_fast"),
        ({"honeypot": "http://spam.example"}, 5, "form_too_fast"),
        ({}, 3 * 3600, "form_expired"),
        ({"csrf_cookie": None}, 5, "form_rejected"),
        ({"csrf_cookie": "forged", "csrf_form": "forged"}, 5, "form_rejected"),
        ({"token": "garbage.sig"}, 5, "form_rejected"),
        ({"agreed": False}, 5, "consent_required"),
    ],
)
def test_bots_forgeries_and_unticked_boxes_are_refused(
    engine, ws, keyring, slug, change, after, code
) -> None:
    who = number()
    form, now = form_for(engine, keyring, slug, who, opened_ago=after, **change)
    with pytest.raises((Forbidden, InvalidInput)) as refused:
        submit(engine, keyring, slug, form, now)
    assert refused.value.code == code
    assert outbound_to(engine, ws.id, who) == []


def test_rate_limits_per_number_and_per_ip(engine, ws, keyring, slug) -> None:
    who = number()
    for _ in range(join_form.PER_NUMBER[0]):
        form, now = form_for(engine, keyring, slug, who)
        submit(engine, keyring, slug, form, now)
    form, now = form_for(engine, keyring, slug, who)
    with pytest.raises(join_form.TooMany):
        submit(engine, keyring, slug, form, now)
    ip = "203.0.113.99"
    for _ in range(join_form.PER_IP[0]):
        form, now = form_for(engine, keyring, slug, number(), ip=ip)
        submit(engine, keyring, slug, form, now)
    form, now = form_for(engine, keyring, slug, number(), ip=ip)
    with pytest.raises(join_form.TooMany):
        submit(engine, keyring, slug, form, now)


def test_an_opted_out_number_is_told_the_same_and_texted_nothing(engine, ws, keyring, slug) -> None:
    who = number()
    opt_out(engine, ws, who)
    form, now = form_for(engine, keyring, slug, who)
    outcome = submit(engine, keyring, slug, form, now)
    assert not outcome.texted and outcome.masked_number.endswith(who[-4:])
    assert outbound_to(engine, ws.id, who) == []


def test_a_changed_consent_text_is_a_new_version(engine, ws, keyring, slug) -> None:
    with read(engine) as conn:
        workspace_id, settings = joins.by_slug(conn, slug)
    with write(engine) as conn:
        changed = joins.save_settings(
            conn, owner(ws), settings.list_id, form_enabled=True, consent_text="New terms."
        )
    assert (changed.consent_version, changed.consent_text) == (2, "New terms.")
    assert changed.slug == settings.slug  # the form keeps its address
