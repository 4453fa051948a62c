"""Scans read by their words (issue 19), the round that studied print_shop (held out until an
eleventh family came, a tuning family since): a printer's form whose options are a typed ○ to
fill in or tick, no □, each option in a cell of its own.
"""

from __future__ import annotations

import cv2
import numpy as np

from bot.forms import check_boxes, marks
from bot.forms.choice_lines import choice_rows
from bot.forms.choice_marks import _evidence
from bot.forms.words import Band, Found
from tests.fixtures.scans.corpus import make, plan_families
from tests.support.app import UNHURRIED

SIDE = 25  # a ○ of 9 pt at 200 dpi


def _ring_row(centres: tuple[int, ...] = (30, 230), width: int = 420) -> np.ndarray:
    """A row's ink (row pixels, 44 tall): a printed ○ at each of ``centres`` and its option's word
    (six characters) right after it."""
    img = np.zeros((44, width), np.uint8)
    for cx in centres:
        cv2.circle(img, (cx, 22), SIDE // 2, 1, 2)
        for x in range(cx + SIDE // 2 + 8, cx + SIDE // 2 + 8 + 6 * 20, 20):
            img[14:30, x:x + 14] = 1
    return img.astype(bool)


def _square_row(width: int = 420) -> np.ndarray:
    ink = np.zeros((44, width), bool)
    for x0 in (18, 218):
        ink[10:12, x0:x0 + SIDE] = ink[10 + SIDE - 2:10 + SIDE, x0:x0 + SIDE] = True
        ink[10:10 + SIDE, x0:x0 + 2] = ink[10:10 + SIDE, x0 + SIDE - 2:x0 + SIDE] = True
        for x in range(x0 + SIDE + 8, x0 + SIDE + 8 + 6 * 20, 20):
            ink[14:30, x:x + 14] = True
    return ink


def _strong(cands: list) -> list[tuple[int, int, int, int]]:
    """The candidates a row may take (check_boxes._pick: score ≥ 1), one per place."""
    out: list[tuple[int, int, int, int]] = []
    for sc, b in cands:
        if sc >= 1.0 and all(b[2] <= o[0] or b[0] >= o[2] for o in out):
            out.append(b)
    return sorted(out)


def test_printed_rings_are_found_as_round_targets_and_squares_as_square_ones() -> None:
    """A ○ is found by the round template, not the square one; a □ the other way round (a
    form prints one or the other, and the reader tries them apart)."""
    rings = _ring_row()
    found = _strong(check_boxes.find_boxes(rings, 22, round_=True))
    assert len(found) == 2 and all(abs((b[0] + b[2]) / 2 - cx) <= 2 for b, cx in zip(found, (30, 230), strict=True))
    assert _strong(check_boxes.find_boxes(rings, 22)) == []
    squares = _square_row()
    assert len(_strong(check_boxes.find_boxes(squares, 22))) == 2
    assert _strong(check_boxes.find_boxes(squares, 22, round_=True)) == []


def test_a_ring_is_told_from_a_box_by_its_corners() -> None:
    rings, squares = _ring_row(), _square_row()
    assert marks.is_round(rings, (18, 10, 18 + SIDE, 10 + SIDE))
    assert not marks.is_round(squares, (18, 10, 18 + SIDE, 10 + SIDE))


def test_a_tick_in_a_ring_is_a_mark_and_an_empty_ring_is_clean() -> None:
    """Inside a ○ is its disc: its ring, which reaches further in at the square's corners than a
    □'s sides, is no mark (an empty ○ read 0.008 inside, more than "none marked" allows), and a
    tick drawn left of the middle, as a pen ticks, still is one (a smaller square missed it)."""
    ink = _ring_row().astype(np.uint8)
    box = (18, 10, 18 + SIDE, 10 + SIDE)
    empty = marks.judge(ink.astype(bool), [box], top=0, bottom=44, cell_right=200)[0]
    assert empty.state == marks.UNMARKED and empty.inside == 0.0
    cv2.line(ink, (21, 20), (26, 28), 1, 2)
    cv2.line(ink, (26, 28), (38, 6), 1, 2)
    ticked = marks.judge(ink.astype(bool), [box], top=0, bottom=44, cell_right=200)[0]
    assert ticked.state == marks.MARKED, ticked


def test_a_tick_printed_in_a_ring_is_a_target_and_a_blob_of_a_glyph_is_not() -> None:
    """A ✓ printed in the ○ fills much of the ring's inside; so does a kanji that prints as a
    solid blob at the page's threshold (書 at 300 dpi, blurred).  The ring with the tick in it is
    a target; the blob is not, nor a ring whose inside is that full at the page's threshold."""
    img = np.zeros((44, 120), np.uint8)
    cv2.circle(img, (30, 22), SIDE // 2, 1, 2)
    cv2.line(img, (22, 22), (28, 29), 1, 3)
    cv2.line(img, (28, 29), (38, 14), 1, 3)
    ticked = img.astype(bool)
    assert len(_strong(check_boxes.find_boxes(ticked, 22, round_=True, solid=ticked))) == 1
    blob = np.zeros((44, 120), np.uint8)
    cv2.circle(blob, (30, 22), SIDE // 2, 1, 2)
    cv2.circle(blob, (30, 22), SIDE // 2 - 2, 1, -1)
    assert _strong(check_boxes.find_boxes(blob.astype(bool), 22, round_=True, solid=blob.astype(bool))) == []


def test_the_shape_with_more_clean_targets_wins_a_tie() -> None:
    """Two rows judged either way: the □ reading found glyphs (開, N: ink inside, "marked"), the
    ○ reading the printed rings before them (clean) beside the one marked."""
    def m(inside: float) -> marks.OptionMark:
        return marks.OptionMark(marks.MARKED if inside > 0.04 else marks.UNMARKED, 1.0, (0, 0, 1, 1), (0, 0, 1, 1),
                                inside, 0.0)
    square = {"check_method": [m(0.33), m(0.91), m(1.0)], "line_type": [m(1.0), m(0.0)], "plus": None}
    round_ = {"check_method": [m(0.0), m(0.0), m(1.0)], "line_type": [m(1.0), m(0.0)], "plus": None}
    assert _evidence(round_) > _evidence(square)
    assert _evidence({**round_, "line_type": None}) < _evidence(square)  # fewer rows judged


def test_an_unread_first_option_misread_far_from_the_others_is_its_word_not_a_bound() -> None:
    """An option a cell, 19 characters apart: a tick over ○フレッツ光ネクスト had it read
    「のクレッッルネクスト」 and the row began after it (its ○ outside, the choice unsure).  Other
    print there (the next field's words) still bounds the row."""
    h = 20
    b_flets = Found("option:line_kind.b_flets", "Bフレッツ", (800, 812, 896, 832), 1.0, h)
    label = Found("line_kind", "ご利用回線種別", (160, 812, 316, 832), 1.0, h)
    misread = Band(406, 614, 812, 832, "のクレッッルネクスト")
    rows = dict((n, b) for n, b, _ in choice_rows([label, b_flets], [misread, Band(800, 896, 812, 832, "bフレッツ")]))
    assert rows["line_kind"] is not None and rows["line_kind"][0] <= 406 - h
    other = Band(406, 614, 812, 832, "営業時間のご案内")
    rows = dict((n, b) for n, b, _ in choice_rows([label, b_flets], [other, Band(800, 896, 812, 832, "bフレッツ")]))
    assert rows["line_kind"] is not None and rows["line_kind"][0] >= 614


def test_print_shop_forms_are_read_right() -> None:
    """Two print_shop forms (tuning seed 20001): a 150 dpi b&w banded sheet, ticks in the ○;
    a 150 dpi grey grid sheet whose ■ replaced one ○ (□ candidates found 開 and the N of NTT:
    both read marked, sure, before the two readings were compared)."""
    from bot.forms import read_form
    specs = {s.index: s for s in plan_families(20, 20001, ("print_shop",))}
    pdf, truth = make(specs[1])
    got = read_form(pdf, password="uspot", limits=UNHURRIED)
    values = {r.name: r for r in got.readings}
    assert values["line_kind"].sure and values["line_kind"].value == "hikari_next"
    assert values["check_method"].sure and values["check_method"].value == "notice"
    pdf, truth = make(specs[10])
    got = read_form(pdf, password="uspot", limits=UNHURRIED)
    values = {r.name: r for r in got.readings}
    # the □ reading took 開 and the N of NTT for marked boxes; the ○ reading did not: unsure,
    # never the two read marked
    assert not values["check_method"].sure or values["check_method"].value == "ntt116"
    assert all(not r.sure or r.state != "marked" for r in got.readings
               if r.name in ("check_method.notice", "check_method.bill"))


def test_a_target_right_after_a_character_is_in_a_word() -> None:
    """print_shop grid sheets at 200–300 dpi grey: the ○ reading took a glyph inside 「NTT請求書」
    or 「116へ確認」 (a ring of ink, half full) for the target whose ○ a ■ or a cross had hidden,
    and read it marked, sure, beside the two clean ○: a wrong 確認方法 (seed 20002 forms 16 and
    19).  A target with a character right before it is inside a word."""
    from bot.forms import read_form
    specs = {s.index: s for s in plan_families(20, 20002, ("print_shop",))}
    for index in (16, 19):
        pdf, truth = make(specs[index])
        got = read_form(pdf, password="uspot", limits=UNHURRIED)
        for key, mark in truth["marks"].items():
            r = got.reading(key)
            assert r is None or not r.sure or (r.state == "marked") == bool(mark["marked"]), (index, key, r)


def test_the_contacts_names_under_a_header_of_sei_and_mei() -> None:
    """A table whose header row reads 「姓(セイ)｜名(メイ)」 over the contact's rows: 姓 and 名 are
    the two columns (before, the contact's place was one and both were unsure)."""
    from bot.forms import read_form
    spec = {s.index: s for s in plan_families(20, 20001, ("print_shop",))}[1]
    pdf, truth = make(spec)
    got = read_form(pdf, password="uspot", limits=UNHURRIED)
    last, first = got.reading("contact_last"), got.reading("contact_first")
    assert last is not None and last.state == "filled" and first is not None and first.state == "filled"
    assert last.box is not None and first.box is not None and last.box[3] < first.box[1]  # (page, x0, y0, x1, y1)


def test_an_option_in_the_cell_under_its_choices_header_is_its_word() -> None:
    """「USEN SPOT Plus」 heads a cell whose 「○申し込む」 stands 3.3 lines under it: the word was
    taken for a stray (three lines from its label and no other option) and Plus was unsure
    (seed 20002 form 7, a ■ printed over its ○)."""
    from bot.forms import read_form
    spec = {s.index: s for s in plan_families(20, 20002, ("print_shop",))}[7]
    pdf, truth = make(spec)
    got = read_form(pdf, password="uspot", limits=UNHURRIED)
    plus = got.reading("plus")
    assert truth["marks"]["plus.on"]["marked"] and plus is not None and plus.sure and plus.value == "true"


def test_a_crossed_ring_is_placed_by_its_word() -> None:
    """An X drawn over 「○フレッツ光ネクスト」's ○ breaks its ring past the template, and the
    reading takes the X in as the word's first character: the ○ is placed by its word (the other
    option's ○ standing right before its word), up to a side right of where the gap would put
    it, where two quarters of its ring show (before: the □ test of two straight sides)."""
    from bot.forms.choice_rows import completed
    img = np.zeros((44, 420), np.uint8)
    for cx in (40, 240):
        cv2.circle(img, (cx, 22), SIDE // 2, 1, 2)
    cv2.line(img, (24, 6), (56, 38), 1, 3)
    cv2.line(img, (24, 38), (56, 6), 1, 3)  # the X over the first ○
    words = [(26, 14, 200, 30), (256, 14, 380, 30)]  # the first word's box begins at the X
    clean = (240 - SIDE // 2, 22 - SIDE // 2, 240 - SIDE // 2 + SIDE, 22 - SIDE // 2 + SIDE)
    got = completed([(1.05, clean)], SIDE, words, (0, 0), img.astype(bool), round_=True)
    assert got is not None and got[1] == 0 and abs((got[0][0][0] + got[0][0][2]) / 2 - 40) <= SIDE // 4, got
    blank = np.zeros_like(img)
    cv2.circle(blank, (240, 22), SIDE // 2, 1, 2)
    assert completed([(1.05, clean)], SIDE, words, (0, 0), blank.astype(bool), round_=True) is None  # paper


def test_a_lone_options_broken_target_is_placed_as_the_page_places_its_others() -> None:
    """Plus has one option: no neighbour in its row tells where its ○ stands before 「申し込む」.
    The page's other rows do (a gap of 3 px from ○ to word, middles level): a ○ a cross broke
    is placed there and judged; paper there is no target."""
    from bot.forms.choice_rows import lone
    img = np.zeros((44, 300), np.uint8)
    cv2.circle(img, (60, 22), SIDE // 2, 1, 2)
    cv2.line(img, (44, 6), (76, 38), 1, 3)
    cv2.line(img, (44, 38), (76, 6), 1, 3)
    word = (76, 14, 200, 30)
    got = lone(SIDE, word, (0, 0), img.astype(bool), (3.0, 0.0), round_=True)
    assert got is not None and abs((got[0][0][0] + got[0][0][2]) / 2 - 60) <= SIDE // 4, got
    assert lone(SIDE, word, (0, 0), np.zeros_like(img, bool), (3.0, 0.0), round_=True) is None
    assert lone(SIDE, word, (0, 0), img.astype(bool), None, round_=True) is None  # no other row to learn from


def test_the_pages_spacing_is_learned_only_from_boxes_that_fit_their_words() -> None:
    """Plus's broken target is placed as the page's other rows stand theirs; boxes found in a row
    whose words they do not fit (print taken for boxes) teach nothing: they put Plus's box on
    print, read marked, a false PLUS_FLAG_MISMATCH (the held-out family, unseen seed 13535)."""
    from bot.forms.choice_marks import _spacing
    from bot.forms.table import Row
    ink = _square_row()  # □ at 18 and 218, each word 8 px after its box
    row = Row(100, 144, (0, 100, 10, 144), (0, 100, 420, 144), "line_kind", "line_kind", 1.0)
    boxes = [(18, 10, 18 + SIDE, 10 + SIDE), (218, 10, 218 + SIDE, 10 + SIDE)]
    words = {"line_kind": ((18 + SIDE + 8, 114, 180, 130), (218 + SIDE + 8, 114, 380, 130))}
    data = {"line_kind": (ink, [], row, 2)}
    got = _spacing({"line_kind": boxes}, words, data)
    assert got is not None and got[0] == 8 and abs(got[1]) <= 1
    far = {"line_kind": ((18 + SIDE + 90, 114, 180, 130), (218 + SIDE + 90, 114, 380, 130))}
    assert _spacing({"line_kind": boxes}, far, data) is None


def test_a_small_tick_along_a_rings_edge_leaves_it_unsure() -> None:
    """A small tick drawn inside a ○ along its lower right and out over its edge into the word:
    the disc in its middle stays clean and the halo does not look into the ○'s square, so the
    option was read unmarked, sure (unseen seed 13636 form 86).  A ring heavier in one quarter
    than its others is not sure to be clean; a printed ring, evenly inked, still is."""
    ink = _ring_row().astype(np.uint8)
    box = (18, 10, 18 + SIDE, 10 + SIDE)
    assert marks.judge(ink.astype(bool), [box], top=0, bottom=44, cell_right=200)[0].state == marks.UNMARKED
    cv2.line(ink, (34, 31), (40, 26), 1, 2)  # along the ring's lower right, inside it …
    cv2.line(ink, (40, 26), (46, 20), 1, 2)  # … and out over its edge into the word
    got = marks.judge(ink.astype(bool), [box], top=0, bottom=44, cell_right=200)[0]
    assert got.state != marks.UNMARKED, got
