"""The Twilio adapter: X-Twilio-Signature, inbound and status webhooks, TwiML, and sending."""

from __future__ import annotations

import base64
from urllib.parse import urlencode
from xml.etree import ElementTree

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from stopline.providers.base import (
    InboundMessage,
    ProviderError,
    SendRequest,
    StatusUpdate,
    WebhookRejected,
)
from stopline.providers.twilio import PROVIDER, signature
from tests.providers.fake_servers import FakeProviderServer

TOKEN = "12345"
CREDS = {"account_sid": "AC" + "a" * 32, "auth_token": TOKEN}
HOOK = "https://stopline.example.com/webhooks/twilio/inbound?workspace=acme"
STATUS_HOOK = "https://stopline.example.com/webhooks/twilio/status"
ORACLE = RequestValidator(TOKEN)  # Twilio's own library, as an independent signer

# The parameters of an incoming SMS, as listed in Twilio's "request to your webhook URL" page.
INBOUND = {
    "ToCountry": "US",
    "ToState": "CA",
    "SmsMessageSid": "SM" + "1" * 32,
    "NumMedia": "0",
    "ToCity": "SAN FRANCISCO",
    "FromZip": "94105",
    "SmsSid": "SM" + "1" * 32,
    "FromState": "CA",
    "SmsStatus": "received",
    "FromCity": "SAN FRANCISCO",
    "Body": "Stop",
    "FromCountry": "US",
    "To": "+14155550199",
    "MessagingServiceSid": "MG" + "2" * 32,
    "ToZip": "94105",
    "NumSegments": "1",
    "MessageSid": "SM" + "1" * 32,
    "AccountSid": "AC" + "a" * 32,
    "From": "+14155550100",
    "ApiVersion": "2010-04-01",
    "OptOutType": "STOP",
}


def signed(params: dict[str, str], url: str = HOOK) -> tuple[dict[str, str], bytes]:
    body = urlencode(params).encode()
    return {"x-twilio-signature": ORACLE.compute_signature(url, params)}, body


def inbound(params: dict[str, str], url: str = HOOK, headers: dict[str, str] | None = None):
    sig_headers, body = signed(params, url)
    return PROVIDER.verify_and_parse_inbound(url, headers or sig_headers, body, CREDS)


# --- signature ---------------------------------------------------------------------------------


