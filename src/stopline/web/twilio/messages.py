"""The Twilio-compatible Messages API, so code written for Twilio's SDKs sends through stopline.

Point the official client at stopline (``client.api.base_url = "https://stopline.example"``)
with the workspace's account SID and auth token (`stopline init --json`). Every send goes
through `services.queueing.enqueue`, so the gate decides as for any other path: an opted-out
or blocked ``To`` answers HTTP 400 with Twilio's error 21610, an unusable one 21211. Bodies
are shaped like Twilio's (``sid`` ``SM`` + 32 hex, RFC 2822 dates, ``uri``, paging fields).
``StatusCallback`` is stored with the message; stopline does not call it yet.
"""

from __future__ import annotations

import base64
import binascii
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

import anyio.to_thread
from litestar import Request, Response, get, post

from stopline.domain.consent import utc
from stopline.domain.errors import InvalidInput, StoplineError
from stopline.domain.numbers import channel_address
from stopline.domain.send_rules import Category
from stopline.services import messages as messages_service
from stopline.services import queueing, workspaces
from stopline.services.workspaces import Workspace
from stopline.store import channels as channel_store
from stopline.store import messages as message_store
from stopline.store.db import read, write
from stopline.web.deps import runtime_of

API_VERSION = "2010-04-01"
PREFIX = f"/{API_VERSION}/Accounts"

# Twilio error codes with the HTTP status and message Twilio uses for them.
ERRORS: dict[int, tuple[int, str]] = {
    20003: (401, "Authenticate"),
    20404: (404, "The requested resource was not found"),
    21211: (400, "Invalid 'To' Phone Number"),
    21602: (400, "Message body is required."),
    21603: (400, "A 'From' phone number is required."),
    21604: (400, "A 'To' phone number is required."),
    21606: (
        400,
        "The From phone number is not a valid, SMS-capable inbound phone number or short "
        "code for your account.",
    ),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21617: (400, "The concatenated message body exceeds the 1600 character limit."),
    21701: (400, "The Messaging Service Sid is invalid."),
    60200: (400, "Invalid parameter"),
}

# The refusal codes of the gate, as Twilio would report them.
REFUSAL_CODES = {
    "opted_out": 21610,
    "blocked": 21610,
    "list_opted_out": 21610,
    "not_subscribed": 21610,
    "invalid_number": 21211,
}
# Refused by the send-time rules: answered with the failed message, not an error.
SEND_TIME_REFUSALS = ("frequency_cap", "no_send_window")

STATUSES = {
    "queued": "queued",
    "scheduled": "scheduled",
    "sending": "sending",
    "sent": "sent",
    "delivered": "delivered",
    "failed": "failed",
    "canceled": "canceled",
    "received": "received",
}


class TwilioError(Exception):
    def __init__(self, code: int, message: str | None = None, status: int | None = None) -> None:
        default_status, default_message = ERRORS.get(code, (400, "Bad request"))
        super().__init__(message or default_message)
        self.code = code
        self.message = message or default_message
        self.status = status or default_status


def error_response(exc: TwilioError) -> Response[dict[str, Any]]:
    body = {
        "code": exc.code,
        "message": exc.message,
        "more_info": f"https://www.twilio.com/docs/errors/{exc.code}",
        "status": exc.status,
    }
    headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if exc.status == 401 else None
    return Response(body, status_code=exc.status, headers=headers)


