"""bot.forms: password-protected application / termination form PDFs → fields and PDF_* defects.

The samples of shared/forms/ are checked against their expected.json; everything they do
not cover is built in code by tests/fixtures/pdfs.py.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import forms
from bot.config.limits import Limits
from bot.forms import (
    DEFAULT_FIELD_NAMES,
    FIELD_NAMES,
    PDF_NOT_ENCRYPTED,
    PDF_UNREADABLE,
    PDF_WRONG_PASSWORD,
    FormFields,
    FormReading,
    normalise,
    parse_date,
    read_form,
    read_termination_form,
)
from tests.fixtures import pdfs

PASSWORD = "uspot"
SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "forms" / "samples"
EXPECTED = dict(pdfs.DEFAULT_FIELDS)


def read(data: bytes, **kwargs: object) -> FormReading:
    return read_form(data, password=PASSWORD, **kwargs)  # type: ignore[arg-type]


def fields_of(reading: FormReading) -> dict[str, object]:
    assert reading.fields is not None, reading.detail
    return reading.fields.as_dict()


# =========================================================================== the shared samples


def _sample_cases() -> Iterator[object]:
    expected_json = SAMPLES / "expected.json"
    if not expected_json.exists():
        yield pytest.param(None, None, marks=pytest.mark.skip(reason=f"shared samples not found at {SAMPLES}"))
        return
    for name, case in json.loads(expected_json.read_text(encoding="utf-8")).items():
        yield pytest.param(name, case, id=name)


@pytest.mark.parametrize(("name", "case"), list(_sample_cases()))
def test_sample_reads_to_expected_json(name: str, case: dict) -> None:
    """Given a sample form and its expected.json entry, when read with the password 'uspot',
    then the fields are exactly the expected ones (a scan: shape scanned, fields None)."""
    reading = read((SAMPLES / name).read_bytes())
    assert reading.defects == ()
    assert reading.encrypted is True
    assert reading.pages == 1
    if name.startswith("scanned"):
        assert reading.shape == "scanned"
        return  # what the reader is sure of: test_scanned_sample_sure_values_are_right
    assert reading.shape == ("fillable" if name.startswith("fillable") else "typed")
    assert fields_of(reading) == case["fields"]


def test_scanned_sample_sure_values_are_right() -> None:
    """A value the reader says it is sure of is the value on the form (spacing aside)."""
    name = "scanned-password-is-uspot.pdf"
    expected_json = SAMPLES / "expected.json"
    if not expected_json.exists():
        pytest.skip(f"shared samples not found at {SAMPLES}")
    expected = json.loads(expected_json.read_text(encoding="utf-8"))[name]["fields"]
    reading = read((SAMPLES / name).read_bytes())
    assert reading.fields is not None
    for key, value in reading.fields.as_dict().items():
        if value is not None:
            assert str(value).replace(" ", "") == str(expected[key]).replace(" ", ""), key


# =========================================================================== contract


def test_form_fields_are_frozen_and_named_as_in_the_spec() -> None:
    fields = FormFields(customer_code="988776654")
    with pytest.raises(dataclasses.FrozenInstanceError):
        fields.customer_code = "x"  # type: ignore[misc]
    assert tuple(fields.as_dict()) == FIELD_NAMES == tuple(EXPECTED)
    assert dict(DEFAULT_FIELD_NAMES) == {name: name for name in FIELD_NAMES}
    assert fields.as_dict()["plus"] is False


# =========================================================================== typed forms


@pytest.mark.parametrize("encrypt", ["aes256", "rc4"])
@pytest.mark.parametrize("layout", ["table", "stacked"])
@pytest.mark.parametrize("font", ["ttf", "cid"])
def test_typed_form_in_every_font_layout_and_cipher(font: str, layout: str, encrypt: str) -> None:
    """Given a typed form (embedded TTF or CID font, values beside or under the labels,
    AES-256 or RC4-128), when read, then every field comes back."""
    reading = read(pdfs.typed_form(font=font, layout=layout, encrypt=encrypt))  # type: ignore[arg-type]
    assert (reading.shape, reading.defects, reading.encrypted) == ("typed", (), True)
    assert fields_of(reading) == EXPECTED


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"headers": False}, id="no-block-headers"),
        pytest.param({"headers": False, "layout": "stacked"}, id="no-block-headers-stacked"),
        pytest.param({"char_space": 2.5}, id="letter-spaced"),
        pytest.param({"char_space": 2.5, "font": "cid", "layout": "stacked"}, id="letter-spaced-cid"),
        pytest.param({"borders": True}, id="table-rules"),
        pytest.param({"labels": {"customer_code": "顧客CD"}}, id="label-顧客CD"),
        pytest.param({"encrypt": "aes128"}, id="aes128"),
    ],
)
def test_typed_form_variants(options: dict) -> None:
    """Given layout variations a Word/LibreOffice export produces, then the same fields are read:
    without 【ご契約者】/【設置先】 headers the blocks follow from the order of the labels."""
    assert fields_of(read(pdfs.typed_form(**options))) == EXPECTED


def test_furigana_is_read_by_block() -> None:
    """Given three フリガナ rows (契約者, 設置先, mail address), each lands in its own field."""
    fields = fields_of(read(pdfs.typed_form({
        "contractor_kana": "ケイヤク タロウ", "shop_kana": "セッチ テン", "mail_reading": "エービー", "mail_local": "ab",
    }, layout="stacked")))
    assert (fields["contractor_kana"], fields["shop_kana"], fields["mail_reading"]) == (
        "ケイヤク タロウ", "セッチ テン", "エービー")


def test_full_width_ssid_is_kept_raw() -> None:
    """Given an SSID typed in full-width characters with U+3000, when read, then the value is
    exactly as written (the SSID check needs the full-width characters)."""
    ssid = "ｋｉｔｓｕｎｅ　Ｗｉ－Ｆｉ"
    for options in ({}, {"font": "cid", "layout": "stacked"}, {"char_space": 2.0}):
        fields = fields_of(read(pdfs.typed_form({"ssid": ssid, "plus": True}, **options)))
        assert fields["ssid"] == ssid, options
        assert fields["plus"] is True


def test_zip_and_phone_hyphen_variants_are_normalised() -> None:
    fields = fields_of(read(pdfs.typed_form({
        "contractor_zip": "１４３－００１６", "contractor_phone": "０３－１２３４－５６７８",
        "shop_zip": "107‐0061", "shop_phone": "03ー9999ー9999",
    }, font="cid")))
    assert (fields["contractor_zip"], fields["contractor_phone"]) == ("143-0016", "03-1234-5678")
    assert (fields["shop_zip"], fields["shop_phone"]) == ("107-0061", "03-9999-9999")


def test_full_width_customer_code_is_normalised() -> None:
    assert fields_of(read(pdfs.typed_form({"customer_code": "４１０１０６０６０"})))["customer_code"] == "410106060"


def test_both_line_kinds_marked_is_none() -> None:
    """Given フレッツ光ネクスト and Bフレッツ both marked, then line_kind is None (ambiguous =
    missing, FORM-SPEC) and the detail says why."""
    reading = read(pdfs.typed_form({"line_kind": ("hikari_next", "b_flets")}))
    assert fields_of(reading)["line_kind"] is None
    assert "several options marked" in reading.detail


def test_no_line_kind_marked_is_none() -> None:
    assert fields_of(read(pdfs.typed_form({"line_kind": None})))["line_kind"] is None


@pytest.mark.parametrize("layout", ["table", "stacked"])
def test_units_only_in_remarks(layout: str) -> None:
    """Given empty 親機/子機 boxes and 備考 '親1台、子2台', then the units come from 備考."""
    fields = fields_of(read(pdfs.typed_form(
        {"parent_units": None, "child_units": None, "remarks": "親1台、子2台"}, layout=layout)))  # type: ignore[arg-type]
    assert (fields["parent_units"], fields["child_units"], fields["remarks"]) == ("1", "2", "親1台、子2台")


def test_units_in_fields_win_over_remarks() -> None:
    fields = fields_of(read(pdfs.typed_form({"parent_units": "2", "child_units": "3", "remarks": "親1台、子2台"})))
    assert (fields["parent_units"], fields["child_units"]) == ("2", "3")


def test_multi_line_remarks_and_footer_is_not_a_remark() -> None:
    """Given 備考 on two lines, both lines are kept; an empty 備考 never swallows the footer."""
    assert fields_of(read(pdfs.typed_form({"remarks": "一行目\n二行目"}, layout="stacked")))["remarks"] == "一行目\n二行目"
    assert fields_of(read(pdfs.typed_form({"remarks": ""}, layout="stacked", font="cid")))["remarks"] == ""


def test_contact_name_starting_with_the_label_character() -> None:
    """Given the family name 名取 (starts with 名, the given-name label), it is still the 姓."""
    fields = fields_of(read(pdfs.typed_form({"contact_last": "名取", "contact_first": "名美"}, layout="stacked")))
    assert (fields["contact_last"], fields["contact_first"]) == ("名取", "名美")


CHOICE = {"line_kind": "b_flets", "line_type": "mansion", "check_method": "ntt116", "plus": True}
MARKS = [("■", "□"), ("☑", "☐"), ("☒", "☐"), ("✓", "□"), ("✔", "□"), ("●", "○"), ("◉", "○"),
         ("レ", "□"), ("[x]", "[ ]"), ("(x)", "( )"), ("[X]", "[ ]"), ("［ｘ］", "［\u3000］")]


@pytest.mark.parametrize("marks", MARKS, ids=[m[0] for m in MARKS])
def test_each_choice_mark_style(marks: tuple[str, str]) -> None:
    """Given the chosen options marked with one mark style (and the others open), then each
    choice is read: Bフレッツ, マンション, 116へ確認, Plus."""
    fields = fields_of(read(pdfs.typed_form(CHOICE, marks=marks)))
    assert {k: fields[k] for k in CHOICE} == CHOICE


@pytest.mark.parametrize("marks", [("■", "□"), ("●", "○"), ("レ", "□"), ("[x]", "[ ]")], ids=str)
def test_choice_marks_in_the_cid_font(marks: tuple[str, str]) -> None:
    fields = fields_of(read(pdfs.typed_form(CHOICE, marks=marks, font="cid", layout="stacked")))
    assert {k: fields[k] for k in CHOICE} == CHOICE


def test_options_printed_without_any_mark_choose_nothing() -> None:
    """Given a form whose boxes are missing altogether, then nothing counts as chosen (a
    printed 'Plus' is not a yes)."""
    fields = fields_of(read(pdfs.typed_form({"line_kind": "b_flets", "plus": True}, marks=("", ""))))
    assert (fields["line_kind"], fields["line_type"], fields["check_method"], fields["plus"]) == (None, None, None, False)


def test_choice_written_as_text_without_marks() -> None:
    assert normalise.choose("Bフレッツ", normalise.LINE_KIND_OPTIONS) == ("b_flets", "")
    assert normalise.choose("□フレッツ光ネクスト □Bフレッツ", normalise.LINE_KIND_OPTIONS) == (None, "")
    assert normalise.choose("レフレッツ光ネクスト □Bフレッツ", normalise.LINE_KIND_OPTIONS) == ("hikari_next", "")


# =========================================================================== fillable forms


def test_fillable_form_values_come_from_the_fields() -> None:
    """Given an AcroForm whose values live only in the fields, then they are read from there."""
    want = {**EXPECTED, "plus": True, "ssid": "+kitsune_Wi-Fi", "child_units": "2", "remarks": "親1台、子2台"}
    reading = read(pdfs.fillable_form(want))
    assert (reading.shape, reading.defects) == ("fillable", ())
    assert fields_of(reading) == want


def test_fillable_form_with_configured_field_names_and_rc4() -> None:
    names = {"customer_code": "顧客CD", "plus": "SPOT_Plus", "ssid": "OriginalSSID"}
    data = pdfs.fillable_form({"plus": True, "ssid": "ｗｉｄｅ"}, field_names=names, encrypt="rc4")
    fields = fields_of(read(data, field_names=names))
    assert (fields["customer_code"], fields["plus"], fields["ssid"]) == ("988776654", True, "ｗｉｄｅ")


def test_fillable_checkbox_with_another_on_state() -> None:
    assert fields_of(read(pdfs.fillable_form({"plus": True}, plus_on_state="/On")))["plus"] is True
    assert fields_of(read(pdfs.fillable_form({"plus": False})))["plus"] is False


def test_fillable_choices_written_as_japanese_labels() -> None:
    fields = fields_of(read(pdfs.fillable_form({"line_kind": "Bフレッツ", "line_type": "マンション",
                                                "check_method": "NTT請求書(裏面)"})))
    assert (fields["line_kind"], fields["line_type"], fields["check_method"]) == ("b_flets", "mansion", "bill")


def test_fillable_units_only_in_remarks() -> None:
    fields = fields_of(read(pdfs.fillable_form({"parent_units": None, "child_units": "", "remarks": "親１台、子２台"})))
    assert (fields["parent_units"], fields["child_units"]) == ("1", "2")


@pytest.mark.parametrize(("parent", "child", "expected"), [
    (": 1", ": 2", ("1", "2")),  # 親機 : 1 台 子機 : 2 台 (a space before the colon)
    ("一", "二", ("1", "2")),  # kanji digits
    ("１", "２", ("1", "2")),
    ("数", "", ("数 台", None)),  # written but no count: kept as written for the units check
    ("1", "未定", ("1", "未定 台")),
], ids=["spaced-colon", "kanji", "full-width", "unreadable-parent", "unreadable-child"])
def test_typed_units_row_written_any_way(parent: str, child: str, expected: tuple[str | None, str | None]) -> None:
    fields = fields_of(read(pdfs.typed_form({"parent_units": parent, "child_units": child})))
    assert (fields["parent_units"], fields["child_units"]) == expected


def test_a_free_line_starting_with_koki_does_not_spoil_the_units_row() -> None:
    fields = fields_of(read(pdfs.typed_form({"parent_units": "1", "child_units": "2",
                                             "remarks": "設置予定\n子機はCR-1です"})))
    assert (fields["parent_units"], fields["child_units"]) == ("1", "2")


@pytest.mark.parametrize(("parent", "child", "remarks", "expected"), [
    ("1台", "2台", "", ("1", "2")),
    ("一", "二台", "", ("1", "2")),
    (" 1 台 ", "〇", "", ("1", None)),  # the template's 〇 is an empty box
    ("1", "数台", "", ("1", "数台")),  # kept as written for the units check
    ("1", "備考参照", "親1台、子2台", ("1", "2")),  # an unreadable box is filled from 備考
], ids=["with-dai", "kanji", "template-zero", "unreadable", "unreadable-then-remarks"])
def test_fillable_units_written_any_way(parent: str, child: str, remarks: str,
                                        expected: tuple[str | None, str | None]) -> None:
    fields = fields_of(read(pdfs.fillable_form({"parent_units": parent, "child_units": child, "remarks": remarks})))
    assert (fields["parent_units"], fields["child_units"]) == expected


def test_fillable_values_under_unknown_names_are_not_read_as_empty() -> None:
    """Given an AcroForm filled under names the config does not map, then fields is None and
    the detail points at the mapping: reading them as empty would reject the branch's mail
    for our configuration problem."""
    reading = read(pdfs.fillable_form(field_names={k: f"x_{k}" for k in FIELD_NAMES}))
    assert (reading.shape, reading.fields, reading.defects) == ("fillable", None, ())
    assert "field-name mapping" in reading.detail


def test_empty_fillable_form() -> None:
    reading = read(pdfs.fillable_form({k: None for k in FIELD_NAMES}))
    assert reading.shape == "fillable"
    fields = fields_of(reading)
    assert fields["customer_code"] == "" and fields["line_kind"] is None and fields["plus"] is False


# =========================================================================== scans


@pytest.mark.parametrize("options", [{}, {"encrypt": "rc4", "with_text": "Scanned by MFP-01"}], ids=["plain", "stamp"])
def test_scanned_form(options: dict) -> None:
    """Given an image-only PDF (even with a scanner's stamp), then shape scanned, fields None,
    no defect: the caller holds it for a person."""
    reading = read(pdfs.scanned_form(**options))
    assert (reading.shape, reading.fields, reading.defects, reading.encrypted) == ("scanned", None, (), True)


def test_text_pdf_that_is_not_the_form() -> None:
    reading = read(pdfs.text_pdf(["いつもお世話になっております。", "よろしくお願いいたします。"]))
    assert (reading.shape, reading.fields, reading.defects) == ("unknown", None, ())


# =========================================================================== PDF_* defects


def test_not_encrypted_is_a_defect_but_fields_are_still_read() -> None:
    """Given a form without a password, then PDF_NOT_ENCRYPTED and the fields anyway (so the
    rejection can list every defect of the mail at once)."""
    reading = read(pdfs.typed_form(encrypt=None))
    assert (reading.defects, reading.encrypted, reading.shape) == ((PDF_NOT_ENCRYPTED,), False, "typed")
    assert fields_of(reading) == EXPECTED


def test_not_encrypted_fillable_and_scanned() -> None:
    assert read(pdfs.fillable_form(encrypt=None)).defects == (PDF_NOT_ENCRYPTED,)
    scan = read(pdfs.scanned_form(encrypt=None))
    assert (scan.shape, scan.defects) == ("scanned", (PDF_NOT_ENCRYPTED,))


def test_owner_password_only_is_not_encrypted() -> None:
    """Given a PDF whose user password is empty (only permissions are protected) and whose
    owner password happens to be the configured one, then it opens for anyone: PDF_NOT_ENCRYPTED."""
    reading = read(pdfs.typed_form(encrypt="owner_only"))
    assert (reading.defects, reading.encrypted) == ((PDF_NOT_ENCRYPTED,), False)
    assert fields_of(reading) == EXPECTED
    other = read_form(pdfs.typed_form(encrypt="owner_only", password="owner-secret"), password=PASSWORD)
    assert other.defects == (PDF_NOT_ENCRYPTED,)


@pytest.mark.parametrize("encrypt", ["aes256", "rc4"])
def test_wrong_password(encrypt: str) -> None:
    reading = read(pdfs.typed_form(encrypt=encrypt, password="another"))  # type: ignore[arg-type]
    assert (reading.defects, reading.fields, reading.encrypted) == ((PDF_WRONG_PASSWORD,), None, True)


@pytest.mark.parametrize("cut", [{"keep": 0.3}, {"keep": 0.6}, {"keep": 0.95}, {"drop": 30}], ids=str)
@pytest.mark.parametrize("make", [pdfs.typed_form, pdfs.fillable_form, pdfs.scanned_form], ids=["typed", "fillable", "scan"])
def test_truncated_encrypted_pdf_is_unreadable_not_unencrypted(make: object, cut: dict) -> None:
    """Given an encrypted PDF cut off in transit, then PDF_UNREADABLE: qpdf would otherwise
    'repair' it into an unencrypted empty file and we would say PDF_NOT_ENCRYPTED."""
    reading = read(pdfs.truncate(make(), **cut))  # type: ignore[operator]
    assert reading.defects == (PDF_UNREADABLE,)
    assert reading.fields is None
    assert "damaged or truncated" in reading.detail


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(random.Random(7).randbytes(4096), id="random-bytes"),
        pytest.param(pdfs.eml_renamed_pdf(), id="eml-renamed-pdf"),
        pytest.param(b"", id="empty"),
        pytest.param(b"%PDF-1.7\n" + random.Random(8).randbytes(2000), id="pdf-header-garbage"),
    ],
)
def test_not_a_pdf_is_unreadable(data: bytes) -> None:
    reading = read(data)
    assert (reading.defects, reading.fields, reading.shape) == ((PDF_UNREADABLE,), None, "unknown")
    assert reading.detail


def test_over_the_page_limit() -> None:
    reading = read(pdfs.typed_form(pages=21))
    assert reading.defects == (PDF_UNREADABLE,)
    assert "21 pages, over 20 (limit pdf_pages)" in reading.detail
    assert read(pdfs.typed_form(pages=3), limits=Limits(pdf_pages=3)).defects == ()


def test_over_the_size_limit() -> None:
    data = pdfs.typed_form()
    reading = read(data, limits=Limits(pdf_bytes=len(data) - 1))
    assert reading.defects == (PDF_UNREADABLE,)
    assert "(limit pdf_bytes)" in reading.detail


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_read_form_never_raises_on_damaged_bytes(data: st.DataObject) -> None:
    """Given a valid encrypted form with random bytes overwritten, then read_form returns a
    reading (never raises), and a PDF it cannot open is never called unencrypted."""
    pdf = bytearray(_valid_typed_pdf())
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(pdf) - 1))
        pdf[pos] = data.draw(st.integers(0, 255))
    reading = read(bytes(pdf))
    assert isinstance(reading, FormReading)
    assert PDF_NOT_ENCRYPTED not in reading.defects
    assert set(reading.defects) <= {PDF_UNREADABLE, PDF_WRONG_PASSWORD}


_VALID: list[bytes] = []


def _valid_typed_pdf() -> bytes:
    if not _VALID:
        _VALID.append(pdfs.typed_form(encrypt="rc4"))
    return _VALID[0]


# =========================================================================== 解約申請書

DATE_STYLES = ["2026/11/30", "2026-11-30", "2026年11月30日", "令和8年11月30日", "２０２６／１１／３０",
               "令和８年１１月３０日", "2026年 11月 30日（月）", "R8.11.30", "2026.11.30"]


@pytest.mark.parametrize("date_text", DATE_STYLES)
def test_termination_form_each_date_style(date_text: str) -> None:
    """Given a 解約申請書 with 顧客CD and 解約日 in any usual style, then both are read."""
    reading = read_termination_form(pdfs.termination_form("410106060", date_text), password=PASSWORD)
    assert (reading.shape, reading.defects, reading.encrypted) == ("typed", (), True)
    assert (reading.customer_code, reading.termination_date) == ("410106060", dt.date(2026, 11, 30))


def test_termination_form_stacked_cid_and_other_labels() -> None:
    data = pdfs.termination_form("４１０１０６０６０", "令和8年11月30日", font="cid", layout="stacked",
                                 code_label="UNIS顧客コード", date_label="解約希望日")
    reading = read_termination_form(data, password=PASSWORD)
    assert (reading.customer_code, reading.termination_date) == ("410106060", dt.date(2026, 11, 30))


@pytest.mark.parametrize("layout", ["table", "stacked"])
@pytest.mark.parametrize("date_text", [None, "未定", "2026/02/30"])
def test_termination_form_without_a_readable_date(date_text: str | None, layout: str) -> None:
    """Given a blank, non-date or impossible 解約日, then termination_date is None and no
    defect (the caller says TERMINATION_DATE_MISSING); the next row is never taken for it."""
    reading = read_termination_form(pdfs.termination_form("410106060", date_text, layout=layout),  # type: ignore[arg-type]
                                    password=PASSWORD)
    assert (reading.customer_code, reading.termination_date, reading.defects) == ("410106060", None, ())
    assert "解約日" in reading.detail


def test_termination_form_pdf_defects() -> None:
    def term(data: bytes) -> forms.TerminationReading:
        return read_termination_form(data, password=PASSWORD)

    plain = term(pdfs.termination_form(encrypt=None))
    assert (plain.defects, plain.termination_date) == ((PDF_NOT_ENCRYPTED,), dt.date(2026, 11, 30))
    assert term(pdfs.termination_form(password="x")).defects == (PDF_WRONG_PASSWORD,)
    cut = term(pdfs.truncate(pdfs.termination_form()))
    assert (cut.defects, cut.customer_code) == ((PDF_UNREADABLE,), None)
    scan = term(pdfs.scanned_form())
    assert (scan.shape, scan.defects, scan.termination_date) == ("scanned", (), None)
    assert term(pdfs.eml_renamed_pdf()).defects == (PDF_UNREADABLE,)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026/11/30", dt.date(2026, 11, 30)),
        ("解約日 : 2026-1-5", dt.date(2026, 1, 5)),
        ("令和元年5月1日", dt.date(2019, 5, 1)),
        ("平成31年4月30日", dt.date(2019, 4, 30)),
        ("２０２６年１１月３０日", dt.date(2026, 11, 30)),
        ("2026−11−30", dt.date(2026, 11, 30)),
        ("2026/13/01", None),
        ("11/30", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_date(text: str | None, expected: dt.date | None) -> None:
    assert parse_date(text) == expected