def test_signature_matches_twilios_documented_example():
    params = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("To", "+18005551212"),
    ]
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert signature("12345", url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_signature_agrees_with_twilios_library_on_unicode_and_repeats():
    params = [("Body", "ARRÊT 🙂 & co"), ("MediaUrl0", "https://x/1"), ("Body", "again")]
    multi = {"Body": ["ARRÊT 🙂 & co", "again"], "MediaUrl0": ["https://x/1"]}

    class MultiDict(dict):
        def getlist(self, name):
            return multi[name]

    assert signature(TOKEN, HOOK, params) == ORACLE.compute_signature(HOOK, MultiDict(multi))


def test_signed_inbound_parses_to_an_inbound_message():
    [message] = inbound(INBOUND)
    assert message == InboundMessage(
        provider="twilio",
        provider_message_id="SM" + "1" * 32,
        from_number="+14155550100",
        to_address="+14155550199",
        body="Stop",
        received_at=None,
        opt_out_type="STOP",
        media_urls=(),
        messaging_service="MG" + "2" * 32,
    )
    assert message.raw["MessagingServiceSid"] == "MG" + "2" * 32


def test_inbound_without_advanced_opt_out_has_no_opt_out_type():
    params = {k: v for k, v in INBOUND.items() if k != "OptOutType"}
    [message] = inbound(params)
    assert message.opt_out_type is None


def test_inbound_mms_lists_its_media_urls():
    params = dict(INBOUND, NumMedia="2", Body="")
    params["MediaUrl0"] = "https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME0"
    params["MediaContentType0"] = "image/jpeg"
    params["MediaUrl1"] = "https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME1"
    params["MediaContentType1"] = "image/png"
    [message] = inbound(params)
    assert message.body == ""
    assert message.media_urls == (params["MediaUrl0"], params["MediaUrl1"])


def test_signature_covers_the_query_string():
    headers, body = signed(INBOUND, HOOK)
    with pytest.raises(WebhookRejected) as rejected:
        PROVIDER.verify_and_parse_inbound(HOOK.replace("acme", "other"), headers, body, CREDS)
    assert rejected.value.code == "webhook_signature_invalid"


@pytest.mark.parametrize(
    ("signed_url", "seen_url"),
    [
        ("https://stopline.example.com:443/hook?a=1", "https://stopline.example.com/hook?a=1"),
        ("https://stopline.example.com/hook?a=1", "https://stopline.example.com:443/hook?a=1"),
        ("http://stopline.example.com:80/hook", "http://stopline.example.com/hook"),
    ],
)
def test_signature_is_accepted_with_or_without_the_standard_port(signed_url, seen_url):
    headers, body = signed(INBOUND, signed_url)
    assert PROVIDER.verify_and_parse_inbound(seen_url, headers, body, CREDS)
    assert ORACLE.validate(seen_url, INBOUND, headers["x-twilio-signature"])  # same as Twilio's


def test_uppercase_header_names_are_tolerated():
    headers, body = signed(INBOUND)
    assert PROVIDER.verify_and_parse_inbound(
        HOOK, {"X-Twilio-Signature": headers["x-twilio-signature"]}, body, CREDS
    )


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(
            lambda h, b: ({"x-twilio-signature": "0/KCTR6DLpKmkAf8muzZqo1nDgQ="}, b), id="forged"
        ),
        pytest.param(lambda h, b: ({}, b), id="missing-header"),
        pytest.param(lambda h, b: ({"x-twilio-signature": ""}, b), id="empty-header"),
        pytest.param(lambda h, b: (h, b.replace(b"Body=Stop", b"Body=Start")), id="tampered-body"),
        pytest.param(lambda h, b: (h, b + b"&Extra=1"), id="added-param"),
        pytest.param(
            lambda h, b: ({"x-twilio-signature": h["x-twilio-signature"][:-2] + "A="}, b),
            id="one-character-off",
        ),
    ],
)
def test_bad_signatures_are_rejected(tamper):
    headers, body = tamper(*signed(INBOUND))
    with pytest.raises(WebhookRejected) as rejected:
        PROVIDER.verify_and_parse_inbound(HOOK, headers, body, CREDS)
    assert rejected.value.code == "webhook_signature_invalid"


def test_a_signature_made_with_another_auth_token_is_rejected():
    params = dict(INBOUND)
    other = RequestValidator("not-the-token").compute_signature(HOOK, params)
    with pytest.raises(WebhookRejected):
        PROVIDER.verify_and_parse_inbound(
            HOOK, {"x-twilio-signature": other}, urlencode(params).encode(), CREDS
        )


def test_missing_auth_token_rejects_everything():
    headers, body = signed(INBOUND)
    with pytest.raises(WebhookRejected):
        PROVIDER.verify_and_parse_inbound(HOOK, headers, body, {"account_sid": "AC1"})


def test_a_genuine_request_missing_its_sender_is_malformed():
    params = {k: v for k, v in INBOUND.items() if k != "From"}
    with pytest.raises(WebhookRejected) as rejected:
        inbound(params)
    assert rejected.value.code == "webhook_malformed"


def repartitioned(params: dict[str, str]) -> dict[str, str]:
    """The same signed string cut differently: MessageSid swallows the two fields after it.

    Twilio signs names and values run together in name order, so ``MessageSid=SM..`` followed
    by, say, ``NumMedia=0`` and ``NumSegments=1`` signs exactly like one ``MessageSid`` whose
    value is ``SM..NumMedia0NumSegments1``: a captured request re-sent this way still verifies.
    """
    names = sorted(params)
    swallowed = names[names.index("MessageSid") + 1 :][:2]
    moved = {k: v for k, v in params.items() if k not in swallowed}
    moved["MessageSid"] = params["MessageSid"] + "".join(k + params[k] for k in swallowed)
    return moved


def test_a_repartitioned_replay_keeps_a_valid_signature_but_is_refused():
    original = {k: v for k, v in INBOUND.items() if k not in ("SmsSid", "SmsMessageSid")}
    headers, _ = signed(original)
    replay = repartitioned(original)
    # The oracle agrees the signature still covers the replay: only the id check stops it.
    assert ORACLE.validate(HOOK, replay, headers["x-twilio-signature"])
    with pytest.raises(WebhookRejected) as rejected:
        PROVIDER.verify_and_parse_inbound(HOOK, headers, urlencode(replay).encode(), CREDS)
    assert rejected.value.code == "webhook_malformed"


