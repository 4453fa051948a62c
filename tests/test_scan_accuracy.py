"""Regression tests for the reader's accuracy round (docs/scans.md, "what changed"): forms of the
bench's corpus (seed 20251130) that used to read unsure, each now read sure and right.

Each class of fix has a form that failed before it: the test reads that form and asserts the
reading, so it fails again if the fix is undone.  The unit tests of :func:`address.agree` pin
what the reading may and may not forgive.
"""

from __future__ import annotations

import functools

import pytest

from bot.forms import read_form
from tests.support.app import UNHURRIED
from bot.forms.address import agree
from tests.fixtures.scans import DEFAULT_PASSWORD, DEFAULT_SEED, FormSpec, plan
from tests.fixtures.scans.corpus import make



@functools.cache
def corpus_form(index: int):  # type: ignore[no-untyped-def]
    """Form ``index`` of the bench's corpus (the plan of 300 at the bench's seed), and its reading."""
    spec = plan(300, DEFAULT_SEED)[index]
    pdf, truth = make(spec)
    return read_form(pdf, password=DEFAULT_PASSWORD, limits=UNHURRIED), truth


def assert_options(reading, truth, *fields: str) -> None:  # type: ignore[no-untyped-def]
    """Every option of ``fields`` (all when none are named) read sure and right."""
    for key, mark in truth["marks"].items():
        if fields and key.split(".")[0] not in fields:
            continue
        got = reading.reading(key)
        assert got is not None, key
        assert got.sure and got.state in ("marked", "unmarked"), (key, got)
        assert (got.state == "marked") == bool(mark["marked"]), (key, got, mark)


# =========================================================================== marks


@pytest.mark.parametrize("index", [92, 101])
def test_faint_printed_boxes_at_150_dpi_grey_are_found(index: int) -> None:
    """Given a typed form printed with ■ scanned at 150 dpi in grey, whose empty □ blur to a
    light grey lighter than the lenient ink threshold,
    when it is read, then the boxes are found at the fainter threshold and every option is
    read sure and right (before: every choice row unsure, no boxes)."""
    reading, truth = corpus_form(index)
    assert truth["traits"]["dpi"] == 150 and truth["traits"]["color"] == "gray"
    assert_options(reading, truth)


@pytest.mark.parametrize("index,field", [(174, "plus"), (197, "line_kind"), (201, "line_kind"),
                                         (279, "check_method")])
def test_a_ring_inside_a_marked_box_does_not_hide_the_box(index: int, field: str) -> None:
    """Given a box marked with an X or a printed ☑ whose strokes and two of the box's sides
    make a smaller ring inside it,
    when it is read, then that ring no longer takes the box's place (candidates of other
    sizes do not suppress each other) and the row's options are sure and right."""
    reading, truth = corpus_form(index)
    assert_options(reading, truth, field)


@pytest.mark.parametrize("index", [14, 50, 199])
def test_a_circled_label_does_not_make_extra_boxes(index: int) -> None:
    """Given a label circled by hand (開通通知書), whose glyphs and the circle make rings of
    the box's size inside the word,
    when it is read, then the rings with print right against their left are left out and
    the row's three boxes are read sure and right (before: the row was unsure)."""
    reading, truth = corpus_form(index)
    assert truth["traits"]["mark_style"] == "circle"
    assert_options(reading, truth, "check_method")


@pytest.mark.parametrize("index", [98, 150, 228, 273])
def test_rings_off_the_boxes_line_are_left_out(index: int) -> None:
    """Given NTT請求書(裏面) circled by hand, where the circle and a glyph's first stroke make a
    ring of the box's size that no print touches on its left (after NTT, before the bracket),
    when it is read, then that ring, a few pixels above or below the line the printed boxes
    share, is left out and the row's three boxes are read sure and right (before: unsure)."""
    reading, truth = corpus_form(index)
    assert truth["marks"]["check_method.bill"]["style"] == "circle"
    assert_options(reading, truth, "check_method")


