"""The layout-free scan reader (issue 19): the form found and read by its printed words.

Each tuning family's clean sample is read right; the held-out family (two_columns) is never used
here (it is for measurement only: bench/bench_scans.py --families).  Two pages are drawn here
by hand: the form with no ruling lines at all and its labels in an order of its own, and
another company's form with many of the same words, which must not be taken for ours.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw

from bot.forms import scanned
from bot.forms.vocabulary import STATE_EMPTY, STATE_READ
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
