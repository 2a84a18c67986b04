"""SMS segments: GSM-7 vs UCS-2, 160/70 in one message, 153/67 per part, escapes kept whole."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stopline.domain.segments import GSM7_BASIC, GSM7_EXTENSION, count_segments

gsm_text = st.text(alphabet=st.sampled_from(GSM7_BASIC + GSM7_EXTENSION), max_size=1600)
any_text = st.text(max_size=1600)


def test_160_plain_characters_fit_one_message_and_161_need_two_parts():
    assert count_segments("a" * 160).segments == 1
    two = count_segments("a" * 161)
    assert (two.encoding, two.segments, two.per_segment) == ("GSM-7", 2, 153)
    assert count_segments("a" * 306).segments == 2
    assert count_segments("a" * 307).segments == 3


def test_one_emoji_turns_the_message_into_ucs2_with_70_per_message():
    text = "Closed Dec 24-26 🎄"
    counted = count_segments(text)
    assert counted.encoding == "UCS-2" and counted.non_gsm == ("🎄",)
    assert counted.units == len(text) + 1  # the emoji is two UTF-16 units
    assert count_segments("é" * 70).encoding == "GSM-7"  # é is in the GSM alphabet
    assert count_segments("ç" * 70).segments == 1
    assert count_segments("ç" * 71).segments == 2


def test_extension_characters_count_twice_and_are_never_split():
    assert count_segments("€" * 80).segments == 1
    assert count_segments("€" * 81).segments == 2
    # 152 plain + one escape pair = 154 septets: over one part of 153, so the pair starts part 2.
    counted = count_segments("x" * 152 + "€" + "y" * 160)
    assert counted.units == 152 + 2 + 160
    assert counted.segments == 3


def test_empty_text_costs_nothing():
    counted = count_segments("")
    assert counted.segments == 0 and counted.characters == 0


@given(gsm_text)
def test_gsm_text_stays_gsm_and_its_parts_hold_every_septet(text):
    counted = count_segments(text)
    assert counted.encoding == "GSM-7"
    assert counted.units == len(text) + sum(ch in GSM7_EXTENSION for ch in text)
    if counted.units <= 160:
        assert counted.segments == (1 if text else 0)
    else:
        # enough parts for every septet; a part loses at most one septet to an escape kept whole
        assert counted.segments * 153 >= counted.units
        assert counted.segments <= -(-counted.units // 152)


@given(any_text, any_text)
def test_a_longer_text_never_costs_fewer_segments(a, b):
    assert count_segments(a + b).segments >= count_segments(a).segments


@given(any_text)
def test_remaining_is_what_the_last_part_can_still_hold(text):
    counted = count_segments(text)
    assert 0 <= counted.remaining <= counted.per_segment
    if counted.segments == 1:
        assert counted.remaining == counted.per_segment - counted.units