# Forms of a circle sweep (FormSpec across seeds, dpi and colours, not the bench's corpus) whose
# marks were read sure and wrong before the halo was measured at the lenient threshold too and
# ink coming over a row's rule was kept apart: three circled options read unmarked (a light
# pen's arcs break into specks at the page's threshold, or pass through the label's print and
# are taken away with it) and one empty option read marked (the arc of the circle in the row
# above comes over the rule into its halo).
SWEEP_SURE_WRONG = [
    FormSpec(index=0, seed=45, fill="hand", mark_style="circle", dpi=150, color="gray"),
    FormSpec(index=9, seed=5063, fill="hand", mark_style="circle", variant="v4", dpi=150, color="gray"),
    FormSpec(index=112, seed=5784, fill="mixed", mark_style="circle", variant="v3", dpi=200, color="color"),
    FormSpec(index=236, seed=6652, fill="hand", mark_style="circle", variant="v3", dpi=300, color="gray"),
]


@pytest.mark.parametrize("spec", SWEEP_SURE_WRONG, ids=lambda s: f"seed{s.seed}")
def test_a_circled_form_is_never_read_sure_and_wrong(spec: FormSpec) -> None:
    """Given a form marked with hand-drawn circles that was read sure and wrong (see
    SWEEP_SURE_WRONG), when it is read, then every option is either unsure or read right."""
    pdf, truth = make(spec)
    reading = read_form(pdf, password=truth["password"], limits=UNHURRIED)
    for key, mark in truth["marks"].items():
        got = reading.reading(key)
        assert got is not None, key
        if got.sure:
            assert got.state == ("marked" if mark["marked"] else "unmarked"), (key, got, mark)


def test_a_light_circle_through_its_label_is_not_read_unmarked() -> None:
    """Given 開通通知書 circled tightly in a light grey pen at 150 dpi grey (the circle's top arc
    breaks into specks at the page's threshold, its bottom arc runs through the label's print),
    when it is read, then the option is marked or unsure (before: unmarked, sure, conf 1.0)."""
    pdf, truth = make(SWEEP_SURE_WRONG[0])
    assert truth["marks"]["check_method.notice"]["marked"]
    got = read_form(pdf, password=truth["password"], limits=UNHURRIED).reading("check_method.notice")
    assert got is not None and (got.state == "unsure" or (got.sure and got.state == "marked")), got


def _row_with_boxes(h: int = 60, w: int = 400):  # type: ignore[no-untyped-def]
    """A synthetic choice row: two empty printed boxes, each with a label; (ink, boxes)."""
    import numpy as np

    from bot.forms.raster import PT

    side = round(9.5 * PT)
    ink = np.zeros((h, w), bool)
    boxes = [(20, 17, 20 + side, 17 + side), (220, 17, 220 + side, 17 + side)]
    for x0, y0, x1, y1 in boxes:
        ink[y0:y0 + 2, x0:x1] = ink[y1 - 2:y1, x0:x1] = ink[y0:y1, x0:x0 + 2] = ink[y0:y1, x1 - 2:x1] = True
        ink[y0 + 6:y1 - 6, x1 + 8: x1 + 60] = True  # the label
    return ink, boxes


def test_light_ink_around_a_label_makes_it_unsure_not_unmarked() -> None:
    """Given an empty box whose label has a circle round it that only the lenient threshold
    sees (a light pen), when it is judged, then it is unsure (before: unmarked, sure)."""
    from bot.forms import marks

    ink, boxes = _row_with_boxes()
    light = ink.copy()
    x1 = boxes[0][2]
    light[4:6, x1 - 10: x1 + 80] = light[52:54, x1 - 10: x1 + 80] = True  # the arcs above and below
    judged = marks.judge(ink, boxes, top=0, bottom=60, cell_right=400, lenient=light)
    assert judged[0].state == marks.UNSURE, judged[0]
    assert judged[1].state == marks.UNMARKED, judged[1]


