"""Contacts: people with numbers and notes, their communication preferences, merge and delete.

Opt-outs and blocks are keyed by number, never by contact record (seed 003): deleting or merging
a contact changes no consent, and a number's opt-out shows on whichever contact holds it. A
contact's actions (opt out, block, re-subscribe) act on each of its numbers through the consent
door. Notes record consent evidence ("Requested opt-out on Sept 2", seed 000).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from stopline.domain import limits
from stopline.domain.consent import NumberState, Record, Scope, utc
from stopline.domain.errors import Conflict, InvalidInput, NotFound
from stopline.domain.gate import Outbound, Refuse, decide
from stopline.domain.numbers import normalize
from stopline.domain.recipient_location import check_postal_code, check_time_zone
from stopline.services import optouts
from stopline.services.checks import decisions_by_channel
from stopline.services.consent import ChangeResult, now_utc
from stopline.services.workspaces import Principal, get_workspace
from stopline.store import contacts as store
from stopline.store import ledger
from stopline.store import lists as list_store
from stopline.store.workspaces import list_channels

STATUSES = store.STATUSES
LABELS = ("mobile", "home", "work", "other")
MAX_NOTE = limits.limit_of("note")
MAX_NUMBERS = 20


@dataclass(frozen=True)
class ContactNumber:
    number: str
    label: str


@dataclass(frozen=True)
class Contact:
    id: int
    name: str
    email: str | None
    numbers: tuple[ContactNumber, ...]
    created_at: datetime
    updated_at: datetime
    # Where the contact is, for send-time rules; wins over the number's area code.
    time_zone: str | None = None
    postal_code: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "numbers": [{"number": n.number, "label": n.label} for n in self.numbers],
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "time_zone": self.time_zone,
            "postal_code": self.postal_code,
        }


@dataclass(frozen=True)
class Note:
    id: int
    body: str
    author: str
    created_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "body": self.body,
            "author": self.author,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class ContactFilter:
    """Which contacts a search, a page or a bulk action covers."""

    search: str | None = None  # name, email, or digits of a number
    status: str | None = None  # subscribed | opted_out | blocked | no_number
    list_id: int | None = None  # members of this list (by number)
    ids: tuple[int, ...] | None = None  # exactly these contacts (the rows a member ticked)
    created_after: datetime | None = None
    created_before: datetime | None = None

    def check(self) -> None:
        if self.status is not None and self.status not in STATUSES:
            raise InvalidInput(
                f"Unknown status {self.status!r}; use one of {', '.join(STATUSES)}.",
                code="status_invalid",
            )
        if self.search is not None and len(self.search) > 200:
            raise InvalidInput("A search is at most 200 characters.", code="search_invalid")

    def conditions(self, workspace_id: int) -> list[Any]:
        self.check()
        return store.filter_conditions(
            workspace_id,
            search=(self.search or "").strip() or None,
            status=self.status,
            list_id=self.list_id,
            ids=self.ids,
            created_after=self.created_after,
            created_before=self.created_before,
        )

    def as_dict(self) -> dict[str, Any]:
        """A canonical form (bulk tokens are bound to it)."""
        return {
            "search": (self.search or "").strip() or None,
            "status": self.status,
            "list_id": self.list_id,
            "ids": sorted(self.ids) if self.ids is not None else None,
            "created_after": utc(self.created_after).isoformat() if self.created_after else None,
            "created_before": utc(self.created_before).isoformat() if self.created_before else None,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> ContactFilter:
        raw = dict(raw or {})
        unknown = set(raw) - {
            "search",
            "status",
            "list_id",
            "ids",
            "created_after",
            "created_before",
        }
        if unknown:
            raise InvalidInput(
                f"Unknown filter field(s): {', '.join(sorted(unknown))}.", code="filter_invalid"
            )
        try:
            ids = raw.get("ids")
            flt = cls(
                search=raw.get("search") or None,
                status=raw.get("status") or None,
                list_id=int(raw["list_id"]) if raw.get("list_id") is not None else None,
                ids=tuple(int(i) for i in ids) if ids is not None else None,
                created_after=_when(raw.get("created_after")),
                created_before=_when(raw.get("created_before")),
            )
        except (TypeError, ValueError):
            raise InvalidInput("The contact filter is malformed.", code="filter_invalid") from None
        flt.check()
        return flt


def _when(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return utc(value)
    return utc(datetime.fromisoformat(str(value).replace("Z", "+00:00")))


def _contacts(conn: Connection, workspace_id: int, rows: Sequence[Any]) -> list[Contact]:
    numbers: dict[int, list[ContactNumber]] = {}
    for r in store.numbers_of(conn, workspace_id, [int(r.id) for r in rows]):
        numbers.setdefault(int(r.contact_id), []).append(ContactNumber(r.number, r.label))
    return [
        Contact(
            id=int(r.id),
            name=r.name,
            email=r.email,
            numbers=tuple(numbers.get(int(r.id), [])),
            created_at=utc(r.created_at),
            updated_at=utc(r.updated_at),
            time_zone=getattr(r, "time_zone", None),
            postal_code=getattr(r, "postal_code", None),
        )
        for r in rows
    ]


def get_contact(conn: Connection, workspace_id: int, contact_id: int) -> Contact:
    row = store.get_contact(conn, workspace_id, contact_id)
    if row is None:
        raise NotFound(f"No contact {contact_id} in this workspace.", code="contact_not_found")
    return _contacts(conn, workspace_id, [row])[0]


def contact_for_number(conn: Connection, workspace_id: int, number: str) -> Contact | None:
    """The contact holding this E.164 number, if any (opt-outs match contacts by number)."""
    contact_id = store.owner_of(conn, workspace_id, number)
    return get_contact(conn, workspace_id, contact_id) if contact_id is not None else None


def list_contacts(
    conn: Connection,
    workspace_id: int,
    flt: ContactFilter | None = None,
    *,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Contact], int]:
    if not 1 <= limit <= 1000 or offset < 0:
        raise InvalidInput("limit must be 1-1000 and offset not negative.", code="page_invalid")
    rows, total = store.find_contacts(
        conn, (flt or ContactFilter()).conditions(workspace_id), limit=limit, offset=offset
    )
    return _contacts(conn, workspace_id, rows), total


def _clean_name(name: str | None) -> str:
    name = (name or "").strip()
    if len(name) > 200:
        raise InvalidInput("A name is at most 200 characters.", code="name_too_long")
    return name


def _clean_email(email: str | None) -> str | None:
    email = (email or "").strip()
    if not email:
        return None
    if len(email) > 320 or "@" not in email or any(c.isspace() for c in email):
        raise InvalidInput(f"{email!r} is not an email address.", code="email_invalid")
    return email


def _label(label: str | None) -> str:
    label = (label or "mobile").strip().lower()
    if label not in LABELS:
        raise InvalidInput(f"A number's label is one of {', '.join(LABELS)}.", code="label_invalid")
    return label


def _claim_number(
    conn: Connection, workspace_id: int, contact_id: int, number: str, label: str
) -> None:
    owner = store.owner_of(conn, workspace_id, number)
    if owner is not None and owner != contact_id:
        raise Conflict(
            f"{number} already belongs to contact {owner}; merge the contacts instead.",
            code="number_taken",
            contact_id=owner,
        )
    if owner is None:
        store.insert_number(conn, workspace_id, contact_id, number, label)


def create_contact(
    conn: Connection,
    principal: Principal,
    *,
    name: str = "",
    email: str | None = None,
    numbers: Sequence[str | tuple[str, str]] = (),
    note: str | None = None,
) -> Contact:
    """A contact with numbers (E.164; a number belongs to one contact per workspace) and notes."""
    principal.require("member")
    region = get_workspace(conn, principal.workspace_id).policy.default_region
    parsed: dict[str, str] = {}
    for item in numbers:
        raw, label = (item, "mobile") if isinstance(item, str) else item
        if raw and raw.strip():
            parsed.setdefault(normalize(raw, region), _label(label))
    if len(parsed) > MAX_NUMBERS:
        raise InvalidInput(f"A contact has at most {MAX_NUMBERS} numbers.", code="too_many_numbers")
    clean_name = _clean_name(name)
    if not clean_name and not parsed:
        raise InvalidInput("A contact needs a name or a number.", code="contact_empty")
    now = now_utc()
    contact_id = store.insert_contact(
        conn,
        principal.workspace_id,
        name=clean_name,
        email=_clean_email(email),
        created_at=now,
        updated_at=now,
    )
    for number, label in parsed.items():
        _claim_number(conn, principal.workspace_id, contact_id, number, label)
    if note and note.strip():
        add_note(conn, principal, contact_id, note)
    return get_contact(conn, principal.workspace_id, contact_id)


_UNSET: Any = object()


def update_contact(
    conn: Connection,
    principal: Principal,
    contact_id: int,
    *,
    name: str | None = None,
    email: str | None = _UNSET,
    time_zone: str | None = _UNSET,
    postal_code: str | None = _UNSET,
) -> Contact:
    """Change what is given; an empty time zone or postal code clears it (the number's area
    code decides again)."""
    principal.require("member")
    get_contact(conn, principal.workspace_id, contact_id)
    values: dict[str, Any] = {"updated_at": now_utc()}
    if name is not None:
        values["name"] = _clean_name(name)
    if email is not _UNSET:
        values["email"] = _clean_email(email)
    if time_zone is not _UNSET:
        zone = (time_zone or "").strip()
        values["time_zone"] = check_time_zone(zone) if zone else None
    if postal_code is not _UNSET:
        clean = (postal_code or "").strip()
        values["postal_code"] = check_postal_code(clean) if clean else None
    store.update_contact(conn, principal.workspace_id, contact_id, **values)
    return get_contact(conn, principal.workspace_id, contact_id)


def edit_contact(
    conn: Connection,
    principal: Principal,
    contact_id: int,
    *,
    name: str,
    email: str | None,
    numbers: Sequence[str],
) -> Contact:
    """Save a contact's edit form: name, email and the whole list of numbers at once.

    Every number is read (E.164, in the workspace's region) before anything is written, so a
    bad number changes nothing. Numbers left out are detached; their opt-outs and blocks stay
    with the number.
    """
    principal.require("member")
    contact = get_contact(conn, principal.workspace_id, contact_id)
    region = get_workspace(conn, principal.workspace_id).policy.default_region
    wanted = list(dict.fromkeys(normalize(raw, region) for raw in numbers if raw.strip()))
    if len(wanted) > MAX_NUMBERS:
        raise InvalidInput(f"A contact has at most {MAX_NUMBERS} numbers.", code="too_many_numbers")
    clean_name, clean_email = _clean_name(name), _clean_email(email)
    if not clean_name and not wanted:
        raise InvalidInput("A contact needs a name or a number.", code="contact_empty")
    for number in wanted:
        owner = store.owner_of(conn, principal.workspace_id, number)
        if owner is not None and owner != contact_id:
            raise Conflict(
                f"{number} already belongs to contact {owner}; merge the contacts instead.",
                code="number_taken",
                contact_id=owner,
            )
    had = {n.number: n.label for n in contact.numbers}
    for number in had.keys() - set(wanted):
        store.delete_number(conn, principal.workspace_id, contact_id, number)
    for number in wanted:
        if number not in had:
            store.insert_number(conn, principal.workspace_id, contact_id, number, "mobile")
    store.update_contact(
        conn,
        principal.workspace_id,
        contact_id,
        name=clean_name,
        email=clean_email,
        updated_at=now_utc(),
    )
    return get_contact(conn, principal.workspace_id, contact_id)


def add_number(
    conn: Connection, principal: Principal, contact_id: int, raw: str, label: str = "mobile"
) -> Contact:
    principal.require("member")
    contact = get_contact(conn, principal.workspace_id, contact_id)
    if len(contact.numbers) >= MAX_NUMBERS:
        raise InvalidInput(f"A contact has at most {MAX_NUMBERS} numbers.", code="too_many_numbers")
    region = get_workspace(conn, principal.workspace_id).policy.default_region
    _claim_number(conn, principal.workspace_id, contact_id, normalize(raw, region), _label(label))
    store.update_contact(conn, principal.workspace_id, contact_id, updated_at=now_utc())
    return get_contact(conn, principal.workspace_id, contact_id)


def remove_number(conn: Connection, principal: Principal, contact_id: int, raw: str) -> Contact:
    """Detach a number from the contact; its opt-out or block (keyed by number) stays."""
    principal.require("member")
    get_contact(conn, principal.workspace_id, contact_id)
    region = get_workspace(conn, principal.workspace_id).policy.default_region
    if not store.delete_number(conn, principal.workspace_id, contact_id, normalize(raw, region)):
        raise NotFound("The contact has no such number.", code="number_not_found")
    store.update_contact(conn, principal.workspace_id, contact_id, updated_at=now_utc())
    return get_contact(conn, principal.workspace_id, contact_id)


def add_note(conn: Connection, principal: Principal, contact_id: int, body: str) -> Note:
    """A note on a contact: consent evidence such as "Requested opt-out on Sept 2" (seed 000)."""
    principal.require("member")
    body = (body or "").strip()
    if not body:
        raise InvalidInput("Write the note first.", code="note_required")
    if len(body) > MAX_NOTE:
        raise InvalidInput(f"A note is at most {MAX_NOTE} characters.", code="note_too_long")
    get_contact(conn, principal.workspace_id, contact_id)
    now = now_utc()
    note_id = store.insert_note(
        conn, principal.workspace_id, contact_id, body, principal.actor, now
    )
    return Note(note_id, body, principal.actor, now)


def list_notes(conn: Connection, workspace_id: int, contact_id: int) -> list[Note]:
    get_contact(conn, workspace_id, contact_id)
    return [
        Note(int(r.id), r.body, r.author, utc(r.created_at))
        for r in store.notes_of(conn, workspace_id, contact_id)
    ]


def merge_contacts(
    conn: Connection, principal: Principal, target_id: int, source_id: int
) -> Contact:
    """Fold `source` into `target`: its numbers and notes move over, then it is deleted.

    Consent is untouched (it is keyed by number); a note on the target records the merge.
    """
    principal.require("member")
    if target_id == source_id:
        raise InvalidInput("A contact cannot be merged into itself.", code="merge_same")
    target = get_contact(conn, principal.workspace_id, target_id)
    source = get_contact(conn, principal.workspace_id, source_id)
    if len(target.numbers) + len(source.numbers) > MAX_NUMBERS:
        raise InvalidInput(f"A contact has at most {MAX_NUMBERS} numbers.", code="too_many_numbers")
    store.move_contact_rows(conn, principal.workspace_id, source_id, target_id)
    values: dict[str, Any] = {"updated_at": now_utc()}
    if not target.name and source.name:
        values["name"] = source.name
    if not target.email and source.email:
        values["email"] = source.email
    store.update_contact(conn, principal.workspace_id, target_id, **values)
    store.delete_contact(conn, principal.workspace_id, source_id)
    moved = ", ".join(n.number for n in source.numbers) or "no numbers"
    store.insert_note(
        conn,
        principal.workspace_id,
        target_id,
        f"Merged contact {source.name or '(no name)'} (#{source_id}) into this one: {moved}.",
        principal.actor,
        now_utc(),
    )
    return get_contact(conn, principal.workspace_id, target_id)


def delete_contact(conn: Connection, principal: Principal, contact_id: int) -> None:
    """Delete a contact with its numbers and notes. Its numbers' opt-outs and blocks remain:
    they are keyed by number, and the next contact given the number inherits them."""
    principal.require("member")
    get_contact(conn, principal.workspace_id, contact_id)
    store.delete_contact(conn, principal.workspace_id, contact_id)


# --- a contact's consent actions ---------------------------------------------------------------


def _each_number(conn: Connection, principal: Principal, contact_id: int) -> list[str]:
    contact = get_contact(conn, principal.workspace_id, contact_id)
    if not contact.numbers:
        raise InvalidInput("This contact has no phone number.", code="contact_has_no_number")
    return [n.number for n in contact.numbers]


def opt_out_contact(
    conn: Connection, principal: Principal, contact_id: int, *, reason: str | None = None
) -> list[ChangeResult]:
    """Opt every number of the contact out (any member may; seed 003)."""
    return [
        optouts.add_opt_out(conn, principal, n, reason=reason)
        for n in _each_number(conn, principal, contact_id)
    ]


def resubscribe_contact(
    conn: Connection, principal: Principal, contact_id: int, *, consent_note: str | None = None
) -> list[ChangeResult]:
    """Lift the opt-outs of every number, under the workspace's re-subscribe policy; the
    consent note is also kept as a contact note, the evidence seed 000 asks for."""
    numbers = _each_number(conn, principal, contact_id)
    results = [
        optouts.remove_opt_out(conn, principal, n, consent_note=consent_note) for n in numbers
    ]
    if any(r.changed for r in results) and consent_note and consent_note.strip():
        add_note(conn, principal, contact_id, f"Re-subscribed: {consent_note.strip()}")
    return results


def block_contact(
    conn: Connection, principal: Principal, contact_id: int, *, reason: str | None = None
) -> list[ChangeResult]:
    return [
        optouts.block(conn, principal, n, reason=reason)
        for n in _each_number(conn, principal, contact_id)
    ]


def unblock_contact(
    conn: Connection, principal: Principal, contact_id: int, *, reason: str | None = None
) -> list[ChangeResult]:
    return [
        optouts.unblock(conn, principal, n, reason=reason)
        for n in _each_number(conn, principal, contact_id)
    ]


# --- communication preferences -----------------------------------------------------------------


@dataclass(frozen=True)
class Permission:
    """May a message go this way? The gate's own answer, with its reason when it may not."""

    kind: str  # channel_type | channel | list
    key: str  # "sms", a channel id, a list id
    name: str
    allowed: bool
    code: str | None = None
    detail: str | None = None
    subscribed: bool | None = None  # lists only

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "key": self.key,
            "name": self.name,
            "allowed": self.allowed,
            "code": self.code,
            "detail": self.detail,
        }
        if self.subscribed is not None:
            out["subscribed"] = self.subscribed
        return out


