""""No option marked" in a choice row found by its words (issue 19): sure only when the band round
the row holds nothing but print and the row's check boxes.  And two places the two_columns
family taught (a tuning family): the code in a frame right of its
label on a page that prints its values under their labels, 姓 and 名 in the halves of one frame."""

from __future__ import annotations

import cv2
import numpy as np

from bot.forms import scanned
from bot.forms.choice_rows import Residue, band_clean, completed, goes_round, uncut_left
from bot.forms.words import Band
from tests.fixtures.scans.corpus import make, plan_families
from tests.support.app import UNHURRIED

H = 24  # the option words' height (page pixels)
OLD_SIX = ("ruled", "header_digits", "sections_dotted", "two_columns", "ver3_order", "label_below")
BOXES = [(100, 100, 124, 124), (400, 100, 424, 124)]  # two printed □ (page pixels)


def _residue(draw=None) -> Residue:
    """A band (80..400 px wide 60..168) over a row of two options: what is left once the print
    is taken away is the two boxes' outlines, plus whatever ``draw`` adds."""
    ink = np.zeros((108, 500), np.uint8)  # band rows 60..168, columns 0..500
    for x0, y0, x1, y1 in BOXES:
        cv2.rectangle(ink, (x0, y0 - 60), (x1, y1 - 60), 1, 2)
    if draw is not None:
        draw(ink)
    return Residue((0, 60, 500, 168), ink.astype(bool), float(H), (Band(130, 380, 100, 124),))


def test_a_row_with_nothing_but_its_boxes_is_clean() -> None:
    assert band_clean(_residue(), BOXES)


def test_a_tick_that_only_grazes_its_box_is_ink_in_the_band() -> None:
    """Seed 9393, form 15 (two_columns): a tick under and right of フレッツ光ネクスト's box read
    as none, sure: a false 差戻 (LINE_KIND_MISSING) with every mark trusted."""
    def tick(ink: np.ndarray) -> None:
        cv2.line(ink, (96, 58), (110, 74), 1, 3)  # from the box's lower left, down ...
        cv2.line(ink, (110, 74), (140, 30), 1, 3)  # ... and up past its right side
    assert not band_clean(_residue(tick), BOXES)


def test_a_circle_reaching_past_the_row_is_ink_in_the_band() -> None:
    def circle(ink: np.ndarray) -> None:
        cv2.ellipse(ink, (270, 52), (150, 34), 0, 0, 360, 1, 2)  # round the second word's row
    assert not band_clean(_residue(circle), BOXES)


def test_specks_and_a_rules_end_are_no_mark() -> None:
    def noise(ink: np.ndarray) -> None:
        ink[10:13, 300:303] = 1  # a speck
        ink[90:93, 0:60] = 1  # the end of a ruling line running out of the band
    assert band_clean(_residue(noise), BOXES)
    assert not band_clean(None, BOXES) and not band_clean(_residue(), [])


def test_a_grazing_tick_on_a_page_found_by_its_words_goes_to_a_person() -> None:
    """The page itself (seed 9393, form 15: two_columns, 300 dpi colour, JPEG 47, ticks)."""
    spec = plan_families(120, 9393, OLD_SIX)[15]
    assert spec.family == "two_columns"
    pdf, truth = make(spec, password=None)
    assert truth["fields"]["line_kind"] == "hikari_next"
    result = scanned.read_scan(pdf, UNHURRIED)
    got = {r.name: r for r in result.readings}
    assert not got["line_kind"].sure, got["line_kind"]
    assert "line_kind" in result.unsure
    # the row below it holds nothing but print: its "none marked" is sure (フレッツ光ネクスト)
    assert got["check_method"].sure and got["check_method"].value == truth["fields"]["check_method"]


def test_plus_not_chosen_is_read_where_its_band_is_clean() -> None:
    """Plus left unmarked (a correct form): held for a person before this change on every
    family found by its words; read as "no Plus" once its band holds only print."""
    picked = []
    for i, spec in enumerate(plan_families(60, 777, OLD_SIX)):
        if i in (21, 43):
            picked.append(spec)
    for spec in picked:
        pdf, truth = make(spec, password=None)
        assert truth["fields"]["plus"] is False
        result = scanned.read_scan(pdf, UNHURRIED)
        got = {r.name: r for r in result.readings}
        assert got["plus"].sure and got["plus"].value == "false", (spec.family, got["plus"], result.notes)


def test_the_code_in_a_frame_right_of_its_label_and_the_contact_in_two_halves() -> None:
    """Seed 777, form 21 (two_columns, typed, 300 dpi): values under their captions, but the
    UNIS顧客コード in a rectangle right of its label (its place below had no room: held), and
    ご担当者名's frame parted by a thin upright into 姓 | 名 (read as one place: held)."""
    spec = plan_families(60, 777, OLD_SIX)[21]
    assert spec.family == "two_columns"
    pdf, truth = make(spec, password=None)
    result = scanned.read_scan(pdf, UNHURRIED)
    got = {r.name: r for r in result.readings}
    assert got["customer_code"].sure and got["customer_code"].value == truth["fields"]["customer_code"]
    for name in ("contact_last", "contact_first"):
        assert got[name].sure and got[name].state == "filled", (name, got[name])
    assert got["contact_last"].box[1] < got["contact_first"].box[1]  # 姓 on the left, 名 on the right