def test_ink_over_the_rule_from_the_next_row_is_never_a_mark() -> None:
    """Given an empty option with a long arc along the top of its cell that comes over the
    rule (the circle of the row above), when it is judged, then it is unsure, not marked; a
    circle of its own that crosses the rule but comes down its label's sides is marked."""
    from bot.forms import marks

    ink, boxes = _row_with_boxes()
    x0, _, x1, _ = boxes[0]
    ink[0:3, x0: x1 + 70] = True  # the row above's arc, cut by the rule
    bx0, _, bx1, by1 = boxes[1]
    ink[0:3, bx0 - 8: bx1 + 75] = True  # the own circle's top arc, cut by the rule …
    ink[0:by1 + 6, bx0 - 8: bx0 - 6] = ink[0:by1 + 6, bx1 + 73: bx1 + 75] = True  # … and its sides
    ink[by1 + 6: by1 + 8, bx0 - 8: bx1 + 75] = True  # … and its bottom
    judged = marks.judge(ink, boxes, top=0, bottom=60, cell_right=400)
    assert judged[0].state == marks.UNSURE, judged[0]
    assert judged[1].state == marks.MARKED, judged[1]


# =========================================================================== mail address


@pytest.mark.parametrize("index", [31, 207, 118])
def test_small_ink_of_an_address_is_kept(index: int) -> None:
    """Given a typed address with a full stop or an i (moon.net, kaze.cafe, komugi_wifi),
    when it is read, then the dot is not taken for a speck: the address is read sure and
    exact (before: 'moonnet', which its reading did not spell, so unsure)."""
    reading, truth = corpus_form(index)
    got = reading.reading("mail_local")
    assert got is not None and got.sure and got.state == "read", got
    assert got.value == truth["fields"]["mail_local"]


@pytest.mark.parametrize("index", [167, 181, 190, 137])
def test_a_reading_misread_is_read_again(index: int) -> None:
    """Given an address whose katakana reading OCR reads with junk at its end, one ピ as ビピ,
    or a doubled ゴ,
    when it is read, then the junk and the twin are dropped, or the reading read again
    larger spells the address: sure and exact."""
    reading, truth = corpus_form(index)
    got = reading.reading("mail_local")
    assert got is not None and got.sure and got.state == "read", got
    assert got.value == truth["fields"]["mail_local"]


@pytest.mark.parametrize("index,name", [(64, "mail_local"), (96, "customer_code")])
def test_a_poorly_read_label_is_read_again(index: int, name: str) -> None:
    """Given a row whose label OCR read poorly at 1× ('で % の z ー ル アド レス'), so the row
    was not trusted,
    when it is read, then the label is read again at 2× with its small ink kept, the row is
    trusted and its value read sure and exact."""
    reading, truth = corpus_form(index)
    got = reading.reading(name)
    assert got is not None and got.sure and got.state == "read", got
    assert got.value == truth["fields"][name]


def test_agree_forgives_junk_and_twin_kana_only() -> None:
    """The reading may lose a ~ or - OCR saw at its ends, and one ピ read as ビピ; a doubled
    kana (ゴゴ) or a dropped letter is never forgiven: those stay unsure."""
    assert agree("kaze", "~ケーエーゼットイー") == ("kaze", "ケーエーゼットイー")
    assert agree("fit36508", "エフアイティーサンロクゴゼロハチ-") is not None
    assert agree("zero_jp", "ゼットイーアールオーアンダーバージェービピー") == (
        "zero_jp", "ゼットイーアールオーアンダーバージェーピー")
    # a doubled ゴ spells another address: the reads disagree
    assert agree("fit365_jp", "エフアイティーサンロクゴゴアンダーバージェーピー") is None
    # an address OCR dropped a letter of is not made whole by its reading
    assert agree("komug_wifi", "ケーオーエムユージーアイアンダーバーダブリューアイエフアイ") is None
    # ファイブ then ブイ (5v): two ブ are two letters, not a twin
    assert agree("5v", "ファイブブイ") == ("5v", "ファイブブイ")


