"""Scans read by their words (issue 19), the round that studied black_bands (a tuning family since
corner_captions was held out): a branch's Word form whose ご担当者 and サービス blocks stand two
thirds of the page wide beside a 支店記入欄 panel (受付印, 支店名 ____, 受付No. ____), the contact's
row parted by a ruling line into 姓 | 名, each with a small printed mark the reading misreads next
to writing.
"""

from __future__ import annotations

import numpy as np

from bot.forms import scanned
from bot.forms.contact_places import _parted
from bot.forms.table import Row
from bot.forms.value_place import RIGHT, place
from bot.forms.words import Found
from tests.fixtures.scans.corpus import make, plan_families
from tests.support.app import UNHURRIED

H = 22  # a label's height (200 dpi, 8.5 pt)


def _table(*, edge: int = 1140, panel: int | None = 1170, parted: int | None = 730) -> np.ndarray:
    """The ruling lines of a row 380..460 of a table from x 75 to ``edge``, its label cell's side at
    320, a panel's side at ``panel`` beyond the table, the row parted at ``parted``."""
    rules = np.zeros((900, 1650), bool)
    rules[378:384, 75:edge + 4] = rules[456:462, 75:edge + 4] = True  # the row's rules, over and under
    for x in (75, 320, edge, parted):
        if x is not None:
            rules[300:700, x:x + 5] = True
    if panel is not None:  # the panel's own frame: its side and its rules, apart from the table's
        rules[250:700, panel:panel + 5] = True
        rules[250:255, panel:1560] = rules[695:700, panel:1560] = True
        rules[250:700, 1560:1565] = True
    return rules


def _label() -> Found:
    return Found("contact", "ご担当者名", (97, 406, 214, 406 + H), 1.0, H)


def test_a_value_beside_its_label_ends_at_the_tables_side_not_in_the_panel_beyond() -> None:
    """The row's rules end at the table's side (x 1140); beyond it, 30 px of paper, stands the
    支店記入欄 (its stamp box and lines are no value).  The 姓 | 名 line (730), which the row's rules
    cross, is inside the table: the place runs past it to the table's side."""
    box = place(_label(), RIGHT, [_label()], _table())
    assert box is not None and 1120 <= box[2] < 1140, box
    # no panel beyond: the same (the page's margin is no value either)
    box = place(_label(), RIGHT, [_label()], _table(panel=None))
    assert box is not None and 1120 <= box[2] < 1140, box


def test_a_line_the_rows_rules_cross_is_no_end() -> None:
    """A table as wide as the page: its rules run past every upright in the row: the place runs
    to the next label or the page's edge as before."""
    rules = _table(edge=1560, panel=None)
    box = place(_label(), RIGHT, [_label()], rules)
    assert box is not None and box[2] >= 1540, box


def test_the_contacts_row_parted_by_one_ruling_line_is_姓_and_名() -> None:
    """ご担当者名 | 姓 ____ | 名 ____ : the line at 320 has only paper before it (the label cell's
    side), the one at 730 parts the writing: 姓 before it, 名 after it, each after its small mark."""
    rules = _table()
    ink = np.zeros_like(rules)
    ink[410:430, 340:350] = True  # 姓 (the small mark)
    ink[395:450, 380:470] = True  # 中村
    ink[410:430, 745:755] = True  # 名
    ink[395:450, 790:880] = True  # 翔太
    row = Row(384, 458, (97, 406, 214, 428), (220, 384, 1130, 458), "ご担当者名", "contact", 1.0)
    parts = _parted(row, ink, rules, H)
    assert parts is not None
    last, first = parts
    assert 350 <= last[0] < 380 and 715 <= last[2] < 730, last
    assert 755 <= first[0] < 790 and first[2] == 1130, first
    # two lines part the writing (姓 | 名 | something): which is which is not known
    rules[300:700, 950:955] = True
    ink[395:450, 1000:1050] = True
    assert _parted(row, ink, rules, H) is None


