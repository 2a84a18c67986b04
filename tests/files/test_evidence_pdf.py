"""The evidence PDF's text: nothing a person wrote silently disappears from it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stopline.files.evidence_pdf import _printable, clean


def test_characters_the_font_lacks_print_as_their_code_points():
    assert clean("停止 STOP 🛑") == "[U+505C][U+6B62] STOP [U+1F6D1]"
    assert clean("arrêt ✓ شكرا") == "arrêt ✓ شكرا"  # DejaVu has these
    assert clean("a\x00b") == "a\ufffdb" and clean(None) == ""


@given(st.text(max_size=40))
def test_every_character_is_printed_or_named(text):
    """Each character of any text is either one the font prints or named by its code point,
    so the printed packet says what was received (the JSON packet holds the text itself)."""
    shown = clean(text)
    has = _printable("DejaVuSans.ttf")
    for c in text:
        if ord(c) not in has and c not in "\n\t" and not (ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F):
            assert f"[U+{ord(c):04X}]" in shown
    assert all(ord(c) in has or c in "\n\t" for c in shown)