@pytest.mark.parametrize("index", [22, 116, 142])
def test_a_tick_that_grazes_the_box_is_a_mark(index: int) -> None:
    """Given a tick whose stroke only grazes the box (≈4 % of its interior inked, just under
    the 4.5 % of a mark), when it is read, then the stroke's ink inside the box makes it a
    mark: sure and right (before: unsure)."""
    reading, truth = corpus_form(index)
    assert_options(reading, truth)


def _two_printed_boxes():  # noqa: ANN202
    """A row of two empty printed □ (9.5 pt) with their labels: (side, ink, boxes)."""
    import numpy as np

    from bot.forms.raster import PT

    side = round(9.5 * PT)
    ink = np.zeros((60, 400), bool)
    boxes = [(20, 15, 20 + side, 15 + side), (220, 15, 220 + side, 15 + side)]
    for x0, y0, x1, y1 in boxes:
        ink[y0:y0 + 2, x0:x1] = ink[y1 - 2:y1, x0:x1] = ink[y0:y1, x0:x0 + 2] = ink[y0:y1, x1 - 2:x1] = True
        ink[y0 + 6:y1 - 6, x1 + 8: x1 + 60] = True  # the label
    return side, ink, boxes


def test_specks_inside_a_box_are_never_a_mark_by_the_stroke_rule() -> None:
    """Given an empty printed box with a few specks inside (dust, JPEG ringing) and one with a
    pen stroke crossing a corner, when both are judged, then the specks leave the box unsure or
    unmarked, never marked, and the stroke marks its box."""
    from bot.forms import marks

    side, ink, boxes = _two_printed_boxes()
    # box 1: two specks of 2×2 px in the middle of the box (≈ 3 % of its inner area)
    x0, y0 = boxes[0][:2]
    for dx, dy in ((9, 9), (14, 12)):
        ink[y0 + dy: y0 + dy + 2, x0 + dx: x0 + dx + 2] = True
    # box 2: a tick's long stroke grazing the box's inner corner (≈ 3.5 % of its inner area)
    x0, y0, x1, y1 = boxes[1]
    for t in range(40):
        x, y = x1 + 25 - t, y0 - 14 + t
        ink[y: y + 2, x: x + 2] = True
    judged = marks.judge(ink, boxes, top=0, bottom=60, cell_right=400)
    assert 0.025 < judged[0].inside < marks.INSIDE_MARK and judged[0].state != marks.MARKED, judged[0]
    assert 0.025 < judged[1].inside < marks.INSIDE_MARK and judged[1].state == marks.MARKED, judged[1]


def test_a_streak_through_the_code_does_not_make_it_handwriting() -> None:
    """Given a typed code with a scanner's streak running down between two digits (its pieces
    above and below the print look like tall thin digits), when it is read, then the streak is
    left out of the print test: the code is read sure and exact, and so is the address, which
    needs a printed code (before: both filled, not read)."""
    reading, truth = corpus_form(203)
    assert truth["traits"]["streak"]
    for name in ("customer_code", "mail_local"):
        got = reading.reading(name)
        assert got is not None and got.sure and got.state == "read", got
        assert got.value == truth["fields"][name]


@pytest.mark.parametrize("index", [46, 159, 252])
def test_a_shop_name_is_never_read_sure_and_wrong(index: int) -> None:
    """Given a shop name OCR reads confidently but wrongly once (パン工房 as バン工房 when the ゜
    is taken for a speck; ラーメン 一番星 as 一番星ー when a speck is kept; a neat hand's 桜 as
    校), when it is read, then it is read twice (with and without the small ink) and is sure
    only when both reads agree, each at the name's confidence: never sure and wrong."""
    reading, truth = corpus_form(index)
    got = reading.reading("shop_name")
    assert got is not None
    if got.state == "read" and got.sure:
        assert got.value.replace(" ", "") == truth["fields"]["shop_name"].replace(" ", ""), got