def test_black_bands_contact_beside_the_panel_is_read_as_姓_and_名() -> None:
    """black_bands (seed 20001): the contact's place ran on into the 支店記入欄 and its 受付印, and
    the small 姓 / 名 marks read 'f' and 'る' next to the writing, so 姓 and 名 were not placed:
    both unsure, the form held (a handwritten 150 dpi bilevel page and a 200 dpi grey one, whose
    row's rules lie just past half way to the labels above and below).  Now both are written."""
    for i in (3, 2):
        pdf, truth = make(plan_families(30, 20001, ("black_bands",))[i], password=None)
        result = scanned.read_scan(pdf, UNHURRIED)
        got = {r.name: r for r in result.readings}
        for name in ("contact_last", "contact_first"):
            assert got[name].sure and got[name].state in ("filled", "read"), (i, name, got[name], result.notes)
            if got[name].state == "read":
                assert got[name].value == truth["fields"][name]


def _word(key: str, x: int, y: int, h: int = 18) -> Found:
    return Found(key, "x", (x, y, x + 100, y + h), 1.0, h)


def test_a_list_one_option_a_line_is_read_as_one_wrapped_choice() -> None:
    """回線's choices as lists, one option a line 18 pt apart in 8.5 pt print: at 200 dpi the words'
    characters stand 17-18 px high and 47-50 px apart (2.9 of their height), past the 2.5 heights a
    wrap was allowed, so every such choice was "not on one line in the printed order" and held.
    Lines further apart than 3.2 heights are still no wrap."""
    from bot.forms.choice_lines import wrapped_lines

    two = [_word("option:line_type.family", 596, 1525), _word("option:line_type.mansion", 596, 1574)]
    assert wrapped_lines(two) == [(0, 1), (1, 2)]
    three = [_word(f"option:check_method.{k}", 990, 1533 + 49 * i) for i, k in enumerate(("notice", "bill", "ntt116"))]
    assert wrapped_lines(three) == [(0, 1), (1, 2), (2, 3)]
    far = [_word("option:line_type.family", 596, 1525), _word("option:line_type.mansion", 596, 1525 + 62)]
    assert wrapped_lines(far) is None


def _band(x0: int, x1: int, y: int, h: int = 18):  # noqa: ANN202
    from bot.forms.words import Band

    return Band(x0, x1, y, y + h)


def test_an_unread_option_of_a_list_one_a_line_is_the_line_where_the_list_puts_it() -> None:
    """ご利用回線種別 as a list: □フレッツ光ネクスト over □Bフレッツ, a cross over the second's word
    (read '項8フレッッ', no match): the one word read gave a row on its own line, the marked option
    had no place, the choice was held (seed 20002 form 17).  The line under it, beginning at the
    same □, is that option's; its row is judged as the other's."""
    from bot.forms.choice_lines import choice_rows, choice_words

    first = Found("option:line_kind.hikari_next", "フレッツ光ネクスト", (193, 1535, 365, 1570), 1.0, 17, 1552.0)
    label = Found("line_kind", "ご利用回線種別", (250, 1480, 400, 1510), 1.0, 21)
    other = Found("option:line_type.family", "ファミリー", (588, 1535, 674, 1567), 1.0, 17, 1551.0)
    lines = [_band(139, 365, 1543), _band(531, 674, 1542), _band(131, 270, 1590)]  # the crossed line: its □
    found = [label, first, other]
    words = choice_words(found, "line_kind", lines)
    assert words[0] is first and words[1] is not None
    assert words[1].box[0] == 193 and 1585 <= words[1].mid <= 1605, words[1]
    rows = {name for name, box, why in choice_rows(found, lines) if name.startswith("line_kind") and box}
    assert rows == {"line_kind~0:1", "line_kind~1:2"}

    # print after the word on its own line that is no other question's word: the unread option
    # may stand there (a row on one line): nothing is guessed
    beside = [*lines, _band(390, 470, 1543)]
    assert choice_words(found, "line_kind", beside)[1] is None
    # another question's word on the line under it: not this list's line
    under = Found("option:line_type.mansion", "マンション", (180, 1590, 270, 1608), 1.0, 17)
    assert choice_words([*found, under], "line_kind", lines)[1] is None
    # no line of print there (the next line far under): nothing
    assert choice_words(found, "line_kind", [_band(139, 365, 1543), _band(131, 270, 1640)])[1] is None
    # the word's own line of print runs on after it (□フレッツ光ネクスト □(unread) on one line)
    assert choice_words(found, "line_kind", [_band(139, 470, 1543), _band(131, 270, 1590)])[1] is None
    # the line under it is longer than the word could be: another question's line of options
    assert choice_words(found, "line_kind", [_band(139, 365, 1543), _band(131, 700, 1590)])[1] is None
    # a ruling line between the two lines: the table's next row, another question's
    rules = np.zeros((2000, 1200), bool)
    rules[1578:1582, 50:1100] = True
    assert choice_words(found, "line_kind", lines, rules)[1] is None
    assert choice_words(found, "line_kind", lines, np.zeros_like(rules))[1] is not None
    # the neighbouring list's lines at the same heights do not stand in for this list's
    beside = [*lines, _band(547, 699, 1593)]
    assert choice_words(found, "line_kind", beside)[1].box[0] == 193


