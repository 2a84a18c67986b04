"""The unmodified `twilio` package, pointed at stopline on loopback, sends, fetches, lists, is refused."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from stopline.security import Keyring
from stopline.services import workspaces
from tests.outbound import add_channel, block, number, opt_out
from tests.web.outbound_server import serve


@pytest.fixture(scope="module")
def base_url(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(database_url, tmp_path_factory.mktemp("data")) as url:
        yield url


def twilio_client(
    base_url: str, created: workspaces.CreatedWorkspace, token: str | None = None
) -> Client:
    client = Client(created.workspace.account_sid, token or created.auth_token, region=None)
    client.api.base_url = base_url  # the SDK's own knob for the API host; nothing patched
    return client


@pytest.fixture
def channel(engine: sa.Engine, ws: workspaces.Workspace, keyring: Keyring) -> workspaces.Channel:
    return add_channel(engine, ws, keyring)


def test_the_twilio_package_sends_through_stopline(base_url, created, channel) -> None:  # type: ignore[no-untyped-def]
    client = twilio_client(base_url, created)
    to = number()
    message = client.messages.create(to=to, from_=channel.address, body="Your order shipped")
    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert (message.status, message.to, message.from_) == ("queued", to, channel.address)
    assert message.account_sid == created.workspace.account_sid
    assert message.direction == "outbound-api" and message.api_version == "2010-04-01"
    assert message.num_segments == "1" and message.error_code is None
    assert message.date_created is not None  # RFC 2822, parsed by the SDK
    fetched = client.messages(message.sid).fetch()
    assert (fetched.sid, fetched.body) == (message.sid, "Your order shipped")


def test_an_opted_out_number_gets_twilio_error_21610(
    base_url, created, channel, engine, ws
) -> None:  # type: ignore[no-untyped-def]
    to = number()
    opt_out(engine, ws, to)
    client = twilio_client(base_url, created)
    with pytest.raises(TwilioRestException) as exc:
        client.messages.create(to=to, from_=channel.address, body="Sale!")
    assert (exc.value.status, exc.value.code) == (400, 21610)
    assert "unsubscribed" in exc.value.msg


def test_a_blocked_number_gets_21610_too(base_url, created, channel, engine, ws) -> None:  # type: ignore[no-untyped-def]
    to = number()
    block(engine, ws, to)
    with pytest.raises(TwilioRestException) as exc:
        twilio_client(base_url, created).messages.create(to=to, from_=channel.address, body="Hi")
    assert exc.value.code == 21610


def test_an_invalid_to_gets_21211(base_url, created, channel) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TwilioRestException) as exc:
        twilio_client(base_url, created).messages.create(to="12", from_=channel.address, body="Hi")
    assert (exc.value.status, exc.value.code) == (400, 21211)


def test_a_wrong_auth_token_gets_20003(base_url, created, channel) -> None:  # type: ignore[no-untyped-def]
    client = twilio_client(base_url, created, token="0" * 32)
    with pytest.raises(TwilioRestException) as exc:
        client.messages.create(to=number(), from_=channel.address, body="Hi")
    assert (exc.value.status, exc.value.code) == (401, 20003)


def test_another_workspaces_account_sid_in_the_path_is_refused(
    base_url, created, channel, engine
) -> None:  # type: ignore[no-untyped-def]
    from stopline.store.db import write

    with write(engine) as conn:
        other = workspaces.create_workspace(
            conn, name="Other co", owner_email="other@example.com", owner_password="long password"
        )
    client = Client(other.workspace.account_sid, other.auth_token, region=None)
    client.api.base_url = base_url
    with pytest.raises(TwilioRestException) as exc:
        client.api.v2010.accounts(created.workspace.account_sid).messages.create(
            to=number(), from_=channel.address, body="Hi"
        )
    assert exc.value.code == 20003


def test_an_unknown_from_or_a_missing_body_is_refused_like_twilio(
    base_url, created, channel
) -> None:  # type: ignore[no-untyped-def]
    client = twilio_client(base_url, created)
    with pytest.raises(TwilioRestException) as unknown:
        client.messages.create(to=number(), from_=number(), body="Hi")
    assert unknown.value.code == 21606
    with pytest.raises(TwilioRestException) as empty:
        client.messages.create(to=number(), from_=channel.address, body="")
    assert empty.value.code == 21602


def test_a_messaging_service_sid_selects_its_channel(
    base_url, created, engine, ws, keyring
) -> None:  # type: ignore[no-untyped-def]
    import secrets

    service = "MG" + secrets.token_hex(16)
    add_channel(engine, ws, keyring, address=service)
    message = twilio_client(base_url, created).messages.create(
        to=number(), messaging_service_sid=service, body="Hi"
    )
    assert message.messaging_service_sid == service


def test_fetching_an_unknown_sid_is_20404(base_url, created, channel) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TwilioRestException) as exc:
        twilio_client(base_url, created).messages("SM" + "0" * 32).fetch()
    assert (exc.value.status, exc.value.code) == (404, 20404)


def test_listing_pages_through_every_message(base_url, created, channel) -> None:  # type: ignore[no-untyped-def]
    client = twilio_client(base_url, created)
    sent = [
        client.messages.create(to=number(), from_=channel.address, body=f"m{i}").sid
        for i in range(5)
    ]
    listed = [m.sid for m in client.messages.list(page_size=2)]
    assert listed == list(reversed(sent))  # newest first, across three pages
    page = client.messages.page(page_size=2)
    assert page.next_page_url is not None


def test_rotating_the_token_retires_the_old_one(base_url, created, channel) -> None:  # type: ignore[no-untyped-def]
    rotated = httpx.post(
        f"{base_url}/api/v1/twilio/auth-token/rotate",
        headers={"Authorization": f"Bearer {created.api_key}"},
    )
    assert rotated.status_code == 200
    new_token = rotated.json()["auth_token"]
    with pytest.raises(TwilioRestException) as exc:
        twilio_client(base_url, created).messages.create(
            to=number(), from_=channel.address, body="x"
        )
    assert exc.value.code == 20003
    ok = twilio_client(base_url, created, token=new_token).messages.create(
        to=number(), from_=channel.address, body="x"
    )
    assert ok.status == "queued"


def test_the_error_body_is_twilios_shape(base_url, created, channel, engine, ws) -> None:  # type: ignore[no-untyped-def]
    to = number()
    opt_out(engine, ws, to)
    response = httpx.post(
        f"{base_url}/2010-04-01/Accounts/{created.workspace.account_sid}/Messages.json",
        data={"To": to, "From": channel.address, "Body": "Hi"},
        auth=(created.workspace.account_sid, created.auth_token),
    )
    assert response.status_code == 400
    assert response.json() == {
        "code": 21610,
        "message": "Attempt to send to unsubscribed recipient",
        "more_info": "https://www.twilio.com/docs/errors/21610",
        "status": 400,
    }