@pytest.mark.parametrize(
    "change",
    [
        {"MessageSid": None},
        {"MessageSid": "SM" + "1" * 31},
        {"MessageSid": "SM" + "1" * 33},
        {"MessageSid": "XX" + "1" * 32},
        {"MessageSid": "SM" + "g" * 32},
        {"MessageSid": "SM" + "1" * 32 + "\n"},
        {"SmsSid": "SM" + "2" * 32},
        {"SmsMessageSid": "SM" + "1" * 31},
        {"AccountSid": None},
        {"AccountSid": "AC" + "a" * 31},
        {"MessagingServiceSid": "MG123"},
    ],
    ids=repr,
)
def test_ids_outside_twilios_documented_formats_are_refused(change):
    params = dict(INBOUND)
    for key, value in change.items():
        if value is None:
            params.pop(key)
        else:
            params[key] = value
    for url, parse in ((HOOK, PROVIDER.verify_and_parse_inbound),):
        headers, body = signed(params, url)
        with pytest.raises(WebhookRejected) as rejected:
            parse(url, headers, body, CREDS)
        assert rejected.value.code == "webhook_malformed"


def test_mms_sids_are_accepted():
    params = {**INBOUND, "MessageSid": "MM" + "ab" * 16, "SmsSid": "MM" + "ab" * 16}
    params.pop("SmsMessageSid")
    [message] = inbound(params)
    assert message.provider_message_id == "MM" + "ab" * 16


def test_a_webhook_of_another_twilio_account_is_refused():
    params = {**INBOUND, "AccountSid": "AC" + "b" * 32}
    with pytest.raises(WebhookRejected) as rejected:
        inbound(params)
    assert rejected.value.code == "webhook_wrong_recipient"
    headers, body = signed(status_params("delivered", AccountSid="AC" + "b" * 32), STATUS_HOOK)
    with pytest.raises(WebhookRejected) as rejected:
        PROVIDER.verify_and_parse_status(STATUS_HOOK, headers, body, CREDS)
    assert rejected.value.code == "webhook_wrong_recipient"


def test_a_status_callback_is_held_to_the_same_id_formats():
    for bad in ({"MessageSid": "SM" + "9" * 31, "SmsSid": "SM" + "9" * 31}, {"AccountSid": ""}):
        headers, body = signed(status_params("delivered", **bad), STATUS_HOOK)
        with pytest.raises(WebhookRejected) as rejected:
            PROVIDER.verify_and_parse_status(STATUS_HOOK, headers, body, CREDS)
        assert rejected.value.code == "webhook_malformed"


def test_a_status_callback_sent_to_the_inbound_url_is_not_an_inbound_text():
    with pytest.raises(WebhookRejected) as rejected:
        inbound(status_params("delivered"))
    assert rejected.value.code == "webhook_malformed"


def test_an_inbound_text_sent_to_the_status_url_is_not_a_status():
    headers, body = signed(INBOUND, STATUS_HOOK)
    with pytest.raises(WebhookRejected) as rejected:
        PROVIDER.verify_and_parse_status(STATUS_HOOK, headers, body, CREDS)
    assert rejected.value.code == "webhook_malformed"


def test_get_webhooks_sign_and_carry_parameters_in_the_query():
    url = "https://stopline.example.com/hook?" + urlencode(INBOUND)
    headers = {"x-twilio-signature": ORACLE.compute_signature(url, {})}
    [message] = PROVIDER.verify_and_parse_inbound(url, headers, b"", CREDS)
    assert message.body == "Stop"


def test_json_webhooks_are_checked_by_body_hash_then_refused_as_malformed():
    body = b'{"Body": "STOP"}'
    import hashlib

    url = STATUS_HOOK + "?bodySHA256=" + hashlib.sha256(body).hexdigest()
    headers = {"x-twilio-signature": ORACLE.compute_signature(url, {})}
    with pytest.raises(WebhookRejected) as rejected:
        PROVIDER.verify_and_parse_inbound(url, headers, body, CREDS)
    assert rejected.value.code == "webhook_malformed"
    with pytest.raises(WebhookRejected) as rejected:
        PROVIDER.verify_and_parse_inbound(url, headers, b'{"Body": "START"}', CREDS)
    assert rejected.value.code == "webhook_signature_invalid"