def _authenticate(request: Request, account_sid: str) -> Workspace:
    """HTTP basic auth with the workspace's account SID and auth token (Twilio's 20003)."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        raise TwilioError(20003, "Authenticate")
    try:
        user, _, token = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise TwilioError(20003) from None
    rt = runtime_of(request.app.state)
    try:
        with read(rt.engine) as conn:
            ws = workspaces.authenticate_account(conn, user, token)
    except StoplineError:
        raise TwilioError(20003) from None
    if ws.account_sid != account_sid:
        raise TwilioError(20003)
    return ws


# --- shapes -------------------------------------------------------------------------------------

_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = set("^{}\\[~]|€\f")


def num_segments(body: str) -> int:
    """SMS segments: GSM-7 160 (153 per part), else UCS-2 70 (67 per part)."""
    if all(c in _GSM7 or c in _GSM7_EXTENDED for c in body):
        units = sum(2 if c in _GSM7_EXTENDED else 1 for c in body)
        single, multi = 160, 153
    else:
        units = sum(2 if ord(c) > 0xFFFF else 1 for c in body)
        single, multi = 70, 67
    if units <= single:
        return 1
    return -(-units // multi)


def _rfc2822(value: Any) -> str | None:
    return format_datetime(utc(value)) if value is not None else None


def message_uri(account_sid: str, sid: str) -> str:
    return f"{PREFIX}/{account_sid}/Messages/{sid}.json"


def message_json(account_sid: str, m: messages_service.QueuedMessage) -> dict[str, Any]:
    """A message as Twilio's Message resource."""
    error_code: int | None = None
    if m.refusal_code:
        error_code = REFUSAL_CODES.get(m.refusal_code)
    elif m.error_code and m.error_code.isdigit():
        error_code = int(m.error_code)
    if m.direction == "in":
        direction = "inbound"
    elif m.source == "inbound_reply":
        direction = "outbound-reply"
    else:
        direction = "outbound-api"
    uri = message_uri(account_sid, m.sid)
    is_service = m.from_address.startswith("MG")
    return {
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "body": m.body,
        "date_created": _rfc2822(m.created_at),
        "date_sent": _rfc2822(m.handed_at),
        "date_updated": _rfc2822(m.updated_at),
        "direction": direction,
        "error_code": error_code,
        "error_message": m.error_message if (m.refusal_code or m.error_code) else None,
        "from": None if is_service and m.status in ("queued", "scheduled") else m.from_address,
        "messaging_service_sid": m.from_address if is_service else None,
        "num_media": "0",
        "num_segments": str(num_segments(m.body)),
        "price": None,
        "price_unit": "USD",
        "sid": m.sid,
        "status": STATUSES.get(m.status, m.status),
        "subresource_uris": {"media": uri.removesuffix(".json") + "/Media.json"},
        "to": m.to,
        "uri": uri,
    }


# --- handlers -----------------------------------------------------------------------------------


def _create(request: Request, ws: Workspace, form: dict[str, str]) -> dict[str, Any]:
    to = (form.get("To") or "").strip()
    body = form.get("Body") or ""
    sender = (form.get("From") or "").strip()
    service = (form.get("MessagingServiceSid") or "").strip()
    if not to:
        raise TwilioError(21604)
    if not body.strip():
        raise TwilioError(21602)
    if len(body) > queueing.MAX_BODY:
        raise TwilioError(21617)
    category = (form.get("Category") or form.get("category") or "").strip() or None
    if category is not None and category not in {c.value for c in Category}:
        raise TwilioError(60200, "Category must be conversational, informational or marketing.")
    rt = runtime_of(request.app.state)
    with write(rt.engine) as conn:
        if service:
            channel = channel_store.channel_by_address(conn, ws.id, service)
            if channel is None:
                raise TwilioError(21701, f"The Messaging Service Sid {service} is invalid.")
        elif sender:
            try:
                address = channel_address(sender, ws.policy.default_region)
            except InvalidInput:
                raise TwilioError(21606) from None
            channel = channel_store.channel_by_address(conn, ws.id, address)
            if channel is None:
                raise TwilioError(21606)
        else:
            raise TwilioError(21603)
        message = queueing.enqueue(
            conn,
            ws.id,
            channel_id=channel.id,
            to=to,
            body=body,
            source="twilio_api",
            sent_by="twilio_api",
            status_callback=form.get("StatusCallback") or None,
            category=category,
        )
    if message.refused and message.refusal_code in SEND_TIME_REFUSALS:
        # No Twilio error means "not now, by law": the message is created and failed, as
        # Twilio reports a message its carrier refused later.
        return message_json(ws.account_sid, message)
    if message.refused:
        code = REFUSAL_CODES.get(message.refusal_code or "", 21610)
        if code == 21211:
            raise TwilioError(21211, f"The 'To' number {to} is not a valid phone number.")
        raise TwilioError(21610)
    return message_json(ws.account_sid, message)


