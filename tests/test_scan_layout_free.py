"""The layout-free scan reader (issue 19): the form found and read by its printed words.

Each tuning family's clean sample is read right (shaded_grid's in test_scan_wrapped.py; black_bands,
held out until corner_captions came, corner_captions, held out until print_shop came, and print_shop,
held out until agency_form came, have none here yet); the held-out family (families.HELD_OUT_FAMILY,
agency_form since print_shop joined the tuning families) is never used here (it is for measurement
only: bench/bench_scans.py --families).
Two pages are drawn here
by hand: the form with no ruling lines at all and its labels in an order of its own, and
another company's form with many of the same words, which must not be taken for ours.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw

from bot.forms import places, scanned
from bot.forms.choice_rows import boxes_fit_words
from bot.forms.vocabulary import STATE_EMPTY, STATE_FILLED, STATE_READ
from tests.fixtures.scans.corpus import FormSpec, make
from tests.fixtures.scans.layout import font
from tests.fixtures.scans.pdf import PageImage, image_pdf
from tests.support.app import UNHURRIED

SURE_PRINTED = ("customer_code", "contractor_phone", "shop_phone")


def _read(family: str, variant: str, seed: int = 11) -> tuple[scanned.ScanResult, dict]:
    spec = FormSpec(index=0, seed=seed, fill="typed", mark_style="tick", variant=variant, dpi=200, color="gray",
                    family=family)
    pdf, truth = make(spec, password=None)
    return scanned.read_scan(pdf, UNHURRIED), truth


def _by_name(result: scanned.ScanResult) -> dict[str, object]:
    return {r.name: r for r in result.readings}


@pytest.mark.parametrize(("family", "variant"), [
    ("header_digits", "separate"),  # the code in nine digit boxes above a table with a header row
    ("sections_dotted", "dotted"),  # no table: 【section】 headings, labels above values on dotted lines
    ("ver3_order", "excel93"),  # 設置先 before ご契約者, 回線 at the bottom, 「店舗/施設名：」 over underlines
    ("label_below", "open"),  # values above their labels
    ("two_columns", "boxes"),  # two columns of captioned frames, the code in a rectangle at the top right
])
def test_each_family_read_by_its_words(family: str, variant: str) -> None:
    result, truth = _read(family, variant)
    assert result.fields is not None, result.notes
    got = _by_name(result)
    wrong = []
    for r in result.readings:
        if not r.sure:
            continue
        if "." in r.name:  # an option: marked or not
            marked = truth["marks"][r.name]["marked"]
            if (r.state == "marked") != marked:
                wrong.append((r.name, r.state, marked))
        elif r.state == STATE_READ and r.name in truth["fields"] and r.value not in (None, "true", "false"):
            if str(r.value) != str(truth["fields"][r.name]).replace(" ", ""):
                wrong.append((r.name, r.value, truth["fields"][r.name]))
        elif r.state == STATE_EMPTY and truth["fields"].get(r.name):
            wrong.append((r.name, "empty", truth["fields"][r.name]))
    assert wrong == []  # never sure and wrong
    if family == "header_digits":
        return  # its table is found by its rules: the reading is the table reader's (held where unsure)
    # a clean typed page is read, not just found
    read = [n for n in SURE_PRINTED if getattr(got.get(n), "state", None) == STATE_READ]
    assert len(read) >= 2, (family, {n: got.get(n) for n in SURE_PRINTED}, result.notes)
    assert any("found by its printed words" in n for n in result.notes)
    # the choices are judged beside their words (or left to a person where a box runs into its
    # word: 口 read as the word's first letter), and 姓 / 名 each found in its own place
    assert not got["line_kind"].sure or got["line_kind"].value == truth["fields"]["line_kind"]
    assert got["contact_last"].state == got["contact_first"].state == STATE_FILLED
    assert got["contact_last"].sure and got["contact_first"].sure
    assert got["contact_last"].box != got["contact_first"].box


def _page(draw_fn) -> bytes:  # noqa: ANN001
    img = Image.new("L", (1654, 2339), 255)
    draw_fn(ImageDraw.Draw(img))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return image_pdf([PageImage(buf.getvalue(), "DCTDecode", 1654, 2339, True, 200)], password=None)


def _no_rules(d: ImageDraw.ImageDraw) -> None:
    """The form as a branch might type it in a word processor: no lines, no boxes drawn, its
    own order (サービス first), values right of their labels after a colon, ■/□ as text."""
    rows = [
        ("USEN SPOT ご加入申込書", None),
        ("UNIS顧客コード：", "123456789"),
        ("【サービス】", None),
        ("USEN SPOT Plus：", "□申し込む"),
        ("SSID：", ""),
        ("【設置先】", None),
        ("フリガナ：", "ミドリセイコツイン"),
        ("店舗/施設名：", "みどり整骨院"),
        ("電話番号：", "03-1234-5678"),
        ("【ご契約者】", None),
        ("フリガナ：", "ミドリショウジ"),
        ("名称：", "みどり商事"),
        ("電話番号：", "03-8765-4321"),
        ("【回線】", None),
        ("ご利用回線種別：", "■フレッツ光ネクスト　□Bフレッツ"),
        ("ご利用回線タイプ：", "□ファミリー　□マンション"),
        ("確認方法：", "■開通通知書　□NTT請求書(裏面)　□116へ確認"),
        ("【メール】", None),
        ("ご希望のメールアドレス：", "midori @uspot.jp"),
        ("フリガナ：", "エムアイディーオーアールアイ"),
        ("【ご担当者】", None),
        ("ご担当者名：", "姓 佐藤　名 花子"),
    ]
    _type(d, rows, top=120, step=88)


def test_a_form_with_no_ruling_lines_in_its_own_order_is_found_and_read() -> None:
    result = scanned.read_scan(_page(_no_rules), UNHURRIED)
    assert result.fields is not None, result.notes
    got = _by_name(result)
    assert got["customer_code"].state == STATE_READ and got["customer_code"].value == "123456789"
    assert got["shop_phone"].value == "03-1234-5678"  # the 設置先's phone, printed before the contractor's
    assert got["contractor_phone"].value == "03-8765-4321"


def _other_company(d: ImageDraw.ImageDraw) -> None:
    """Another company's application with the same everyday labels (名称, 住所, 電話番号,
    フリガナ, メールアドレス, ご担当者名, 備考) but none of USEN SPOT's own words."""
    rows = [("ABCでんき お申込書", None), ("【お客様】", None), ("フリガナ", "ヤマダタロウ"), ("名称", "山田太郎"),
            ("住所", "東京都港区1-2-3"), ("電話番号", "03-1111-2222"), ("【ご連絡先】", None),
            ("メールアドレス", "taro@example.jp"), ("ご担当者名", "山田"), ("フリガナ", "ヤマダ"),
            ("店舗/施設名", "山田商店"), ("住所", "東京都港区1-2-3"), ("電話番号", "03-3333-4444"), ("備考", "")]
    _type(d, rows, top=150, step=100)


