"""The scanned-form reader (issue 10) on generated scans: marks, filled/empty, typed values,
orientation, extra pages, what is sure and what is not, the page time limit.

Each test reads a few forms made by tests/fixtures/scans (about a second a form); the whole
corpus is measured by bench/bench_scans.py, not here.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import pickle

import pytest
from PIL import Image, ImageDraw

from bot.config.limits import DEFAULT
from bot.forms import SHAPE_SCANNED, read_form, read_termination_form
from bot.forms import marks as marks_mod
from tests.fixtures.scans import FormSpec, make
from tests.fixtures.scans.layout import font
from tests.fixtures.scans.pdf import PageImage, image_pdf
from tests.support.app import UNHURRIED

PASSWORD = "uspot"


@functools.cache
def scan(**traits: object) -> tuple[bytes, dict]:
    spec = FormSpec(index=0, seed=int(traits.pop("seed", 7)), **traits)  # type: ignore[arg-type]
    return make(spec, password=PASSWORD)


@functools.cache
def read(**traits: object):  # type: ignore[no-untyped-def]
    pdf, truth = scan(**traits)
    return read_form(pdf, password=PASSWORD, limits=UNHURRIED), truth


def assert_marks_right(reading, truth, *, allow_unsure: bool = False) -> None:  # type: ignore[no-untyped-def]
    """Every option right and sure; with ``allow_unsure``, an option may be unsure (the reader
    says so: a person looks) but never wrong, and most options are sure."""
    sure = 0
    for key, mark in truth["marks"].items():
        got = reading.reading(key)
        if allow_unsure and (got is None or got.state == "unsure"):
            assert got is None or not got.sure
            continue
        assert got is not None, key
        assert got.sure, (key, got)
        assert (got.state == "marked") == mark["marked"], (key, got, mark)
        sure += 1
    assert sure >= (len(truth["marks"]) // 2 if allow_unsure else len(truth["marks"]))


@pytest.mark.parametrize("style", ["tick", "cross", "circle", "fill"])
def test_hand_marks_are_read_from_the_image(style: str) -> None:
    """Given a handwritten form marked with ticks / X / circles / filled boxes,
    when it is read, then every option's state is right and sure."""
    reading, truth = read(fill="hand", mark_style=style, dpi=200, color="gray", seed=11)
    assert reading.shape == SHAPE_SCANNED
    assert_marks_right(reading, truth)
    kind = truth["fields"]["line_kind"]
    if "line_kind" not in reading.unsure:
        assert reading.fields.line_kind == (kind if isinstance(kind, str) else None)


@pytest.mark.parametrize("style,color", [("printed_square", "bw"), ("printed_check", "color")])
def test_printed_marks_are_read_from_the_image(style: str, color: str) -> None:
    reading, truth = read(fill="typed", mark_style=style, dpi=200, color=color, seed=12)
    assert_marks_right(reading, truth)
    assert reading.fields.plus == truth["fields"]["plus"]


def test_typed_customer_code_and_mail_exact_at_200_dpi() -> None:
    reading, truth = read(fill="typed", mark_style="printed_check", dpi=200, color="gray", seed=13)
    assert reading.fields.customer_code == truth["fields"]["customer_code"]
    assert reading.fields.mail_local == truth["fields"]["mail_local"]
    code = reading.reading("customer_code")
    assert code.sure and code.hand is False and code.conf >= 0.8
    page, x0, y0, x1, y1 = code.box
    assert page == truth["form_page"] and 0 <= x0 < x1 <= 600 and 0 <= y0 < y1 <= 850


def test_empty_mail_cell_is_detected() -> None:
    """Given a handwritten form with the address left empty (MAIL_ADDRESS_MISSING),
    then mail_local is surely empty ("" in fields), not merely unknown."""
    reading, truth = read(fill="hand", defect="MAIL_ADDRESS_MISSING", mark_style="tick", dpi=200, seed=14)
    assert truth["fields"]["mail_local"] == ""
    got = reading.reading("mail_local")
    assert got.state == "empty" and got.sure
    assert reading.fields.mail_local == ""


def test_handwritten_values_are_filled_but_not_read() -> None:
    """Handwriting is never guessed: the required cells are filled, their values are not in fields."""
    reading, truth = read(fill="hand", mark_style="cross", dpi=300, color="color", seed=15)
    for name in ("customer_code", "shop_name", "mail_local", "contact_last", "contact_first"):
        got = reading.reading(name)
        assert got.state in {"filled", "unsure"}, (name, got)
        assert getattr(reading.fields, name) is None, name
    assert reading.reading("customer_code").state == "filled"


@pytest.mark.parametrize("orientation", [90, 180])
def test_rotated_scans_are_read(orientation: int) -> None:
    reading, truth = read(fill="typed", mark_style="printed_square", dpi=200, color="gray",
                          orientation=orientation, seed=16)
    assert_marks_right(reading, truth)
    assert reading.fields.customer_code == truth["fields"]["customer_code"]
    assert f"turned {orientation}°" in reading.detail


def test_cover_sheet_is_skipped() -> None:
    reading, truth = read(fill="hand", mark_style="tick", extra_page="cover", dpi=150, seed=17)
    assert truth["form_page"] == 1
    assert reading.form_page == 1
    assert "page 1: " in reading.detail
    assert_marks_right(reading, truth)


def test_blank_page_is_skipped() -> None:
    reading, truth = read(fill="mixed", mark_style="fill", extra_page="blank", dpi=200, color="bw", seed=18)
    assert reading.form_page == 1
    assert "page 1: blank" in reading.detail
    assert_marks_right(reading, truth)