def test_a_mark_round_an_option_must_go_round_it() -> None:
    """One option marked by ink round it (its box clean) is that option's only when the ink
    passes over and under it: the arc of the row above's circle dips into a tight row from one
    side (seed 9696, ver3_order at 86 %: ファミリー read marked from フレッツ光ネクスト's circle)."""
    word = (134, 100, 300, 124)

    def own(ink: np.ndarray) -> None:
        cv2.ellipse(ink, (215, 52), (110, 30), 0, 0, 360, 1, 2)  # round □ and its word

    def dipping(ink: np.ndarray) -> None:
        cv2.ellipse(ink, (215, 0), (150, 34), 0, 0, 180, 1, 2)  # the lower arc of a circle above

    assert goes_round(_residue(own), BOXES[0], word)
    assert not goes_round(_residue(dipping), BOXES[0], word)
    assert not goes_round(_residue(), BOXES[0], word) and not goes_round(None, BOXES[0], word)


def test_a_phone_label_no_block_claims_leaves_both_phones_to_a_person() -> None:
    """A 電話番号 printed before its block's name is claimed by no block (unless it stands on
    its block's フリガナ line), and the other block's 電話番号 may then be named the contractor's:
    both phones are untrusted."""
    from bot.forms.places import _unplaced_twins, name_fields
    from bot.forms.words import Found

    def f(key: str, y: int, x: int = 100) -> Found:
        return Found(key, key, (x, y, x + 96, y + H), 1.0, H)

    ordered = [f("name", 100), f("phone", 160), f("shop_name", 300), f("phone", 360)]
    assert _unplaced_twins(ordered, name_fields(ordered)) == set()
    # on the フリガナ lines, each 電話番号 is its block's (tests/test_scan_wrapped.py) …
    before = [f("kana", 100), f("phone", 100, 600), f("name", 160), f("kana", 300), f("phone", 300, 600),
              f("shop_name", 360)]
    named = name_fields(before)
    assert named["contractor_phone"] is before[1] and named["shop_phone"] is before[4]
    assert _unplaced_twins(before, named) == set()
    # … but with no フリガナ read beside them, the first is no block's: both phones to a person
    bare = [f for f in before if f.key != "kana"]
    assert _unplaced_twins(bare, name_fields(bare)) == {"contractor_phone", "shop_phone"}


SEVEN = ("ruled", "header_digits", "sections_dotted", "two_columns", "ver3_order", "label_below", "shaded_grid")


def test_a_box_placed_by_its_word_where_a_mark_broke_its_outline() -> None:
    """Two options; the second one's box is filled in with a pen (its outline no ring any more):
    placed where the first stands before its word, it is a box only if two of its sides show."""
    side = 24
    ink = np.zeros((40, 400), bool)
    ink[6:30, 20:22] = ink[6:30, 42:44] = ink[6:8, 20:44] = ink[28:30, 20:44] = True  # □ of the first
    first, second = (100, 500, 200, 524), (260, 500, 340, 524)  # the words (page pixels)
    origin = (40, 494)
    cands = [(1.05, (20, 6, 44, 30))]
    assert completed(cands, side, (first, second), origin, ink) is None  # paper there: no box
    ink[6:30, 180:204] = True  # the second box, filled over
    boxes, k = completed(cands, side, (first, second), origin, ink)
    assert k == 1 and boxes[1] == (180, 6, 204, 30)  # as far before its word as the first
    assert completed(cands, side, (first, None), origin, ink) is None  # its word unread: nowhere to place it


def test_a_row_that_begins_inside_its_first_box_is_moved_onto_paper() -> None:
    ink = np.zeros((40, 300), bool)
    ink[6:30, 96:98] = ink[6:30, 118:120] = ink[6:8, 96:120] = ink[28:30, 96:120] = True
    assert uncut_left((104, 0, 280, 40), ink, 20) == (95, 0, 280, 40)
    assert uncut_left((90, 0, 280, 40), ink, 20) == (90, 0, 280, 40)  # on paper already
    ink[:, 60:100] = True
    assert uncut_left((104, 0, 280, 40), ink, 20) == (104, 0, 280, 40)  # no paper near: left as it was


def test_marks_of_tight_rows_and_broken_boxes_are_read() -> None:
    """Seed 9797 (seven families): form 2 (sections_dotted, b&w 200 dpi, a tick through Bフレッツ's
    box) had both boxes of its tight 回線種別 row lost (no paper margin inside the row); form 17
    (two_columns, a pen's fill on Bフレッツ) had its row begin inside フレッツ光ネクスト's box."""
    plan = plan_families(70, 9797, SEVEN)
    for i in (2, 17):
        pdf, truth = make(plan[i], password=None)
        result = scanned.read_scan(pdf, UNHURRIED)
        got = {r.name: r for r in result.readings}
        assert got["line_kind"].sure and got["line_kind"].value == truth["fields"]["line_kind"], (i, result.notes)


def test_none_marked_needs_spotless_boxes_as_well_as_a_clean_band() -> None:
    """Seed 10303 form 38 (two_columns, 150 dpi grey, a tick under フレッツ光ネクスト's box whose
    stroke runs up into the question's label): its band read clean (the stroke's pieces lie in
    print), its halo 0.077 was clean by the judge's margin, and the form was sent back for
    LINE_KIND_MISSING.  "None marked" now needs every box and its surroundings spotless."""
    pdf, truth = make(plan_families(70, 10303, SEVEN)[38], password=None)
    assert truth["fields"]["line_kind"] == "hikari_next"
    result = scanned.read_scan(pdf, UNHURRIED)
    got = {r.name: r for r in result.readings}
    assert not got["line_kind"].sure and "line_kind" in result.unsure