def test_a_label_with_a_speck_above_it_is_read_as_a_block() -> None:
    """Given the Plus row's label (USEN SPOT Plus) with a speck of dust above it, which
    Tesseract's single-line mode reads as nothing, when it is read, then the label is read
    again as a block, the row is found and its option read sure and right."""
    reading, truth = corpus_form(294)
    assert_options(reading, truth, "plus")


@pytest.mark.parametrize("index", [160, 193, 178])
def test_an_empty_address_cell_is_never_read_as_writing(index: int) -> None:
    """Given an address cell left empty (MAIL_ADDRESS_MISSING) whose printed @uspot.jp OCR reads
    as '@uspotyp' or '@uspot.p', or which a scanner's streak crosses,
    when it is read, then the printed word and the streak are never taken for writing: the cell
    is surely empty or, where the reader doubts, unsure (held for a person), never filled.
    How often it is surely empty is an accuracy figure that moves with the OCR engine, the
    image libraries and the CPU (seed 160 reads unsure with Tesseract 5.5 / OpenCV 5.1): it is
    measured by bench/bench_scans.py, not asserted on one seed here (issue 17)."""
    reading, truth = corpus_form(index)
    assert truth["fields"]["mail_local"] == ""
    got = reading.reading("mail_local")
    assert got is not None and got.state in ("empty", "unsure"), got
    assert got.sure == (got.state == "empty"), got
    assert reading.fields is not None and reading.fields.mail_local in ("", None)


def test_the_box_size_is_the_one_the_rows_fit() -> None:
    """Given a typed form scanned at 150 dpi grey whose thin □ are fainter than the lenient
    threshold, so that rings inside kanji (親 of ※親機, 確認) outvoted the boxes for the form's
    box size (a held-out corpus, seed 4242, form 104: the Plus box was then a ring inside 親,
    read marked: sure and wrong, and the scan rejected for PLUS_FLAG_MISMATCH),
    when it is read, then the box size is the one with which the most choice rows show exactly
    their options, and every option is read sure and right."""
    spec = plan(150, 4242)[104]
    pdf, truth = make(spec)
    reading = read_form(pdf, password=DEFAULT_PASSWORD, limits=UNHURRIED)
    assert_options(reading, truth)


def test_a_light_tick_the_pages_threshold_barely_shows_is_never_read_as_no_mark() -> None:
    """Given a box with a light pencil tick: at the page's threshold only 2 % of the box shows
    (under the 2.5 % of a clean box), at the lenient threshold the whole stroke does (seed 11111
    form 49, header_digits at 300 dpi grey: read unmarked, sure, and sent back for LINE_KIND_MISSING
    and PLUS_FLAG_MISMATCH), when it is judged with the lenient ink, then it is unsure, not clean;
    the clean box beside it stays unmarked."""
    from bot.forms import marks

    side, ink, boxes = _two_printed_boxes()
    lenient = ink.copy()
    x0, y0, x1, y1 = boxes[0]
    for t in range(side):  # the tick's stroke through the box, 2 px wide, lenient only …
        lenient[y1 - 4 - t // 2: y1 - 2 - t // 2, x0 + t: x0 + t + 2] = True
    ink[y0 + 10: y0 + 12, x0 + 10: x0 + 12] = True  # … but for one dark spot of it
    judged = marks.judge(ink, boxes, top=0, bottom=60, cell_right=400, lenient=lenient)
    assert judged[0].inside <= marks.INSIDE_EMPTY and judged[0].state == marks.UNSURE, judged[0]
    assert judged[1].state == marks.UNMARKED