def _type(d: ImageDraw.ImageDraw, rows: list[tuple[str, str | None]], *, top: int, step: int) -> None:
    """Each row's label at the left and its value right of it; a heading (no value) larger."""
    lab, val = font(26), font(34)
    for i, (label, value) in enumerate(rows):
        y = top + i * step
        d.text((150, y), label, font=val if value is None else lab, fill=0)
        if value:
            d.text((560, y - 4), value, font=val, fill=0)


def test_another_companys_form_with_similar_words_is_not_taken_for_the_form() -> None:
    result = scanned.read_scan(_page(_other_company), UNHURRIED)
    assert result.fields is None
    assert "no page holds the application form" in result.notes[-1]


def _sections(d: ImageDraw.ImageDraw, circled: str | None, mail: str = "midori", grazed: str | None = None) -> None:
    """No table: each question's label on a line of its own and its options on the next, the
    check boxes drawn as squares; ``circled``: the option word a pen circled (the circle reaches
    up towards the question's label and down towards the next row); ``grazed``: the option whose
    box a hasty tick only grazes (under it, and up past its right side)."""
    lab, val, head = font(24), font(30), font(34)
    y = 120

    def line(text: str, f, step: int, x: int = 150) -> None:  # noqa: ANN001
        nonlocal y
        d.text((x, y), text, font=f, fill=0)
        y += step

    line("USEN SPOT ご加入申込書", head, 80)
    for heading, pairs in (("", (("UNIS顧客コード", "123456789"),)),
                           ("【ご契約者】", (("名称", "みどり商事"), ("電話番号", "03-8765-4321"))),
                           ("【設置先】", (("店舗/施設名", "みどり整骨院"), ("電話番号", "03-1234-5678")))):
        if heading:
            line(heading, head, 60)
        for label, value in pairs:
            line(label, lab, 40)
            line(value, val, 60, x=170)
    line("【回線】", head, 60)
    for label, options in (("ご利用回線種別", ("フレッツ光ネクスト", "Bフレッツ")),
                           ("ご利用回線タイプ", ("ファミリー", "マンション")),
                           ("確認方法（回線の確認に使った書類）", ("開通通知書", "NTT請求書(裏面)", "116へ確認"))):
        line(label, lab, 38)
        x = 170
        for option in options:
            d.rectangle((x, y + 6, x + 24, y + 30), outline=0, width=2)
            d.text((x + 34, y), option, font=val, fill=0)
            w = int(d.textlength(option, font=val))
            if option == circled:
                d.ellipse((x + 24, y - 14, x + 44 + w, y + 46), outline=0, width=3)
            if option == grazed:
                d.line((x - 4, y + 26, x + 8, y + 40, x + 40, y - 4), fill=0, width=3)
            x += w + 90
        y += 70
    line("【メール】", head, 60)
    line("ご希望のメールアドレス", lab, 40)
    d.text((170, y), mail, font=val, fill=0)
    line("@uspot.jp", val, 60, x=470)
    line("【サービス】", head, 60)
    line("USEN SPOT Plus", lab, 38)
    d.rectangle((170, y + 6, 194, y + 30), outline=0, width=2)
    line("申し込む", val, 70, x=204)
    line("SSID", lab, 40)


