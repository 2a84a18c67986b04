"""How long each text a person or an app can store may be: one table, checked where text enters.

Every stored text has a bound, so one careless or hostile input (a 5 MB opt-out reason) cannot
fill the database, slow every page that shows it, or break the exports that carry it. Too long
is refused with `text_too_long` (HTTP 422, one CLI line), never cut silently: what was typed is
either stored whole or not at all.
"""

from __future__ import annotations

from stopline.domain.errors import InvalidInput

#: Characters, per field. The README's "Limits" table repeats these.
LIMITS: dict[str, int] = {
    "reason": 500,  # opt-out, block, list opt-out, import, bulk: a sentence or two of evidence
    "consent_note": 500,  # how the recipient gave consent again (also kept as the reason)
    "note": 2000,  # a contact note (consent evidence, seed 000)
    "name": 200,  # contacts, lists, channels, API keys, members, workspaces (columns are 200)
    "help_text": 480,  # a list's HELP reply: three SMS segments
    "reply_text": 480,  # confirmation, HELP and disclosure texts of the workspace (3 segments)
    "setting": 200,  # brand name, help contact
    "source": 200,  # where a change came from (column is 200)
    "actor": 200,  # who made it (column is 200)
    "correlation_id": 200,  # the caller's id for a consent record (column is 200)
    "email": 320,  # RFC 5321's longest address (column is 320)
    "classified_text": 10_000,  # a text to classify (API): ten times the longest SMS providers take
}


def limit_of(field: str) -> int:
    return LIMITS[field]


def text(value: object, field: str, *, label: str | None = None) -> str | None:
    """`value` stripped, None when empty; refused when it is no text or longer than its limit."""
    if value is None:
        return None
    what = label or field.replace("_", " ")
    if not isinstance(value, str):
        raise InvalidInput(f"The {what} must be text.", code="text_invalid", field=field)
    limit = LIMITS[field]
    stripped = value.strip()
    if len(stripped) > limit:
        raise InvalidInput(
            f"The {what} is {len(stripped):,} characters long; at most {limit:,} are allowed.",
            code="text_too_long",
            field=field,
            limit=limit,
        )
    return stripped or None


def check(value: str | None, field: str, *, label: str | None = None) -> None:
    """Refuse `value` if longer than its field's limit (for values already stripped)."""
    if value is not None and len(value) > LIMITS[field]:
        text(value, field, label=label)
