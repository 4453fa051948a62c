"""Choice rows found by their printed words (issue 19): where a row may reach, which check box
is whose, and the 台数 place with its two frames.  Each case is one that gave a sure and wrong
reading (or no reading) on the tuning corpus; the geometry here is the page's, in pixels."""

from __future__ import annotations

import numpy as np
import pytest

from bot.forms import scanned
from bot.forms.choice_rows import boxes_fit_words, choice_rows, shared_boxes
from bot.forms.words import Band, Char, Found, _box_read_in
from tests.fixtures.scans.corpus import make, plan_families
from tests.support.app import UNHURRIED

H = 24  # the print's height


def _opt(key: str, x0: int, x1: int, y: int = 1000, lead: int = 0) -> Found:
    return Found(f"option:{key}", key, (x0, y, x1, y + H), 1.0, H, lead)


def test_a_row_whose_last_word_is_unread_ends_before_print_the_vocabulary_does_not_know() -> None:
    """Seed 7171: Bフレッツ circled (unread) and ファミリー read as garbage (モジアァドリー).  The
    row of ご利用回線種別 reached as far as the next word it knew (マンション) and took
    ファミリー's box for Bフレッツ's: an unmarked box for a circled option, a false 差戻."""
    found = [_opt("line_kind.hikari_next", 240, 480), _opt("line_type.mansion", 1255, 1390)]
    garbage = Band(1016, 1180, 1000, 1000 + H)  # ファミリー (its □ read as モ), not in the vocabulary
    rows = {f: box for f, box, _ in choice_rows(found, [garbage], np.zeros((2000, 1700), bool))}
    assert rows["line_kind"] is not None
    assert rows["line_kind"][2] < garbage.x0 - 2 * H  # ファミリー's □ is not in it
    # without that print the row reaches on (the check above can fail)
    free = {f: box for f, box, _ in choice_rows(found, [], np.zeros((2000, 1700), bool))}
    assert free["line_kind"] is not None and free["line_kind"][2] > garbage.x0 + H


def test_a_box_judged_for_two_choices_is_sure_for_neither() -> None:
    boxes = {"line_kind": [(210, 1004, 231, 1025), (1017, 1004, 1038, 1025)],
             "line_type": [(1017, 1006, 1038, 1027), (1228, 1006, 1249, 1027)],
             "check_method": [(210, 1080, 231, 1101), (470, 1080, 491, 1101), (700, 1080, 721, 1101)]}
    assert shared_boxes(boxes) == {"line_kind", "line_type"}
    assert shared_boxes({k: v for k, v in boxes.items() if k != "line_type"}) == set()


def _chars(spec: list[tuple[str, int, int]]) -> list[Char]:
    return [Char(t, (x0, 1000, x1, 1000 + H), 0.9) for t, x0, x1 in spec]


def test_a_check_box_read_into_the_first_character_of_its_word() -> None:
    """□開通通知書 read as a wide 開: the word's letters begin after the box (``lead``); a
    character box spanning the whole word (Tesseract's フ of フレッツ光ネクスト) is no sign of it,
    nor is a half-width first letter, whose width says nothing of where it begins."""
    merged = _chars([("開", 171, 230), ("通", 232, 258), ("通", 260, 286), ("知", 288, 314), ("書", 316, 342)])
    assert 25 <= _box_read_in(merged) <= 40
    spanning = _chars([("フ", 210, 469), ("レ", 245, 268), ("ッ", 267, 293), ("ツ", 292, 332)])
    assert _box_read_in(spanning) == 0
    half = _chars([("b", 171, 230), ("フ", 232, 258), ("レ", 260, 286), ("ッ", 288, 314)])
    assert _box_read_in(half) == 0
    plain = _chars([("開", 200, 228), ("通", 230, 258), ("通", 260, 286)])
    assert _box_read_in(plain) == 0


@pytest.mark.parametrize(("box", "fit"), [
    ((172, 4, 196, 28), True),  # the □ itself, where the wide 開 begins
    ((184, 4, 208, 28), False),  # a ring of the □'s right side and 開's stem
])
def test_a_box_read_into_its_word_must_be_where_that_word_begins(box, fit) -> None:  # noqa: ANN001
    word = (201, 1000, 342, 1024)  # 開通通知書 from its letter on (lead 30: 171 + 30)
    others = [(440, 1000, 560, 1024), (715, 1000, 848, 1024)]
    boxes = [box, (390, 4, 414, 28), (680, 4, 704, 28)]
    assert boxes_fit_words(boxes, [word, *others], (0, 996), leads=(30, 0, 0)) is fit


def test_units_in_two_frames_above_their_label_are_read() -> None:
    """Seed 7171, form 4 (label_below, handwritten, 150–300 dpi): 親機 [3] 台 子機 [2] 台 over
    「台数」.  The place was cut at the first frame's side (only 親機 was left in it), and the
    counts were never found."""
    spec = plan_families(120, 7171, ("ruled", "header_digits", "sections_dotted", "ver3_order", "label_below"))[4]
    assert spec.family == "label_below"
    pdf, truth = make(spec, password=None)
    result = scanned.read_scan(pdf, UNHURRIED)
    got = {r.name: r for r in result.readings}
    for name in ("parent_units", "child_units"):
        assert got[name].sure, (name, got[name], result.notes)
        assert got[name].value == str(truth["fields"][name])

