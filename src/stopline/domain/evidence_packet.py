"""What an evidence packet says about a number, worked out from its events and messages.

Pure rules: which inbound text caused each event and which confirmation answered it (with both
timestamps), which outbound messages were handed over while an opt-out covered them and why
that was allowed, and the text that tells a third party how to re-verify everything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from stopline.domain.consent import EMPTY, HASHED_FIELDS, ConsentEvent, apply, utc

FORMAT = "stopline-evidence-packet/1"

HASH_FORMULA = (
    "hash = SHA-256( prev_hash + JSON([" + ", ".join(HASHED_FIELDS) + "]) ), hex. "
    "The JSON is a list of those fields in that order, timestamps as "
    "YYYY-MM-DDTHH:MM:SS.ffffffZ (UTC), absent values null, objects with sorted keys, "
    'separators "," and ":" with no spaces, non-ASCII characters as themselves (UTF-8). '
    "The first event's prev_hash is 64 zeros; each later event's prev_hash is the hash of the "
    "event before it in the workspace's chain."
)

CHECKPOINT_FORMULA = (
    "A checkpoint is signed with Ed25519: signature = Sign(key, JSON of the checkpoint without "
    'its "signature" field, keys sorted, separators "," and ":", UTF-8). Verify it with the '
    "deployment's public key below (base64 of the raw 32-byte key), e.g. with Python's "
    "cryptography: Ed25519PublicKey.from_public_bytes(b64decode(public_key))"
    ".verify(b64decode(signature), canonical_json)."
)

HOW_TO_VERIFY = (
    "1. For each event, recompute its hash from the fields printed in this packet with the "
    "formula below and compare it with the printed hash. The PDF prints texts as its font "
    "allows (a symbol the font lacks is left out); the same packet as JSON (`stopline evidence "
    "NUMBER --out packet.json`, or evidence.json) holds every field byte for byte.",
    "2. Check that each event's prev_hash is the hash of the event before it in the "
    "workspace's chain (the previous event of this number, when they are neighbours; the "
    "operator can hand over the events in between without their numbers being needed to "
    "check the links).",
    "3. Check the checkpoint's signature with the public key, and that its seq is at or after "
    "the event's: a signed checkpoint kept outside this system shows the chain up to that "
    "point existed at the checkpoint's time and has not been rewritten since.",
    "4. Compare the public key with the one the business published or handed over "
    "independently (`stopline ledger public-key`); `stopline ledger verify --checkpoint FILE` "
    "re-checks the live ledger against a checkpoint file.",
)


def _when(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return utc(value)


def state_at(events: Sequence[ConsentEvent], moment: datetime) -> Any:
    """The number's consent as recorded up to `moment` (events folded by recording time)."""
    state = EMPTY
    for event in events:
        if event.recorded_at <= moment:
            state = apply(state, event)
    return state


def why_allowed(message: Mapping[str, Any]) -> str:
    if message.get("kind") == "confirmation":
        return (
            "a confirmation of the recipient's own request (the only kind of message that "
            "passes an opt-out)"
        )
    return "NOT EXPLAINED: an ordinary message handed over while opted out"


def annotate_messages(
    events: Sequence[ConsentEvent], messages: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Each message with `while_opted_out` (an opt-out covered it when it was handed to the
    provider) and, if so, `why_allowed`."""
    out = []
    for message in messages:
        item = dict(message)
        handed = _when(message.get("handed_at"))
        covered = None
        if message.get("direction") == "out" and handed is not None:
            state = state_at(events, handed)
            covered = state.opted_out_for(message.get("channel_id"), message.get("channel_type"))
        item["while_opted_out"] = covered is not None
        item["why_allowed"] = why_allowed(message) if covered is not None else None
        out.append(item)
    return out


def link_events(
    events: Sequence[ConsentEvent], messages: Sequence[Mapping[str, Any]]
) -> dict[int, dict[str, Any]]:
    """For each event caused by an inbound text: that message, and the confirmation that
    answered it (the first confirmation queued from then on that no earlier event took)."""
    inbound = {
        m["provider_message_id"]: m
        for m in messages
        if m.get("direction") == "in" and m.get("provider_message_id")
    }
    confirmations = [
        m for m in messages if m.get("direction") == "out" and m.get("kind") == "confirmation"
    ]
    taken: set[Any] = set()
    links: dict[int, dict[str, Any]] = {}
    for event in events:
        received = inbound.get(event.correlation_id) if event.correlation_id else None
        if received is None:
            continue
        start = _when(received.get("created_at")) or event.occurred_at
        answer = next(
            (
                m
                for m in confirmations
                if m["id"] not in taken and (_when(m.get("created_at")) or start) >= start
            ),
            None,
        )
        if answer is not None:
            taken.add(answer["id"])
        links[event.seq] = {"inbound": received, "confirmation": answer}
    return links