def _form(raw: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in raw.multi_items() if hasattr(raw, "multi_items") else raw.items():
        if isinstance(value, str):
            out.setdefault(key, value)  # the first value of a repeated name, as Twilio reads it
    return out


@post(
    f"{PREFIX}/{{account_sid:str}}/Messages.json",
    tags=["twilio-compatible"],
    include_in_schema=True,
    status_code=201,
)
async def create_message(request: Request, account_sid: str) -> Response[dict[str, Any]]:
    """Twilio's "Create a Message": form fields To, From or MessagingServiceSid, Body,
    StatusCallback. HTTP basic auth: account SID and auth token."""
    try:
        ws = await anyio.to_thread.run_sync(_authenticate, request, account_sid)
        form = _form(await request.form())
        body = await anyio.to_thread.run_sync(_create, request, ws, form)
    except TwilioError as exc:
        return error_response(exc)
    return Response(body, status_code=201)


def _fetch(request: Request, ws: Workspace, sid: str) -> dict[str, Any]:
    rt = runtime_of(request.app.state)
    with read(rt.engine) as conn:
        row = message_store.message_by_sid(conn, ws.id, sid)
    if row is None:
        raise TwilioError(
            20404,
            f"The requested resource {message_uri(ws.account_sid, sid)} was not found",
        )
    return message_json(ws.account_sid, messages_service.message_from_row(row))


@get(
    f"{PREFIX}/{{account_sid:str}}/Messages/{{message:str}}",
    tags=["twilio-compatible"],
)
async def fetch_message(
    request: Request, account_sid: str, message: str
) -> Response[dict[str, Any]]:
    """Twilio's "Fetch a Message": `GET .../Messages/{Sid}.json`."""
    try:
        ws = await anyio.to_thread.run_sync(_authenticate, request, account_sid)
        sid = message.removesuffix(".json")
        body = await anyio.to_thread.run_sync(_fetch, request, ws, sid)
    except TwilioError as exc:
        return error_response(exc)
    return Response(body, status_code=200)


def _page_token(value: str | None) -> int | None:
    if not value:
        return None
    if value.startswith("PB") and value[2:].isdigit():
        return int(value[2:])
    raise TwilioError(20404, "The page token is not valid.", 400)


def _list(request: Request, ws: Workspace) -> dict[str, Any]:
    q = request.query_params
    try:
        page_size = max(1, min(int(q.get("PageSize") or 50), 1000))
        page = max(0, int(q.get("Page") or 0))
    except ValueError:
        raise TwilioError(20404, "PageSize and Page are whole numbers.", 400) from None
    before = _page_token(q.get("PageToken"))
    to = q.get("To") or None
    sender = q.get("From") or None
    rt = runtime_of(request.app.state)
    with read(rt.engine) as conn:
        if sender:
            try:
                sender = channel_address(sender, ws.policy.default_region)
            except InvalidInput:
                pass
        found = messages_service.list_messages(
            conn,
            ws.id,
            to=to,
            from_address=sender,
            before_id=before,
            limit=page_size + 1,
            offset=0 if before is not None else page * page_size,
        )
    has_more = len(found) > page_size
    found = found[:page_size]
    base = f"{PREFIX}/{ws.account_sid}/Messages.json"
    filters = {k: v for k, v in (("To", q.get("To")), ("From", q.get("From"))) if v}

    def uri(**extra: Any) -> str:
        return f"{base}?{urlencode({**filters, 'PageSize': page_size, **extra})}"

    start = page * page_size
    current = {"Page": page}
    if before is not None:
        current["PageToken"] = f"PB{before}"  # type: ignore[assignment]
    return {
        "messages": [message_json(ws.account_sid, m) for m in found],
        "end": start + max(len(found) - 1, 0),
        "first_page_uri": uri(Page=0),
        "next_page_uri": uri(Page=page + 1, PageToken=f"PB{found[-1].id}") if has_more else None,
        "page": page,
        "page_size": page_size,
        "previous_page_uri": uri(Page=page - 1) if page > 0 and before is None else None,
        "start": start,
        "uri": uri(**current),
    }


@get(
    f"{PREFIX}/{{account_sid:str}}/Messages.json",
    tags=["twilio-compatible"],
)
async def list_messages(request: Request, account_sid: str) -> Response[dict[str, Any]]:
    """Twilio's "Read multiple Messages", newest first, with Twilio's paging fields
    (`PageSize`, `next_page_uri`; filters `To` and `From`)."""
    try:
        ws = await anyio.to_thread.run_sync(_authenticate, request, account_sid)
        body = await anyio.to_thread.run_sync(_list, request, ws)
    except TwilioError as exc:
        return error_response(exc)
    return Response(body, status_code=200)


ROUTES = [create_message, list_messages, fetch_message]