def test_a_poorer_reading_of_the_word_on_the_lists_next_line_is_its_word() -> None:
    """Bフレッツ read well in the notes (far away: a stray, not the row's) and poorly on the list's
    second line (seed 20002 form 5): the list's line holds it, so that reading is the word."""
    from bot.forms.choice_lines import choice_words

    label = Found("line_kind", "ご利用回線種別", (250, 1450, 400, 1480), 1.0, 21)
    first = Found("option:line_kind.hikari_next", "フレッツ光ネクスト", (187, 1507, 386, 1543), 1.0, 28, 1525.0)
    poor = Found("option:line_kind.b_flets", "bフレッッツ", (198, 1551, 293, 1590), 0.8, 28, 1570.0)
    notes = Found("option:line_kind.b_flets", "bフレッツ", (375, 2043, 425, 2073), 1.0, 28)
    lines = [_band(150, 386, 1507, 36), _band(150, 293, 1551, 39), _band(127, 900, 2043, 30)]
    words = choice_words([label, first, poor, notes], "line_kind", lines)
    assert words == [first, poor]
    assert choice_words([label, first, poor, notes], "line_kind") == [first, None]  # without the lines: unread


def test_a_page_turned_the_wrong_way_sideways_is_tried_the_other_way_too() -> None:
    """shaded_grid, 150 dpi colour, turned 90°, put upright the wrong way: at 0° and 180° it read
    as no text, at 90° as text upside down (534 sure characters, no label), and since it had read
    as text the fourth turn was never tried: "no page holds the application form" (seed 11515
    form 78, the round's one page not found).  Only the first two turns say a page is no
    sideways page."""
    eight = ("ruled", "header_digits", "sections_dotted", "two_columns", "ver3_order", "label_below", "shaded_grid",
             "black_bands")
    pdf, truth = make(plan_families(80, 11515, eight)[78], password=None)
    assert truth["traits"]["orientation"] == 90 and truth["traits"]["family"] == "shaded_grid"
    result = scanned.read_scan(pdf, UNHURRIED)
    assert result.form_page == truth["form_page"], result.notes


def _text_result(state: str, value: str | None, *, sure: bool, unplaced: bool = False) -> scanned.ScanResult:
    from bot.forms.vocabulary import FieldReading, FormFields

    reading = FieldReading("mail_reading", value, state, 0.9 if sure else 0.0, sure, None, None)
    return scanned.ScanResult(fields=FormFields(mail_reading=value), readings=(reading,),
                              unsure=() if sure else ("mail_reading",),
                              unplaced=("mail_reading",) if unplaced else ())


def test_an_empty_cell_the_words_placed_is_taken_where_the_table_had_no_place_for_it() -> None:
    """black_bands read as a ruled table: its rows "merged" (the white-on-black headings), the
    メール block's フリガナ row not trusted, so the reading was unsure; the words placed it and saw
    it empty, but an empty was never taken from them, and a form without an address (both blank:
    MAIL_ADDRESS_MISSING) was held (seed 20001 form 27, 20002 forms 8 and 27).  Where the table
    found no place for the field it is taken; where the table saw the cell and was unsure of what
    is in it (light writing), the words' empty is not."""
    from bot.forms import scan_words
    from bot.forms.vocabulary import STATE_EMPTY, STATE_UNSURE

    words = _text_result(STATE_EMPTY, "", sure=True)
    out = scan_words.together(_text_result(STATE_UNSURE, None, sure=False, unplaced=True), words, choices=set())
    assert "mail_reading" not in out.unsure and out.fields.mail_reading == ""
    out = scan_words.together(_text_result(STATE_UNSURE, None, sure=False), words, choices=set())
    assert "mail_reading" in out.unsure and out.fields.mail_reading is None
