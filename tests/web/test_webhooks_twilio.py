"""Twilio specifics: the signed URL behind a proxy or a configured public URL, TwiML answers."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest
from litestar.testing import TestClient

from stopline.web.app import create_app
from stopline.web.webhooks.base import CHANNELS
from tests.inbound_kit import add_kit_channel, events_of, make_runtime, number, opt_out_rows

pytest.importorskip("stopline.domain.keywords", reason="the keyword classifier has not landed")

BASE = "http://testserver.local"


@pytest.fixture
def kit(engine, ws, keyring):
    return add_kit_channel(engine, ws, keyring, "twilio")


def client_for(engine, tmp_path, public_url: str | None = None) -> TestClient:
    CHANNELS.forget()
    return TestClient(create_app(make_runtime(engine, tmp_path, public_url)), base_url=BASE)


def test_the_answer_is_twiml_with_one_message(engine, tmp_path, kit):
    with client_for(engine, tmp_path) as client:
        req = kit.inbound(BASE, number(), "ARRET")
        response = client.post(req.path, content=req.body, headers=req.headers)
    assert response.headers["content-type"].startswith("application/xml")
    root = ElementTree.fromstring(response.content)
    assert root.tag == "Response"
    [message] = root.findall("Message")
    assert "désabonné" in (message.text or "")


def test_an_ordinary_text_gets_an_empty_response(engine, tmp_path, kit):
    with client_for(engine, tmp_path) as client:
        req = kit.inbound(BASE, number(), "See you at 3")
        response = client.post(req.path, content=req.body, headers=req.headers)
    root = ElementTree.fromstring(response.content)
    assert root.tag == "Response" and list(root) == []


def test_the_configured_public_url_is_what_twilio_signed(engine, ws, tmp_path, kit):
    public = "https://sms.example.com/stopline"
    sender = number()
    with client_for(engine, tmp_path, public_url=public) as client:
        signed_for_public = kit.inbound(public, sender, "STOP")
        ok = client.post(
            signed_for_public.path,
            content=signed_for_public.body,
            headers=signed_for_public.headers,
        )
        signed_for_local = kit.inbound(BASE, number(), "STOP")
        refused = client.post(
            signed_for_local.path, content=signed_for_local.body, headers=signed_for_local.headers
        )
    assert ok.status_code == 200 and refused.status_code == 403
    assert opt_out_rows(engine, ws.id, sender)


def test_forwarded_proto_and_host_are_honoured_behind_a_proxy(engine, ws, tmp_path, kit):
    sender = number()
    with client_for(engine, tmp_path) as client:
        req = kit.inbound("https://hooks.example.org", sender, "STOP")
        headers = {
            **req.headers,
            "x-forwarded-proto": "https",
            "x-forwarded-host": "hooks.example.org",
        }
        response = client.post(req.path, content=req.body, headers=headers)
    assert response.status_code == 200
    assert len(events_of(engine, ws.id, sender)) == 1


def test_a_query_string_is_part_of_the_signed_url(engine, ws, tmp_path, kit):
    sender = number()
    with client_for(engine, tmp_path) as client:
        req = kit.inbound(BASE, sender, "STOP")
        path = req.path + "?source=acme&x=1"
        signed = kit.twilio_signed(BASE, path, dict(_form(req.body)))
        response = client.post(path, content=signed.body, headers=signed.headers)
        tampered = client.post(
            req.path + "?source=evil&x=1", content=signed.body, headers=signed.headers
        )
    assert response.status_code == 200 and tampered.status_code == 403


def test_opt_out_type_stop_records_a_carrier_opt_out_with_no_twiml_message(
    engine, ws, tmp_path, kit
):
    sender = number()
    with client_for(engine, tmp_path) as client:
        req = kit.inbound(BASE, sender, "UNSUBSCRIBE", extra={"OptOutType": "STOP"})
        response = client.post(req.path, content=req.body, headers=req.headers)
    assert "<Message>" not in response.text
    assert opt_out_rows(engine, ws.id, sender)[0].method == "carrier"


def test_a_status_callback_answers_204(engine, tmp_path, kit):
    with client_for(engine, tmp_path) as client:
        req = kit.status(BASE, "SM" + "0" * 32, "delivered", to=number())
        response = client.post(req.path, content=req.body, headers=req.headers)
    assert response.status_code == 204


def _form(body: bytes) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(body.decode(), keep_blank_values=True)
