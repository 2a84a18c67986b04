"""The evidence packet as a PDF that stands on its own (fpdf2, with a DejaVu font shipped here).

fpdf2 is pure Python (no system libraries, one small dependency tree: fonttools, Pillow,
defusedxml), actively maintained, and embeds subsets of TrueType fonts, so any text a person
may have sent (accents, emoji, other scripts DejaVu covers) prints. A character the font lacks
(Chinese, Japanese, Korean, most emoji) is printed as its code point, `[U+4F60]`, so nothing a
person wrote silently disappears from the evidence (the JSON packet has the text itself). The
font files ship inside the stopline package, so a fresh machine needs nothing installed.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fpdf import FPDF

FONTS = Path(__file__).parent / "fonts"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff]")
_SANS, _MONO = "DejaVu", "DejaVuMono"

# fpdf2 logs every glyph the font lacks (CJK, some emoji): not worth a log line per packet.
logging.getLogger("fpdf").setLevel(logging.ERROR)


@functools.cache
def _printable(font: str) -> frozenset[int]:
    """The code points a shipped font has glyphs for."""
    from fontTools.ttLib import TTFont

    with TTFont(str(FONTS / font), lazy=True) as ttf:
        return frozenset(ttf.getBestCmap())


def clean(value: Any, mono: bool = False) -> str:
    """Printable text: control characters shown as U+FFFD, characters the font has no glyph
    for as their code point ([U+4F60]), None as an empty string."""
    if value is None:
        return ""
    text = _CONTROL.sub("\ufffd", str(value))
    has = _printable("DejaVuSansMono.ttf" if mono else "DejaVuSans.ttf")
    if all(ord(c) in has or c in "\n\t" for c in text):
        return text
    return "".join(c if ord(c) in has or c in "\n\t" else f"[U+{ord(c):04X}]" for c in text)


class _Packet(FPDF):
    footer_text = ""

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(_SANS, size=7)
        self.set_text_color(110)
        self.cell(0, 5, f"{self.footer_text}   page {self.page_no()}/{{nb}}", align="C")
        self.set_text_color(0)


class _Writer:
    def __init__(self, footer: str) -> None:
        pdf = _Packet(format="A4")
        pdf.footer_text = footer
        pdf.set_margins(15, 15, 15)
        pdf.set_auto_page_break(True, margin=16)
        pdf.add_font(_SANS, "", str(FONTS / "DejaVuSans.ttf"))
        pdf.add_font(_MONO, "", str(FONTS / "DejaVuSansMono.ttf"))
        pdf.alias_nb_pages()
        pdf.add_page()
        self.pdf = pdf

    def title(self, text: str) -> None:
        self.pdf.set_font(_SANS, size=17)
        self.pdf.multi_cell(0, 9, clean(text), align="L", new_x="LMARGIN", new_y="NEXT")
        self.pdf.ln(1)

    def heading(self, text: str) -> None:
        pdf = self.pdf
        if pdf.get_y() > pdf.h - 60:
            pdf.add_page()
        pdf.ln(3)
        pdf.set_font(_SANS, size=13)
        pdf.multi_cell(0, 7, clean(text), align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.set_draw_color(160)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
        pdf.ln(1.5)

    def subheading(self, text: str) -> None:
        pdf = self.pdf
        if pdf.get_y() > pdf.h - 40:
            pdf.add_page()
        pdf.ln(2)
        pdf.set_font(_SANS, size=11)
        pdf.set_fill_color(238)
        pdf.multi_cell(0, 6, clean(text), fill=True, align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(0.5)

    def text(self, value: Any, size: float = 9.5, mono: bool = False) -> None:
        self.pdf.set_font(_MONO if mono else _SANS, size=size)
        self.pdf.multi_cell(
            0, size * 0.5, clean(value, mono), align="L", new_x="LMARGIN", new_y="NEXT"
        )

    def field(self, label: str, value: Any, mono: bool = False) -> None:
        if value is None or value == "":
            return
        pdf = self.pdf
        pdf.set_font(_SANS, size=8.5)
        pdf.set_text_color(90)
        pdf.cell(42, 4.6, clean(label))
        pdf.set_text_color(0)
        pdf.set_font(_MONO if mono else _SANS, size=8 if mono else 9.5)
        pdf.multi_cell(0, 4.6, clean(value, mono), align="L", new_x="LMARGIN", new_y="NEXT")

    def output(self) -> bytes:
        return bytes(self.pdf.output())


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _yes(flag: Any) -> str:
    return "yes" if flag else "NO"


def _message_line(message: Mapping[str, Any] | None, label: str) -> str | None:
    if not message:
        return None
    times = f"created {message.get('created_at') or '-'}"
    if message.get("handed_at"):
        times += f", handed to the provider {message['handed_at']}"
    return f"{label}: \u201c{message.get('body')}\u201d ({message.get('status')}; {times})"


def render(packet: Mapping[str, Any]) -> bytes:
    """The packet (`services.evidence.packet`) as PDF bytes."""
    number = packet["number"]
    workspace = packet["workspace"]
    verification = packet["verification"]
    w = _Writer(
        f"stopline evidence packet \u00b7 {number} \u00b7 generated {packet['generated_at']}"
    )
    w.title(f"Consent evidence packet: {number}")
    w.field("Number", number)
    w.field("Workspace", f"{workspace['name']} (id {workspace['id']}, {workspace['slug']})")
    w.field("Generated", packet["generated_at"])
    w.field("Format", packet["format"])
    whole = ", the whole chain verifies," if verification.get("chain_checked") else ""
    result = (
        f"VERIFIED: every event's hash and links check out{whole} and the current state is "
        "what the events add up to."
        if verification["verified"]
        else "NOT VERIFIED: see the verification section."
    )
    w.field("Verification result", result)

    state = packet["state"]
    w.heading("Current consent state")
    w.field("Opted out", "yes" if state["opted_out"] else "no")
    w.field("Blocked", "yes" if state["blocked"] else "no")
    for item in state["opt_outs"]:
        scope = item["scope"] + (f" {item['scope_key']}" if item["scope_key"] else "")
        w.field(
            "Opt-out",
            f"{scope}: {item['method']} at {item['created_at']} (event #{item['event_seq']})",
        )
    for item in state["list_opt_outs"]:
        w.field("List opt-out", f"list {item['list_id']}: {item['method']} at {item['created_at']}")

    w.heading(f"Consent events ({len(packet['events'])}, oldest first)")
    for event in packet["events"]:
        w.subheading(
            f"#{event['seq']}  {event['action']}  by {event['method']}  \u00b7  {event['occurred_at']}"
        )
        scope = event["scope"] + (f" {event['scope_key']}" if event["scope_key"] else "")
        w.field("Action", event["action"])
        w.field("Method", event["method"])
        w.field("Scope", scope)
        if event.get("list_id") is not None:
            w.field("List", f"{event.get('list_name') or '(deleted)'} (id {event['list_id']})")
        w.field("Source", event["source"])
        w.field("Words (inbound text)", event["inbound_text"])
        w.field("Reason", event["reason"])
        w.field("Consent note", event["consent_note"])
        w.field("Who", event["actor"])
        if event.get("channel_id") is not None:
            w.field("Channel", f"{event.get('channel') or '(deleted)'} (id {event['channel_id']})")
        w.field("Occurred", event["occurred_at"])
        w.field("Recorded", event["recorded_at"])
        w.field("Correlation id", event["correlation_id"])
        if event.get("evidence_strength_label"):
            w.field("Opt-in evidence", event["evidence_strength_label"])
        for key, value in (event.get("evidence") or {}).items():
            w.field(f"  {key}", value, mono=key.endswith("hash"))
        w.field("Message received", _message_line(event.get("inbound_message"), "inbound"))
        w.field("Confirmation sent", _message_line(event.get("confirmation"), "reply"))
        if event.get("detail") is not None:
            w.field("Detail (as hashed)", _canonical(event["detail"]), mono=True)
        w.field("Hash", event["hash"], mono=True)
        w.field("Previous hash", event["prev_hash"], mono=True)
        checks = event["checks"]
        w.field(
            "Checks",
            f"content matches hash: {_yes(checks['hash'])}; linked to the previous event: "
            f"{_yes(checks['linked_to_previous'])}; linked to the next event: "
            f"{_yes(checks['linked_to_next'])}",
        )
        cp = event.get("checkpoint")
        if cp:
            w.field(
                "Signed checkpoint",
                f"{cp['created_at']}: chain head #{cp['seq']} {cp['hash'][:16]}..., "
                f"signature valid: {_yes(cp['signature_valid'])}",
            )
        else:
            w.field("Signed checkpoint", "none yet covers this event (the next daily one will)")

    w.heading(f"Messages with this number ({len(packet['messages'])})")
    if not packet["messages"]:
        w.text("No message was exchanged with this number.")
    for message in packet["messages"]:
        arrow = "received from" if message["direction"] == "in" else "sent to"
        when = message["handed_at"] or message["created_at"]
        line = (
            f"{when}  {arrow} {number}  [{message['kind']}, {message['status']}"
            + (f", refused: {message['refusal_code']}" if message.get("refusal_code") else "")
            + f"]  \u201c{message['body']}\u201d"
        )
        w.text(line, size=8.5)
        if message.get("while_opted_out"):
            w.text(f"    sent while opted out; allowed because: {message['why_allowed']}", size=8.5)

    requests = packet.get("join_requests") or []
    if requests:
        w.heading(f"Double opt-in requests ({len(requests)})")
        for item in requests:
            answered = f", answered {item['answered_at']}" if item.get("answered_at") else ""
            w.subheading(
                f"{item['status']}: list {item['list_id']} via {item['via']}, "
                f"requested {item['requested_at']}{answered}"
            )
            w.field("Request texted", item["request_text"])
            w.field("Expires", item["expires_at"])
            if item.get("event_seq"):
                w.field("Recorded as event", f"#{item['event_seq']}")
            for key, value in (item.get("evidence") or {}).items():
                w.field(f"  {key}", value, mono=key.endswith("hash"))

    w.heading("Verification")
    w.field("Result", "VERIFIED" if verification["verified"] else "NOT VERIFIED")
    w.field(
        "This number's events", "verified" if verification["events_verified"] else "NOT verified"
    )
    w.field("State matches events", _yes(verification["state_matches_events"]))
    if verification.get("chain_checked"):
        w.field(
            "Whole chain",
            f"{'verifies' if verification['chain_ok'] else 'BROKEN'} "
            f"({verification['chain_events']} events, head #{verification['head']['seq']})",
        )
    else:
        w.field(
            "Whole chain",
            f"not recomputed for this packet (head #{verification['head']['seq']}); each event "
            "above was re-hashed and checked against its neighbours. `stopline evidence` "
            "recomputes the whole chain.",
        )
    w.field("Head hash", verification["head"]["hash"], mono=True)
    for problem in verification["problems"]:
        w.field(f"Problem at #{problem['seq']}", f"{problem['kind']}: {problem['detail']}")

    w.heading("Signed checkpoints covering these events")
    if not packet["checkpoints"]:
        w.text(
            "None yet: the worker writes one a day; `stopline ledger checkpoint` writes one now."
        )
    for document in packet["checkpoints"]:
        w.subheading(f"Checkpoint of {document['created_at']}: head #{document['seq']}")
        for key in (
            "format",
            "workspace_id",
            "seq",
            "hash",
            "head_recorded_at",
            "created_at",
            "key_id",
            "public_key",
            "signature",
        ):
            w.field(key, document.get(key), mono=key in ("hash", "public_key", "signature"))

    w.heading("How to re-verify this packet independently")
    for step in packet["how_to_verify"]["steps"]:
        w.text(step)
        w.pdf.ln(1)
    w.subheading("Event hash")
    w.text(packet["how_to_verify"]["hash_formula"], size=9)
    w.subheading("Checkpoint signature")
    w.text(packet["how_to_verify"]["checkpoint_formula"], size=9)
    key = packet["public_key"]
    w.field("Public key (Ed25519)", key["public_key"], mono=True)
    w.field("Key id", key["key_id"], mono=True)
    w.text(key["pem"], size=8, mono=True)
    return w.output()