def test_unsure_values_stay_out_of_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the ink of the boxes falls between the thresholds, the options are unsure:
    the choice fields are None in fields and named in unsure, never a guessed value."""
    monkeypatch.setattr(marks_mod, "INSIDE_MARK", 5.0)
    monkeypatch.setattr(marks_mod, "HALO_MARK", 500.0)
    monkeypatch.setattr(marks_mod, "INSIDE_EMPTY", -1.0)
    monkeypatch.setattr(marks_mod, "HALO_EMPTY", -1.0)
    pdf, truth = scan(fill="hand", mark_style="fill", dpi=200, seed=19)
    reading = read_form(pdf, password=PASSWORD, limits=UNHURRIED)
    assert {"line_kind", "line_type", "plus"} <= set(reading.unsure)
    assert reading.fields.line_kind is None and reading.fields.line_type is None
    assert reading.reading("line_kind.hikari_next").state == "unsure"
    assert "unsure: " in reading.detail


def test_page_time_limit_is_named() -> None:
    pdf, _ = scan(fill="typed", mark_style="printed_check", dpi=200, seed=13)
    reading = read_form(pdf, password=PASSWORD, limits=dataclasses.replace(DEFAULT, ocr_page_seconds=0.001))
    assert reading.shape == SHAPE_SCANNED
    assert reading.limit == "ocr_page_seconds"
    assert reading.fields is None
    assert "ocr_page_seconds" in reading.detail


def test_reading_is_a_frozen_picklable_value() -> None:
    reading, _ = read(fill="typed", mark_style="printed_check", dpi=200, color="gray", seed=13)
    again = pickle.loads(pickle.dumps(reading))
    assert again == reading
    with pytest.raises(dataclasses.FrozenInstanceError):
        reading.unsure = ()  # type: ignore[misc]


# --------------------------------------------------------------------------- 解約申請書


def termination_scan(*, code: str, date: str, rotate: int = 0) -> bytes:
    """A small printed 解約申請書, scanned at 200 dpi grey, encrypted."""
    dpi = 200
    s = dpi / 72
    page = Image.new("L", (round(595 * s), round(842 * s)), 250)
    d = ImageDraw.Draw(page)
    d.text((200 * s, 80 * s), "USEN SPOT 解約申請書", font=font(round(18 * s)), fill=20)
    for i, line in enumerate((f"顧客CD：{code}", "店舗名：カフェ AOYAMA", f"解約日：{date}", "解約理由：閉店のため")):
        d.text((70 * s, (160 + 40 * i) * s), line, font=font(round(12 * s)), fill=25)
    if rotate:
        page = page.rotate(rotate, expand=True, fillcolor=250)
    buf = io.BytesIO()
    page.save(buf, "JPEG", quality=80)
    return image_pdf([PageImage(buf.getvalue(), "DCTDecode", page.width, page.height, True, dpi)], password=PASSWORD)


@pytest.mark.parametrize("rotate", [0, 180])
def test_termination_scan_reads_code_and_date(rotate: int) -> None:
    reading = read_termination_form(termination_scan(code="123456789", date="2026年11月30日", rotate=rotate),
                                    password=PASSWORD, limits=UNHURRIED)
    assert reading.shape == SHAPE_SCANNED
    assert reading.customer_code == "123456789"
    assert str(reading.termination_date) == "2026-11-30"
    assert reading.unsure == ()


# --------------------------------------------------------------------------- trust in rows


def test_a_missed_rule_makes_the_merged_rows_unsure(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a scan where the rule between the mail address and its reading is lost (the two
    rows merge and the cells shift), then the table's reading of neither is sure: never "empty"
    from the wrong place, and the reason is in the detail.  The page read by its words too
    places them by their labels: an "empty" it is sure of is taken only for a field the table
    found no trusted place for (its place took in both rows, blank: the form's defect)."""
    from bot.forms import scan_words
    from bot.forms import table as table_mod

    real = table_mod._rules
    pdf, truth = scan(fill="hand", defect="MAIL_ADDRESS_MISSING", mark_style="tick", dpi=200, seed=14)

    def lose_one(h_mask, row_sum, longest):  # type: ignore[no-untyped-def]
        rules = real(h_mask, row_sum, longest)
        # the form's rules from the top: the rule under ご希望のメールアドレス is the 14th (Ver.4)
        return rules[:13] + rules[14:]

    monkeypatch.setattr(table_mod, "_rules", lose_one)
    with monkeypatch.context() as m:
        m.setattr(scan_words, "by_words", lambda *a, **k: None)  # the table's reading alone
        reading = read_form(pdf, password=PASSWORD, limits=UNHURRIED)
    for name in ("mail_local", "mail_reading"):
        got = reading.reading(name)
        assert got is None or not got.sure, got
        assert name in reading.unsure
    assert reading.fields.mail_local is None
    assert "not trusted" in reading.detail
    reading = read_form(pdf, password=PASSWORD, limits=UNHURRIED)
    for name in ("mail_local", "mail_reading"):
        got = reading.reading(name)
        if got is not None and got.sure:
            assert got.state == "empty" and not truth["filled"][name], got
            assert "taken from them" in reading.detail and name in reading.detail


def test_typed_phones_and_units_are_read() -> None:
    reading, truth = read(fill="typed", mark_style="printed_check", dpi=200, color="gray", seed=13)
    fields = reading.fields
    for name in ("contractor_phone", "shop_phone"):
        want = truth["fields"][name]
        assert fields.__getattribute__(name) in (None, want), name
    if not truth["units_in_remarks"]:
        assert (fields.parent_units, fields.child_units) == (truth["fields"]["parent_units"],
                                                             truth["fields"]["child_units"])
    assert fields.contractor_phone == truth["fields"]["contractor_phone"] or fields.shop_phone == truth["fields"]["shop_phone"]