@pytest.mark.parametrize("circled", [None, "Bフレッツ", "開通通知書"])
def test_options_circled_on_a_page_without_a_table_are_judged_beside_their_words(
        circled: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rows' bounds and the boxes' words, with marks from rows found by words trusted (as
    they will be once a larger safety run allows: places.WORD_MARKS_SURE)."""
    monkeypatch.setattr(places, "WORD_MARKS_SURE", True)
    result = scanned.read_scan(_page(lambda d: _sections(d, circled)), UNHURRIED)
    assert result.fields is not None, result.notes
    got = _by_name(result)
    words_of = {"line_kind.hikari_next": "フレッツ光ネクスト", "line_kind.b_flets": "Bフレッツ",
                "line_type.family": "ファミリー", "line_type.mansion": "マンション", "check_method.notice": "開通通知書",
                "check_method.bill": "NTT請求書(裏面)", "check_method.ntt116": "116へ確認"}
    for name, word in words_of.items():
        assert got[name].sure, (name, got[name], result.notes)
        # the question's label printed over the options is not a circle of theirs
        assert (got[name].state == "marked") == (word == circled), (name, got[name])


def test_a_circle_that_hides_two_option_words_leaves_the_row_to_a_person(monkeypatch: pytest.MonkeyPatch) -> None:
    """The circle round NTT請求書(裏面) makes it and 116へ確認 unreadable: the boxes found in
    the row can no longer be told apart from a piece of the circle, so nothing there is sure."""
    monkeypatch.setattr(places, "WORD_MARKS_SURE", True)
    result = scanned.read_scan(_page(lambda d: _sections(d, "NTT請求書(裏面)")), UNHURRIED)
    assert result.fields is not None, result.notes
    got = _by_name(result)
    for name, r in got.items():
        if name.startswith("check_method"):
            assert not r.sure or r.state != "marked" or name == "check_method.bill", (name, r)
    assert got["line_kind.hikari_next"].sure and got["line_kind.hikari_next"].state == "unmarked"


# boxes (row pixels, the row's origin at 100, 500) and the option words (page pixels)
_WORDS = ((160, 505, 300, 535), (400, 505, 520, 535), (620, 505, 760, 535))


@pytest.mark.parametrize(("boxes", "words_", "fit"), [
    ([(20, 8, 45, 33), (260, 8, 285, 33), (480, 8, 505, 33)], _WORDS, True),
    # a "box" over the first letters of its word (□ and the stem of B): not the option's box
    ([(20, 8, 45, 33), (390, 8, 415, 33), (480, 8, 505, 33)], _WORDS, False),
    ([(60, 8, 85, 33), (260, 8, 285, 33), (480, 8, 505, 33)], ((160, 505, 300, 535), *_WORDS[1:]), False),
    # the second box not found: the third taken for the second, a mark for the third
    ([(20, 8, 45, 33), (480, 8, 505, 33), (600, 8, 625, 33)], _WORDS, False),
    # one word not read: its box between its neighbours' words
    ([(20, 8, 45, 33), (260, 8, 285, 33), (480, 8, 505, 33)], (_WORDS[0], None, _WORDS[2]), True),
    # … but not a box inside the word before it
    ([(20, 8, 45, 33), (150, 8, 175, 33), (480, 8, 505, 33)], (_WORDS[0], None, _WORDS[2]), False),
    # two words not read: nothing holds the boxes to their options
    ([(20, 8, 45, 33), (260, 8, 285, 33), (480, 8, 505, 33)], (_WORDS[0], None, None), False),
    # a box on another line than its word
    ([(20, 60, 45, 85), (260, 8, 285, 33), (480, 8, 505, 33)], _WORDS, False),
])
def test_each_box_must_stand_before_its_options_word(boxes, words_, fit) -> None:  # noqa: ANN001
    assert boxes_fit_words(boxes, words_, (100, 500)) is fit


def test_an_address_left_empty_is_read_empty_and_one_written_is_not() -> None:
    """The value's place found by its words: an empty address is a sure "empty" (the ground of
    a 差戻 for MAIL_ADDRESS_MISSING), a written one never is."""
    empty = _by_name(scanned.read_scan(_page(lambda d: _sections(d, None, mail="")), UNHURRIED))
    assert empty["mail_local"].state == STATE_EMPTY and empty["mail_local"].sure
    written = _by_name(scanned.read_scan(_page(lambda d: _sections(d, None, mail="midori")), UNHURRIED))
    assert written["mail_local"].state != STATE_EMPTY
    assert not written["mail_local"].sure or written["mail_local"].value == "midori"


def test_a_choice_row_with_no_room_between_the_print_around_it_is_not_read() -> None:
    """One option word read, print close on both sides of it (a word read twice, a crooked
    line): the row would end before it begins; it is left to a person, not read (a scan of the
    corpus failed in OpenCV on the empty row)."""
    from bot.forms.choice_lines import choice_rows
    from bot.forms.words import Found

    found = [Found("option:check_method.bill", "ntt請求書(裏面)", (700, 1840, 800, 1870), 1.0, 30),
             Found("check_method", "確認方法", (560, 1840, 680, 1870), 1.0, 30),
             Found("option:line_kind.b_flets", "bフレッツ", (740, 1838, 860, 1872), 0.6, 30)]
    rows = {fld: (box, why) for fld, box, why in choice_rows(found)}
    box, why = rows["check_method"]
    assert box is None and why


def test_a_place_with_no_room_reads_unsure_and_does_not_fail() -> None:
    """Print read out of order can leave a value's place with no room (名 read left of 姓): the
    reading is unsure, and the form's reading goes on (OpenCV failed on the empty area)."""
    import time

    import numpy as np

    from bot.forms import raster
    from bot.forms.cells import Page, read_contact, writing
    from bot.forms.table import Row, Table

    pdf = _page(lambda d: _sections(d, None))
    up = next(iter(raster.content_pages(pdf, pages=1, seconds=60, notes=[]))).upright
    blank = np.zeros(up.ink.shape, bool)
    page = Page(0, up, Table((0, 0, up.ink.shape[1], up.ink.shape[0]), 0, (), blank, blank), time.monotonic() + 60)
    assert writing(page, (400, 300, 380, 340))[0] == "unsure"
    last, first = read_contact(page, Row(300, 340, (100, 300, 200, 340), (400, 300, 380, 340), "ご担当者名", "contact", 1.0))
    assert last.state == first.state == "unsure"


