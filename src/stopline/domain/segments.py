"""How many SMS segments a body costs: GSM-7 when every character has a GSM 03.38 code, else UCS-2.

Source: 3GPP TS 23.038 (the GSM 7-bit default alphabet and its extension table) and TS 23.040
(concatenated SMS: a 6-byte header leaves 153 septets or 67 UCS-2 units per part). Carriers
and providers (Twilio's "Segment calculator") count the same way: one message holds 160 GSM-7
characters or 70 UCS-2 units; a longer one is sent as parts of 153 or 67. An extension
character (``€ [ ] { } \\ ^ ~ |`` and form feed) takes two septets (escape + code), and is never
split across parts; in UCS-2 a character beyond the BMP (most emoji) takes two units, kept in
one part too.
"""

from __future__ import annotations

from dataclasses import dataclass

GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = "\f^{}\\[~]|€"
_BASIC = frozenset(GSM7_BASIC)
_EXTENSION = frozenset(GSM7_EXTENSION)

SINGLE = {"GSM-7": 160, "UCS-2": 70}
PART = {"GSM-7": 153, "UCS-2": 67}


@dataclass(frozen=True)
class SegmentCount:
    encoding: str  # "GSM-7" | "UCS-2"
    characters: int  # as a person counts them
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    per_segment: int  # capacity of each part at this length
    remaining: int  # units left in the last part before another is needed
    non_gsm: tuple[str, ...]  # the characters that forced UCS-2, first few, in order

    def as_dict(self) -> dict[str, object]:
        return {
            "encoding": self.encoding,
            "characters": self.characters,
            "units": self.units,
            "segments": self.segments,
            "per_segment": self.per_segment,
            "remaining": self.remaining,
            "non_gsm": list(self.non_gsm),
        }


def _unit_sizes(body: str, encoding: str) -> list[int]:
    if encoding == "GSM-7":
        return [2 if ch in _EXTENSION else 1 for ch in body]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in body]


def count_segments(body: str) -> SegmentCount:
    """The encoding, length in units and number of parts `body` is sent as."""
    odd: list[str] = []
    for ch in body:
        if ch not in _BASIC and ch not in _EXTENSION and ch not in odd:
            odd.append(ch)
    encoding = "UCS-2" if odd else "GSM-7"
    sizes = _unit_sizes(body, encoding)
    units = sum(sizes)
    single, part = SINGLE[encoding], PART[encoding]
    if units == 0:
        return SegmentCount(encoding, 0, 0, 0, single, single, ())
    if units <= single:
        return SegmentCount(encoding, len(body), units, 1, single, single - units, tuple(odd[:5]))
    # Fill parts greedily; a two-unit character that does not fit starts the next part.
    segments, used = 1, 0
    for size in sizes:
        if used + size > part:
            segments += 1
            used = 0
        used += size
    return SegmentCount(encoding, len(body), units, segments, part, part - used, tuple(odd[:5]))
