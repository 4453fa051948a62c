"""bot.mail.body: labelled body lines, dates, unit counts — as branch staff really write them."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.mail.body import (
    CANONICAL_LABELS,
    BodyFields,
    canonical_label,
    find_date_labelled,
    is_greeting_line,
    parse_body,
    parse_count,
    parse_date,
    parse_units,
    parse_yes_no,
)

MANUAL_EXAMPLE = """申込書送付します。

顧客CD : 988776654

店舗名 : スパゲティーUSEN

リンク品使用 無

SPOT Plus該当 有

送付支店名 : 青山支店

担当者名 : 内田
"""


def test_manual_example() -> None:
    """Given the body example of manual §II, when parsed, then every field is read."""
    fields = parse_body(MANUAL_EXAMPLE)
    assert dict(fields.values) == {
        "顧客CD": "988776654",
        "店舗名": "スパゲティーUSEN",
        "リンク品使用": "無",
        "SPOT Plus該当": "有",
        "送付支店名": "青山支店",
        "担当者名": "内田",
    }
    assert fields.lines[0] == "申込書送付します。"
    assert "" not in fields.lines


@pytest.mark.parametrize(
    ("line", "label", "value"),
    [
        ("顧客CD : 988776654", "顧客CD", "988776654"),
        ("顧客CD:988776654", "顧客CD", "988776654"),
        ("顧客ＣＤ：９８８７７６６５４", "顧客CD", "988776654"),
        ("顧客CD　　：　988776654", "顧客CD", "988776654"),
        ("顧客CD 988776654", "顧客CD", "988776654"),
        ("顧客CD988776654", "顧客CD", "988776654"),
        ("顧客コード：988776654", "顧客CD", "988776654"),
        ("UNIS顧客コード : 988776654", "顧客CD", "988776654"),
        ("顧客番号 = 988776654", "顧客CD", "988776654"),
        ("・顧客CD：988776654", "顧客CD", "988776654"),
        ("■店舗名：カフェ　AOYAMA", "店舗名", "カフェ AOYAMA"),
        ("【店舗名】カフェAOYAMA", "店舗名", "カフェAOYAMA"),
        ("リンク品使用 無", "リンク品使用", "無"),
        ("リンク品使用　有", "リンク品使用", "有"),
        ("リンク品使用無", "リンク品使用", "無"),
        ("SPOT Plus該当 有", "SPOT Plus該当", "有"),
        ("SPOTPlus該当：無", "SPOT Plus該当", "無"),
        ("spot plus 該当 有", "SPOT Plus該当", "有"),
        ("Plus該当 有", "SPOT Plus該当", "有"),
        ("USEN SPOT Plus該当 : あり", "SPOT Plus該当", "あり"),
        ("送付支店 : 青山支店", "送付支店名", "青山支店"),
        ("担当者 : 内田", "担当者名", "内田"),
        ("担当：内田", "担当者名", "内田"),
        ("解約日 : 2026/11/30", "解約日", "2026/11/30"),
        ("移設先住所 : 東京都港区北青山3-1-2", "移設先住所", "東京都港区北青山3-1-2"),
        ("移設先回線種別 : Bフレッツ マンション", "移設先回線種別", "Bフレッツ マンション"),
        ("未撤去理由 : 店舗閉鎖", "理由", "店舗閉鎖"),
        ("変更内容：店舗名変更", "変更内容", "店舗名変更"),
        ("USEN SPOT Plus : 無", "SPOT Plus該当", "無"),
        ("SPOT Plus 有", "SPOT Plus該当", "有"),
        ("リンク品 : 無", "リンク品使用", "無"),
        ("回線種別 : フレッツ光ネクスト", "移設先回線種別", "フレッツ光ネクスト"),
    ],
)
def test_label_forms(line: str, label: str, value: str) -> None:
    assert parse_body(line).get(label) == value


def test_words_that_merely_start_like_a_label_are_not_labels() -> None:
    fields = parse_body("担当させていただきます。\n理由がありまして\n店舗名称変更のお知らせ")
    assert dict(fields.values) == {}


def test_short_plus_and_link_labels_need_a_colon_or_an_answer() -> None:
    """USEN SPOT Plus / リンク品 also start ordinary sentences: without a colon the line is a label
    only when a 有/無 answer follows."""
    fields = parse_body("USEN SPOT Plus 新規のお申込みです。\nリンク品 交換済みです。\nSPOT Plus該当 有")
    assert dict(fields.values) == {"SPOT Plus該当": "有"}
    assert parse_body("USEN SPOT Plus : 未定").get("SPOT Plus該当") == "未定"  # a colon: the label, unreadable


def test_the_labels_own_spelling_wins_over_a_fallback_one() -> None:
    body = "回線種別 : Bフレッツ\n移設先回線種別 : フレッツ光ネクスト\nUSEN SPOT Plus : 無\nSPOT Plus該当 有"
    fields = parse_body(body)
    assert (fields.get("移設先回線種別"), fields.get("SPOT Plus該当")) == ("フレッツ光ネクスト", "有")
    assert parse_body("移設先回線種別 : Bフレッツ マンション\n回線種別 : 光ネクスト").get("移設先回線種別") == "Bフレッツ マンション"


def test_a_sign_off_after_a_blank_line_is_not_the_value() -> None:
    assert parse_body("理由：\n\nよろしくお願いいたします。").get("理由") is None
    assert parse_body("理由：\n\n以上、よろしくお願いします。").get("理由") is None
    assert parse_body("店舗名：\n\nお疲れ様です。").get("店舗名") is None
    # … but a real value after a blank line still is, and a sign-off ends free text.
    assert parse_body("理由：\n\n店舗閉鎖のため").get("理由") == "店舗閉鎖のため"
    assert parse_body("理由：店舗閉鎖のため\nよろしくお願いします。").get("理由") == "店舗閉鎖のため"
    assert parse_body("送付支店名：\n青山支店").get("送付支店名") == "青山支店"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("お疲れ様です。", True), ("青山支店の内田です。", True), ("青山支店総務の内田でございます。", True),
        ("青山支店 総務 内田", True), ("ルーター未撤去の報告です。", True), ("下記の通りご報告いたします。", True),
        ("以下のとおりです。", True), ("よろしくお願いいたします。", True), ("お願いいたします。", True),
        ("ご確認よろしくお願いします。", True), ("以上です。", True),
        ("支店で保管中のため未撤去です。", False), ("お客様の都合です。", False), ("店舗閉鎖のため営業の再開未定です", False),
        ("お客様がルーターを紛失されました。", False), ("以上の理由で撤去できません。", False),
    ],
)
def test_is_greeting_line(line: str, expected: bool) -> None:
    assert is_greeting_line(line) is expected


def test_first_occurrence_wins_and_empty_values_do_not_block() -> None:
    fields = parse_body("顧客CD :\n店舗名 : A店\n顧客CD : 111111111\n店舗名 : B店\n")
    assert fields.get("顧客CD") == "111111111"
    assert fields.get("店舗名") == "A店"


def test_value_on_the_next_line() -> None:
    fields = parse_body("店舗名：\nスパゲティーUSEN\n担当者名 : 内田")
    assert fields.get("店舗名") == "スパゲティーUSEN"


def test_free_text_values_continue_until_a_blank_line() -> None:
    body = "お疲れ様です。\n\n理由：\n店舗閉鎖のため\nお客様と連絡が取れず撤去できません。\n\nよろしくお願いします。"
    assert parse_body(body).get("理由") == "店舗閉鎖のため\nお客様と連絡が取れず撤去できません。"


def test_quoted_lines_signature_and_original_message_are_ignored() -> None:
    body = (
        "顧客CD : 988776654\n"
        "> 店舗名 : 古い店\n"
        "＞担当者名 : 誰か\n"
        "-- \n"
        "担当者名 : 署名の人\n"
    )
    fields = parse_body(body)
    assert dict(fields.values) == {"顧客CD": "988776654"}
    outlook = "解約日 : 2026/11/30\n\n-----Original Message-----\n理由 : 前回の本文\n"
    assert dict(parse_body(outlook).values) == {"解約日": "2026/11/30"}


def test_values_are_nfkc_but_raw_values_keep_the_text() -> None:
    fields = parse_body("店舗名 : ㈱カフェ　ＡＯＹＡＭＡ①")
    assert fields.get("店舗名") == "(株)カフェ AOYAMA1"
    assert fields.raw_values["店舗名"] == "㈱カフェ　ＡＯＹＡＭＡ①"


def test_get_accepts_aliases_and_unknown_labels() -> None:
    fields = parse_body("顧客CD : 988776654")
    assert fields.get("顧客コード") == fields.get("UNIS顧客コード") == "988776654"
    assert fields.get("存在しない") is None
    assert canonical_label("SPOTPlus該当") == "SPOT Plus該当"
    assert set(CANONICAL_LABELS) == {
        "顧客CD", "店舗名", "リンク品使用", "SPOT Plus該当", "送付支店名", "担当者名",
        "解約日", "移設先住所", "移設先回線種別", "理由", "変更内容",
        "新住所", "現行機種", "交換機種", "親機/子機", "旧シリアル", "新シリアル",  # issue 23
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("有", True), ("あり", True), ("有り", True), ("○", True), ("yes", True), ("Ｙｅｓ", True),
        ("有（FGN1000）", True), ("無", False), ("なし", False), ("×", False), ("no", False),
        ("無です", False), ("該当なし", False), ("有/無", None), ("有・無", None), ("有無", None),
        ("", None), ("未定", None), (None, None),
        # negative endings win over an opener that reads like 有 (該当…, あり…)
        ("該当しません", False), ("ありません", False), ("該当しない", False), ("有りません", False),
        ("ありませんでした", False), ("該当無", False), ("使用しない", False), ("該当します", True), ("該当", True),
    ],
)
def test_parse_yes_no(value: str | None, expected: bool | None) -> None:
    assert parse_yes_no(value) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026/11/30", date(2026, 11, 30)),
        ("2026-11-30", date(2026, 11, 30)),
        ("2026.11.30", date(2026, 11, 30)),
        ("2026/1/5", date(2026, 1, 5)),
        ("2026年11月30日", date(2026, 11, 30)),
        ("2026 年 11 月 30 日（月）", date(2026, 11, 30)),
        ("令和8年11月30日", date(2026, 11, 30)),
        ("令和元年5月1日", date(2019, 5, 1)),
        ("令和８年１１月３０日", date(2026, 11, 30)),
        ("R8.11.30", date(2026, 11, 30)),
        ("平成31年4月30日", date(2019, 4, 30)),
        ("２０２６／１１／３０", date(2026, 11, 30)),
        ("2026 / 11 / 30", date(2026, 11, 30)),
        ("解約日は2026/11/30 10:00です", date(2026, 11, 30)),
        ("2026/02/30", None),
        ("2026/13/01", None),
        ("2026/02/30 (訂正 2026/03/01)", None),
        ("2026/11", None),
        ("11/30", None),
        ("なし", None),
        ("", None),
    ],
)
def test_parse_date(text: str, expected: date | None) -> None:
    assert parse_date(text) == expected


def test_find_date_labelled() -> None:
    fields = parse_body("解約日：令和8年11月25日\n移設先住所 : 2026/01/01 ビル")
    assert find_date_labelled(fields, "解約日") == date(2026, 11, 25)
    assert find_date_labelled(fields, "理由") is None
    assert find_date_labelled(parse_body("解約日 : 2026/02/30"), "解約日") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("親1台、子2台", (1, 2)),
        ("親機1台 子機2台", (1, 2)),
        ("親機：1台\n子機：3台", (1, 3)),
        ("親機1台、子機2台", (1, 2)),
        ("親 2 台 子 10 台", (2, 10)),
        ("親１台　子２台", (1, 2)),
        ("親一台 子二台", (1, 2)),
        ("子機2台", (None, 2)),
        ("親〇台、子〇台", (None, None)),
        ("親機：FGN1000 子機はCR-1", (None, None)),
        ("子機 追加", (None, None)),
        ("", (None, None)),
        # a space before the colon, 台 and kanji digits (the typed form's 台数 row)
        ("親機 : 1 台 子機 : 2 台", (1, 2)),
        ("親機 一 台 子機 二 台", (1, 2)),
        ("親機台数: 1", (1, None)),
        # words or a model name between 親機/子機 and the count (then 台 must follow)
        ("子機追加 2台", (None, 2)),
        ("子機交換 1台", (None, 1)),
        ("子機を1台追加", (None, 1)),
        ("子機(CR-1)2台", (None, 2)),
        ("親機（FGN-1000）1台", (1, None)),
        ("親機（FGN-1000）1台、子機（CR-1）3台", (1, 3)),
        # … never the other unit's count, nor a date
        ("親機 子機2台", (None, 2)),
        ("親機の交換は2026年11月30日", (None, None)),
        ("子機の追加をお願いします。", (None, None)),
    ],
)
def test_parse_units(text: str, expected: tuple[int | None, int | None]) -> None:
    assert parse_units(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2", 2), ("２", 2), ("2台", 2), (" 1 台 ", 1), ("二", 2), ("十二", 12), ("0", 0),
     ("", None), ("〇", None), ("数台", None), ("未定", None), (None, None)],
)
def test_parse_count(value: str | None, expected: int | None) -> None:
    assert parse_count(value) == expected


def test_body_fields_is_frozen() -> None:
    fields = parse_body(MANUAL_EXAMPLE)
    with pytest.raises(AttributeError):
        fields.values = {}  # type: ignore[misc]
    with pytest.raises(TypeError):
        fields.values["顧客CD"] = "x"  # type: ignore[index]


_body_pieces = st.sampled_from(
    ["顧客CD", "：", ":", " ", "　", "\n", "\r\n", ">", "-- ", "有", "無", "988776654", "理由", "担当",
     "SPOT Plus該当", "【", "】", "令和", "年", "月", "日", "/", "親", "子", "機", "台", "〇", "一", "十"]
)
_texts = st.one_of(st.text(max_size=300), st.lists(_body_pieces, max_size=40).map("".join))


@settings(max_examples=200, deadline=None)
@given(_texts)
def test_parse_body_never_raises(text: str) -> None:
    fields = parse_body(text)
    assert isinstance(fields, BodyFields)
    assert all(value for value in fields.values.values())
    assert set(fields.values) <= set(CANONICAL_LABELS)


@settings(max_examples=200, deadline=None)
@given(_texts)
def test_parse_date_never_raises(text: str) -> None:
    result = parse_date(text)
    assert result is None or isinstance(result, date)


@settings(max_examples=200, deadline=None)
@given(_texts)
def test_parse_units_never_raises(text: str) -> None:
    parent, child = parse_units(text)
    assert parent is None or parent >= 0
    assert child is None or child >= 0


@settings(max_examples=100, deadline=None)
@given(st.dates(min_value=date(2019, 5, 1), max_value=date(2099, 12, 31)))
def test_parse_date_round_trips_every_format(day: date) -> None:
    reiwa = day.year - 2018
    era = "元" if reiwa == 1 else str(reiwa)
    for text in (
        f"{day.year}/{day.month}/{day.day}",
        f"{day.year}-{day.month:02d}-{day.day:02d}",
        f"{day.year}.{day.month}.{day.day}",
        f"{day.year}年{day.month}月{day.day}日",
        f"令和{era}年{day.month}月{day.day}日",
    ):
        assert parse_date(text) == day, text
