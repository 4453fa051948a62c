"""Where values stand on a page read by its words (issue 19, bot/forms/places.py): the side of
the values voted by the labels, and the code's label read poorly.  Geometry in page pixels."""

from __future__ import annotations

import numpy as np

from bot.forms import places
from bot.forms.words import Char, Found, Line

H = 24


def _label(key: str, x: int, y: int, text: str = "ラベル") -> Found:
    return Found(key, text, (x, y, x + 4 * H, y + H), 1.0, H)


def _column(gap_rows: tuple[int, int]) -> tuple[list[Found], np.ndarray]:
    """Four labels one under the other, 3 lines apart, each with writing at ``gap_rows`` (rows
    after the label's bottom) under it."""
    ink = np.zeros((1000, 800), bool)
    labels = []
    for i, key in enumerate(("shop_name", "contractor_name", "ssid", "mail_local")):
        y = 100 + i * 4 * H
        labels.append(_label(key, 100, y))
        a, b = gap_rows
        ink[y + H + a: y + H + b, 110: 300] = True
    return labels, ink


def test_writing_right_under_each_label_votes_below() -> None:
    labels, ink = _column((4, 20))
    assert places.value_side(labels, ink) == (places.BELOW, 1.0)


def test_writing_half_way_between_two_labels_says_nothing_of_its_side() -> None:
    """sections_dotted, seed 7171: values written on a dotted line half way down to the next label
    voted ABOVE as often as BELOW, and every field of the page went to a person."""
    labels, ink = _column((int(1.4 * H), int(1.6 * H)))  # the middle of the 3-line gap
    side, share = places.value_side(labels, ink)
    assert share == 0.0


def _line(text: str, x0: int, y: int = 300, w: int = 14) -> Line:
    return Line(tuple(Char(c, (x0 + i * w, y, x0 + (i + 1) * w - 2, y + H), 0.95) for i, c in enumerate(text)))


def test_a_poorly_read_code_label_counts_with_nine_digits_beside_it() -> None:
    lab = Found("customer_code", "応害cd", (100, 300, 100 + 4 * H, 300 + H), 0.5, H)
    right = lab.box[2] + H
    assert places._nine_digits_beside(lab, [_line("123456789", right)])
    assert not places._nine_digits_beside(lab, [_line("12345678", right)])  # not a code
    assert not places._nine_digits_beside(lab, [_line("0312345678", right)])  # a phone number
    assert not places._nine_digits_beside(lab, [_line("123456789", right + 12 * H)])  # far away
    assert not places._nine_digits_beside(lab, [_line("123456789", right, y=300 + 3 * H)])  # another line


def test_a_code_typed_in_a_plain_rectangle_is_read_as_print() -> None:
    """The code in a rectangle shorter than its place (no side crosses the whole of it): the
    rectangle's sides, left after its edges went with the ruling lines, made the digits look
    handwritten (an unsure code: the form went to a person)."""
    from bot.forms import scanned
    from tests.fixtures.scans.layout import font
    from tests.support.app import UNHURRIED
    from tests.test_scan_layout_free import _no_rules, _page

    def draw(d) -> None:  # noqa: ANN001
        _no_rules(d)
        d.rectangle((540, 200, 1600, 260), fill=255)  # the code typed without a frame, taken away
        d.rectangle((560, 196, 900, 256), outline=0, width=3)
        d.text((580, 204), "123456789", font=font(34), fill=0)

    result = scanned.read_scan(_page(draw), UNHURRIED)
    code = {r.name: r for r in result.readings}["customer_code"]
    assert (code.state, code.value, code.sure, code.hand) == ("read", "123456789", True, False), result.notes


def test_a_frames_side_is_no_writing_and_a_digit_one_is() -> None:
    """An empty frame's left side inside a place was read as a handwritten mail address (seed
    9292, label_below, 150 dpi bilevel): uprights whose both ends meet a ruling line (the frame's
    edges) go with the rules; a 1 standing free does not."""
    from bot.forms import frames

    ink = np.zeros((100, 600), bool)
    rules = np.zeros_like(ink)
    rules[20:22, 10:590] = rules[78:80, 10:590] = True  # the frame's top and bottom edges
    ink[22:78, 12:15] = True  # its left side, between them
    ink[35:65, 300:303] = True  # a digit 1 written inside
    frames.rectangle_away((0, 0, 600, 100), ink, rules, H)
    assert rules[30:70, 12:15].all()
    assert not rules[35:65, 300:303].any()