# --- status callbacks --------------------------------------------------------------------------


def status(params: dict[str, str]) -> StatusUpdate:
    headers, body = signed(params, STATUS_HOOK)
    [update] = PROVIDER.verify_and_parse_status(STATUS_HOOK, headers, body, CREDS)
    assert isinstance(update, StatusUpdate)
    return update


def status_params(message_status: str, **extra: str) -> dict[str, str]:
    return {
        "AccountSid": "AC" + "a" * 32,
        "From": "+14155550199",
        "To": "+14155550100",
        "MessageSid": "SM" + "9" * 32,
        "SmsSid": "SM" + "9" * 32,
        "SmsStatus": message_status,
        "MessageStatus": message_status,
        "ApiVersion": "2010-04-01",
        **extra,
    }


@pytest.mark.parametrize(
    ("twilio_status", "expected"),
    [
        ("queued", None),
        ("accepted", None),
        ("sending", None),
        ("sent", "sent"),
        ("delivered", "delivered"),
        ("undelivered", "failed"),
        ("failed", "failed"),
    ],
)
def test_message_status_maps_to_stopline_statuses(twilio_status, expected):
    update = status(status_params(twilio_status))
    assert update.provider_message_id == "SM" + "9" * 32
    assert update.status == expected
    assert update.error_code is None
    assert update.recipient_opted_out is False


def test_error_21610_means_the_recipient_unsubscribed():
    update = status(status_params("failed", ErrorCode="21610"))
    assert (update.status, update.error_code, update.recipient_opted_out) == (
        "failed",
        "21610",
        True,
    )


def test_other_errors_are_kept_but_are_not_opt_outs():
    update = status(status_params("undelivered", ErrorCode="30003"))
    assert (update.status, update.error_code, update.recipient_opted_out) == (
        "failed",
        "30003",
        False,
    )


# --- TwiML -------------------------------------------------------------------------------------


def test_reply_body_is_twiml_with_one_message_per_text():
    content_type, body = PROVIDER.reply_body(["You are unsubscribed.", "Reply START <to> & back"])
    assert content_type == "application/xml"
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?><Response><Message>')
    root = ElementTree.fromstring(body)
    assert [m.text for m in root.findall("Message")] == [
        "You are unsubscribed.",
        "Reply START <to> & back",
    ]


def test_reply_body_without_texts_is_an_empty_response():
    assert PROVIDER.reply_body([]) == (
        "application/xml",
        b'<?xml version="1.0" encoding="UTF-8"?><Response/>',
    )


def test_reply_body_drops_characters_xml_cannot_hold():
    _, body = PROVIDER.reply_body(["a\x00b\x1bc"])
    assert ElementTree.fromstring(body).find("Message").text == "abc"


# --- sending -----------------------------------------------------------------------------------


REQUEST = SendRequest(
    to="+14155550100",
    from_address="+14155550199",
    body="Reply STOP to opt out",
    idempotency_key="msg-1",
    status_callback=STATUS_HOOK,
)
CREATED = {
    "sid": "SM" + "3" * 32,
    "status": "queued",
    "error_code": None,
    "error_message": None,
    "direction": "outbound-api",
    "api_version": "2010-04-01",
}


def test_send_posts_the_documented_form_with_basic_auth(fake_api: FakeProviderServer, client):
    fake_api.reply(201, json_body=CREATED)
    result = PROVIDER.send(client, REQUEST, CREDS, fake_api.url)
    assert (result.provider_message_id, result.status) == ("SM" + "3" * 32, "queued")
    sent = fake_api.last
    assert sent.path == f"/2010-04-01/Accounts/{CREDS['account_sid']}/Messages.json"
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    expected_auth = base64.b64encode(f"{CREDS['account_sid']}:{TOKEN}".encode()).decode()
    assert sent.headers["authorization"] == f"Basic {expected_auth}"
    assert dict(httpx.QueryParams(sent.body.decode())) == {
        "To": "+14155550100",
        "From": "+14155550199",
        "Body": "Reply STOP to opt out",
        "StatusCallback": STATUS_HOOK,
    }


