"""The pure layers of 法人一括発注依頼 (bot/corporate/sheet, rows, checks) and the subject: real
.xlsx and CSV bytes in, sites and row defects out."""

from __future__ import annotations

import pytest

from bot.corporate import CORPORATE_LIST_INVALID, CorporateSettings
from bot.corporate.checks import all_defects
from bot.corporate.reading import Known, read_list
from bot.corporate.rows import count_of, yes_no
from bot.corporate.sheet import Caps
from bot.domain import classify
from tests.fixtures.corporate import GOOD_ROWS, HEADER, XLSX_TYPE, csv_bytes, xlsx

CAPS = Caps()


@pytest.mark.parametrize("subject", [
    "USEN SPOT 法人一括発注依頼",
    "Re: 【USEN SPOT】法人一括発注依頼_さくらカフェ",
    "ＵＳＥＮ　ＳＰＯＴ　法人一括発注依頼",
    "Fw: USENSPOT 法人一括 発注依頼 988000001",
])
def test_the_corporate_subject_is_its_own_kind(subject: str) -> None:
    assert classify.classify_subject(subject).kind == classify.CORPORATE_ORDER


def test_the_corporate_subject_is_not_offered_to_branches_and_does_not_steal_others() -> None:
    assert "法人一括発注依頼" not in [p for p, _k in classify.PREFIXES]
    assert classify.classify_subject("USEN SPOT 器材発注依頼_988776654").kind == classify.EQUIPMENT_ORDER
    assert classify.classify_subject("USEN SPOT 法人発注_x").kind is None
    assert classify.classify_subject("USEN SPOT 法人発注_x", corporate_prefix="法人発注").kind == classify.CORPORATE_ORDER
    assert classify.LABELS[classify.CORPORATE_ORDER] == "法人一括発注依頼"


def test_headers_are_found_by_their_variants_below_a_title() -> None:
    header = ("No.", "顧客CD", "設置先名", "設置先住所", "TEL", "親機", "子機", "Enterprise版", "企業専用SSID")
    reading = read_list(xlsx([("1", *GOOD_ROWS[0])], header=header), "list.xlsx", XLSX_TYPE, CAPS)
    assert reading.sites is not None and reading.sites.header_row == 2 and reading.sites.missing == ()
    site = reading.sites.sites[0]
    assert (site.row, site.get("shop_name"), site.get("phone"), site.get("ssid")) == (
        3, "さくらカフェ 渋谷店", "03-1111-1111", "sakura-cafe")
    assert all_defects(reading) == []


@pytest.mark.parametrize("encoding", ["cp932", "utf-8", "utf-8-sig"])
def test_csv_in_cp932_or_utf8_with_or_without_bom(encoding: str) -> None:
    reading = read_list(csv_bytes(GOOD_ROWS, encoding=encoding), "顧客リスト.CSV", "application/octet-stream", CAPS)
    assert reading.sites is not None
    assert [s.get("shop_name") for s in reading.sites.sites] == [r[1] for r in GOOD_ROWS]
    assert all_defects(reading) == []


def test_full_width_digits_and_marks_are_read() -> None:
    assert count_of("２台") == 2 and count_of("") is None and count_of("two") is None
    assert (yes_no("有"), yes_no("〇"), yes_no("無"), yes_no(""), yes_no("たぶん")) == (True, True, False, False, None)


def test_a_code_that_is_not_nine_digits_and_a_known_code_are_named() -> None:
    rows = [("98800000", "店A", "住所A", "03-1", "1", "0", "無", ""),
            ("988000002", "店B", "住所B", "03-2", "1", "0", "無", "")]
    reading = read_list(csv_bytes(rows), "l.csv", "text/csv", CAPS).with_known(Known(codes=frozenset({"988000002"})))
    assert [(d.detail["row"], d.detail["column"]) for d in all_defects(reading)] == [("2", "顧客コード"), ("3", "顧客コード")]


def test_a_file_that_is_no_list() -> None:
    assert all_defects(read_list(b"x", "a.pdf", "application/pdf", CAPS))[0].code == CORPORATE_LIST_INVALID
    broken = read_list(b"PK\x03\x04 not a zip", "a.xlsx", XLSX_TYPE, CAPS)
    assert broken.sites is None and "開けません" in broken.problem
    no_header = read_list(csv_bytes([("a", "b")], header=("x", "y")), "a.csv", "text/csv", CAPS)
    assert [d.code for d in all_defects(no_header)] == [CORPORATE_LIST_INVALID]
    assert len(HEADER) == 8


def test_corporate_senders_by_address_or_domain() -> None:
    s = CorporateSettings(senders=("hojin.usen.co.jp", "boss@usen.co.jp"))
    assert s.is_corporate_sender("tanaka@hojin.usen.co.jp")
    assert s.is_corporate_sender("a@tokyo.hojin.usen.co.jp")
    assert s.is_corporate_sender("BOSS@usen.co.jp")
    assert not s.is_corporate_sender("uchida@aoyama.usen.co.jp")
    assert not s.is_corporate_sender("x@hojin.usen.co.jp.evil.example")
    assert not CorporateSettings().is_corporate_sender("tanaka@hojin.usen.co.jp")