def _record_dict(record: Record) -> dict[str, Any]:
    return {
        "method": record.method.value,
        "reason": record.reason,
        "actor": record.actor,
        "created_at": record.created_at.isoformat(),
    }


@dataclass(frozen=True)
class NumberPreferences:
    number: str
    label: str
    state: NumberState
    permissions: tuple[Permission, ...] = field(default_factory=tuple)

    @property
    def status(self) -> str:
        if self.state.block is not None:
            return "blocked"
        if (Scope.WORKSPACE, "") in self.state.opt_outs:
            return "opted_out"
        if self.state.opt_outs or self.state.list_opt_outs:
            return "partly_opted_out"
        return "subscribed"

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "label": self.label,
            "status": self.status,
            "blocked": _record_dict(self.state.block) if self.state.block else None,
            "opt_outs": [
                {"scope": scope.value, "scope_key": key, **_record_dict(record)}
                for (scope, key), record in sorted(self.state.opt_outs.items())
            ],
            "list_opt_outs": [
                {"list_id": list_id, **_record_dict(record)}
                for list_id, record in sorted(self.state.list_opt_outs.items())
            ],
            "permissions": [p.as_dict() for p in self.permissions],
        }


def _permission(
    kind: str, key: str, name: str, decision: Any, subscribed: bool | None = None
) -> Permission:
    if isinstance(decision, Refuse):
        return Permission(kind, key, name, False, decision.code.value, decision.detail, subscribed)
    return Permission(kind, key, name, True, None, None, subscribed)