def test_send_from_a_messaging_service_uses_messaging_service_sid(fake_api, client):
    fake_api.reply(201, json_body=dict(CREATED, status="accepted"))
    service = "MG" + "2" * 32
    PROVIDER.send(client, SendRequest("+14155550100", service, "hi", "k"), CREDS, fake_api.url)
    form = dict(httpx.QueryParams(fake_api.last.body.decode()))
    assert form["MessagingServiceSid"] == service
    assert "From" not in form and "StatusCallback" not in form


def test_send_refused_with_a_4xx_is_final_and_keeps_twilios_code(fake_api, client):
    fake_api.reply(
        400,
        json_body={
            "code": 21211,
            "message": "The 'To' number +1415 is not a valid phone number.",
            "more_info": "https://www.twilio.com/docs/errors/21211",
            "status": 400,
        },
    )
    with pytest.raises(ProviderError) as error:
        PROVIDER.send(client, REQUEST, CREDS, fake_api.url)
    assert error.value.code == "provider_error"
    assert (error.value.provider_code, error.value.http_status) == ("21211", 400)
    assert error.value.retryable is False
    assert error.value.recipient_opted_out is False


def test_send_to_an_unsubscribed_recipient_reports_the_opt_out(fake_api, client):
    fake_api.reply(
        400,
        json_body={
            "code": 21610,
            "message": "Attempt to send to unsubscribed recipient",
            "more_info": "https://www.twilio.com/docs/errors/21610",
            "status": 400,
        },
    )
    with pytest.raises(ProviderError) as error:
        PROVIDER.send(client, REQUEST, CREDS, fake_api.url)
    assert error.value.recipient_opted_out is True
    assert error.value.retryable is False


@pytest.mark.parametrize("http_status", [500, 503, 429])
def test_send_server_errors_and_rate_limits_are_retryable(fake_api, client, http_status):
    fake_api.reply(http_status, json_body={"code": 20500, "message": "Internal Server Error"})
    with pytest.raises(ProviderError) as error:
        PROVIDER.send(client, REQUEST, CREDS, fake_api.url)
    assert error.value.retryable is True
    assert error.value.http_status == http_status


def test_send_accepted_without_a_sid_is_not_retried(fake_api, client):
    fake_api.reply(201, body=b"<html>ok</html>")
    with pytest.raises(ProviderError) as error:
        PROVIDER.send(client, REQUEST, CREDS, fake_api.url)
    assert error.value.retryable is False


def test_send_without_credentials_fails_before_any_request(fake_api, client):
    with pytest.raises(ProviderError):
        PROVIDER.send(client, REQUEST, {"account_sid": "AC1"}, fake_api.url)
    assert fake_api.requests == []


# --- robustness --------------------------------------------------------------------------------

ANY_HEADERS = st.dictionaries(
    st.sampled_from(["x-twilio-signature", "content-type", "x-other"]), st.text(max_size=40)
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    url=st.one_of(st.just(HOOK), st.text(max_size=60)),
    headers=ANY_HEADERS,
    body=st.binary(max_size=300),
)
def test_arbitrary_requests_only_ever_raise_webhook_rejected(url, headers, body):
    for parse in (PROVIDER.verify_and_parse_inbound, PROVIDER.verify_and_parse_status):
        try:
            parse(url, headers, body, CREDS)
        except WebhookRejected:
            pass


@settings(max_examples=200, deadline=None)
@given(
    params=st.dictionaries(
        st.sampled_from(
            [
                "From",
                "To",
                "Body",
                "MessageSid",
                "SmsSid",
                "NumMedia",
                "MediaUrl0",
                "OptOutType",
                "MessageStatus",
                "ErrorCode",
            ]
        )
        | st.text(max_size=8),
        st.text(max_size=30),
    )
)
def test_genuinely_signed_arbitrary_parameters_parse_or_are_rejected(params):
    headers, body = signed(params)
    for parse in (PROVIDER.verify_and_parse_inbound, PROVIDER.verify_and_parse_status):
        try:
            events = parse(HOOK, headers, body, CREDS)
        except WebhookRejected as rejected:
            assert rejected.code == "webhook_malformed"
        else:
            assert len(events) == 1