def test_marks_in_rows_found_by_words_are_sure_only_as_one_option_marked() -> None:
    """By default (places.WORD_MARKS_SURE off) a row found by its words is sure with one option
    marked and the others clean (a circled Bフレッツ is read), or with none marked where the band
    round the row holds nothing but print and its boxes (ファミリー / マンション, 確認方法 and Plus
    here: the form's own defects, read as such); a tick that only grazes its box leaves ink in
    the band, and its row goes to a person, never back to the branch as unmarked."""
    result = scanned.read_scan(_page(lambda d: _sections(d, "Bフレッツ")), UNHURRIED)
    assert result.fields is not None, result.notes
    got = _by_name(result)
    assert got["line_kind"].sure and got["line_kind"].value == "b_flets"
    assert "line_type" not in result.unsure
    assert got["line_type"].sure and got["line_type"].value is None
    assert all(r.sure and r.state == "unmarked" for n, r in got.items() if n.startswith("line_type."))
    assert got["plus"].sure and got["plus"].value == "false"
    # 確認方法: none marked, but ink near its boxes (the circle's reach) leaves it to a person
    assert got["check_method"].value is None and not any(
        r.sure and r.state == "marked" for n, r in got.items() if n.startswith("check_method."))

    grazed = scanned.read_scan(_page(lambda d: _sections(d, "Bフレッツ", grazed="ファミリー")), UNHURRIED)
    got = _by_name(grazed)
    assert "line_type" in grazed.unsure and not got["line_type"].sure
    assert not any(r.sure and r.state == "unmarked" for n, r in got.items() if n == "line_type.family")


def test_no_line_type_beside_a_sure_hikari_next_is_sure() -> None:
    """ファミリー/マンション decide nothing beside フレッツ光ネクスト: none marked there is read (and
    the form can be accepted); beside Bフレッツ it stays with a person (the test above)."""
    result, truth = _read("sections_dotted", "dotted")  # フレッツ光ネクスト ticked, no line type
    assert (truth["fields"]["line_kind"], truth["fields"]["line_type"]) == ("hikari_next", None)
    got = _by_name(result)
    assert got["line_kind"].sure and got["line_kind"].value == "hikari_next"
    assert got["line_type"].sure and got["line_type"].value is None and "line_type" not in result.unsure