def number_preferences(
    conn: Connection, workspace_id: int, number: str, label: str = "mobile"
) -> NumberPreferences:
    """Per channel type, per channel and per list: can we send to this number, and why not.

    List answers are for a campaign on that list through a channel with no narrower opt-out
    (the channel answers show those).
    """
    state = ledger.load_state(conn, workspace_id, number)
    channels = list(list_channels(conn, workspace_id))
    types = sorted({c.type for c in channels}) or ["sms"]
    permissions: list[Permission] = [
        _permission(
            "channel_type", t, t.upper(), decide(Outbound(to=number, channel_type=t), state)
        )
        for t in types
    ]
    permissions += [
        _permission("channel", str(d.channel.id), d.channel.name or d.channel.address, d.decision)
        for d in decisions_by_channel(conn, workspace_id, number, state)
    ]
    member_of = {
        list_id for _n, list_id in list_store.lists_of_numbers(conn, workspace_id, [number])
    }
    for row in list_store.all_lists(conn, workspace_id)[:200]:
        list_id = int(row.id)
        subscribed = list_id in member_of
        decision = decide(
            Outbound(to=number, channel_type=None, list_id=list_id), state, subscribed=subscribed
        )
        permissions.append(_permission("list", str(list_id), row.name, decision, subscribed))
    return NumberPreferences(number, label, state, tuple(permissions))


def communication_preferences(
    conn: Connection, workspace_id: int, contact_id: int
) -> list[NumberPreferences]:
    """The contact's communication preferences (seed 002), one entry per number."""
    contact = get_contact(conn, workspace_id, contact_id)
    return [number_preferences(conn, workspace_id, n.number, n.label) for n in contact.numbers]
