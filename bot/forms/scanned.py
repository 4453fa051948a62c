"""Scanned forms: image-only pages → a reading that says what is sure and what is not.

How a scan is read (docs/scans.md has the figures):

1. **Pages.**  Each page (up to ``ocr_pages``) is rasterised at 200 dpi (:mod:`.raster`),
   judged against its own paper and ink levels; a page with (almost) no ink is blank.
2. **Upright.**  Skew and sideways are found from projection profiles, upside down from the
   position of the table's label column; a page whose labels do not read is tried once the
   other way up.
3. **The form.**  The first page with a ruled table whose label column reads as the form's
   labels (:mod:`.table`) is the form; a cover sheet has neither.
4. **Marks and writing** come from the image (:mod:`.marks`), **printed values** from OCR
   cell by cell (:mod:`.ocr`), each with a confidence; what the reader is not sure of is
   ``unsure`` and never guessed.

Every page has ``ocr_page_seconds``; over it, the reading names the page and the limit.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.config.limits import Limits
from bot.forms import (
    choice_marks,
    integrated_scan,
    ocr,
    places,
    raster,
    scan_words,
    table,
)
from bot.forms.address import read_mail
from bot.forms.cells import (
    SURE_OCR,
    Page,
    Text,
    read_code,
    read_contact,
    read_name,
    read_phone,
    read_plain,
    read_ssid,
    read_units,
)
from bot.forms.choice_marks import CHOICES
from bot.forms.rows import assign, untrusted
from bot.forms.table import Table
from bot.forms.vocabulary import (
    STATE_EMPTY,
    STATE_FILLED,
    STATE_READ,
    STATE_UNSURE,
    FieldReading,
    FormFields,
)

REQUIRED = ("customer_code", "shop_name", "mail_local", "contact_last", "contact_first")


class PageTimeout(Exception):
    def __init__(self, page: int) -> None:
        super().__init__(f"page {page + 1}")
        self.page = page


@dataclass
class ScanResult:
    """What :func:`read_scan` found (turned into a FormReading by bot.forms)."""

    fields: FormFields | None
    readings: tuple[FieldReading, ...] = ()
    unsure: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)
    limit: str | None = None
    form_page: int | None = None
    form: str = "dedicated"  # "integrated": a 統合申込書 (bot/forms/integrated_scan.py)
    spot_selected: bool | None = None
    services: tuple[str, ...] = ()
    wrapped: tuple[str, ...] = ()  # choices whose options the words' reading found on several lines
    unplaced: tuple[str, ...] = ()  # text fields unsure because their place was not found or not trusted


# =========================================================================== pages


def find_form(plain: bytes, limits: Limits, accept: Callable[[Table], bool]
              ) -> tuple[Page | None, list[str], places.Places | None]:
    """The first page (of at most ``ocr_pages``) that holds the form, and notes on the others;
    the third item is where each field stands when the page was found by its printed words
    (:mod:`.places`) rather than by its ruled table.

    Raises :class:`PageTimeout` when a page takes longer than ``ocr_page_seconds``."""
    notes: list[str] = []
    for page in raster.content_pages(plain, pages=limits.ocr_pages, seconds=limits.ocr_page_seconds, notes=notes):
        index, deadline, img, up = page.index, page.deadline, page.image, page.upright
        try:
            tab = table.read_table(up, deadline=deadline)
            if tab is not None and not accept(tab):
                other = raster.flipped(up, img)
                tab2 = table.read_table(other, deadline=deadline)
                if tab2 is not None and tab2.labels_found > tab.labels_found:
                    up, tab = other, tab2
            if tab is None or not accept(tab):
                found = scan_words.by_words(index, up, img, deadline)
                if found is not None:
                    notes.append(f"page {index + 1}: found by its printed words ({found[0].up.rotation}°, "
                                 f"values {found[1].side} of their labels)")
                    return found[0], notes, found[1]
        except ocr.OcrTimeout as err:
            raise PageTimeout(index) from err
        if tab is None:
            notes.append(f"page {index + 1}: neither a ruled table nor the form's words (not the form)")
            continue
        if not accept(tab):
            notes.append(f"page {index + 1}: a table without the form's labels ({tab.labels_found} found)")
            continue
        if up.rotation or abs(up.skew) > 0.05:
            notes.append(f"page {index + 1}: turned {up.rotation}° and {up.skew:+.2f}° straight")
        return Page(index, up, tab, deadline), notes, None
    return None, notes, None


# =========================================================================== the reading


def read_scan(plain: bytes, limits: Limits) -> ScanResult:
    """Find the form among the pages and read it.  Raises nothing for bad input but
    :class:`PageTimeout` (the caller names the limit) and OcrUnavailable (a broken install)."""
    return _written_phones(_read_scan(plain, limits))


def _written_phones(result: ScanResult) -> ScanResult:
    """The phones of a form whose code is handwriting are writing too, never read: a neat hand's
    digits are of one height on one baseline, and were read as print a digit off (seeds 12222,
    12323, 12626: handwritten forms).  (Where the code was not read at all, a typed form's phones
    are read as before.)"""
    code = next((r for r in result.readings if r.name == "customer_code"), None)
    if result.fields is None or code is None or code.state != STATE_FILLED or code.hand is not True:
        return result
    phones = ("contractor_phone", "shop_phone")
    readings = tuple(dataclasses.replace(r, state=STATE_FILLED, conf=min(r.conf, 0.5), hand=True)
                     if r.name in phones and r.state == STATE_READ else r for r in result.readings)
    fields = dataclasses.replace(result.fields, **{n: None for n in phones})
    return dataclasses.replace(result, readings=readings, fields=fields)


def _read_scan(plain: bytes, limits: Limits) -> ScanResult:
    page, notes, placed = find_form(plain, limits, lambda t: t.labels_found >= 6)
    if page is None:
        return ScanResult(fields=None, notes=notes + ["no page holds the application form"])
    if placed is not None:
        try:
            return _read_page(page, notes, placed=placed)
        except ocr.OcrTimeout as err:
            raise PageTimeout(page.index) from err
    try:
        # A 統合申込書: its services table is read apart, its rows kept out of the shared reading.
        services = integrated_scan.find_services(page)
        if services is not None:
            page = integrated_scan.without_services(page, services)
            return _read_page(page, notes, services)
        result = _read_page(page, notes)
        if not result.unsure:
            return result
        # Part of the table did not read (a code above the table, a row not trusted): the page
        # read by its words too, and the two readings put together.
        words_read = scan_words.by_words(page.index, page.up, None, page.deadline)
        if words_read is None:
            return result
        return scan_words.together(result, _read_page(words_read[0], [], placed=words_read[1]),
                                   choices={c for c, _ in CHOICES})
    except ocr.OcrTimeout as err:
        raise PageTimeout(page.index) from err


# The row each reading rests on.
ROW_OF = {"contact_last": "contact", "contact_first": "contact", "parent_units": "units", "child_units": "units"}


def _read_page(page: Page, notes: list[str], services: integrated_scan.Services | None = None,
               placed: places.Places | None = None) -> ScanResult:
    if placed is None:
        rows = assign(page.table.rows)
        bad = untrusted(page.up, page.table, rows)
    else:
        rows, bad = placed.rows, dict(placed.untrusted)
    for name, why in sorted(bad.items()):
        notes.append(f"row {name}: not trusted, {why}")
    readings: list[FieldReading] = []
    values: dict[str, object] = {}
    unsure: list[str] = []
    unplaced: list[str] = []

    def trusted(name: str) -> bool:
        return ROW_OF.get(name, name) in rows and ROW_OF.get(name, name) not in bad

    choices = CHOICES if services is None else tuple(c for c in CHOICES if c[0] != "plus")
    choice_marks.choice_readings(page, rows, trusted, readings, values, unsure, choices,
                     option_words=placed.option_words if placed is not None else None,
                     one_mark=placed.one_mark if placed is not None else frozenset(),
                     residue=placed.residue if placed is not None else None,
                     parts=placed.parts if placed is not None else None)

    def text_reading(name: str, t: Text | None, *, value_ok: Callable[[str], bool] = bool) -> None:
        if t is None or not trusted(name):
            unsure.append(name)
            unplaced.append(name)
            box = page.box(t.area) if t is not None and t.area else None
            readings.append(FieldReading(name, None, STATE_UNSURE, 0.0, False, None, box))
            return
        box = page.box(t.area) if t.area else None
        if t.state == STATE_EMPTY and placed is not None and name in ("contact_last", "contact_first"):
            # 姓 / 名 placed apart by their print: one small character (誠) in a frame of its own
            # may show less ink than "filled" needs (tuning corpus, seed 778): never a sure empty
            t = Text(STATE_UNSURE, 0.5, area=t.area)
        if t.state == STATE_EMPTY:
            values[name] = ""
            readings.append(FieldReading(name, "", STATE_EMPTY, t.conf, True, None, box))
            return
        if t.state == STATE_UNSURE:
            unsure.append(name)
            readings.append(FieldReading(name, None, STATE_UNSURE, t.conf, False, None, box))
            return
        if t.value is not None and not t.hand and t.value_conf >= SURE_OCR and value_ok(t.value):
            values[name] = t.value
            readings.append(FieldReading(name, t.value, STATE_READ, round(t.value_conf, 3), True, False, box))
            return
        # written (filled is sure) but the value is not read: handwriting, or a print the
        # reader is not sure of.  The field has writing: checks of presence pass, checks of
        # the exact value are skipped.
        readings.append(FieldReading(name, t.value if t.value else None, STATE_FILLED, t.conf, True,
                                     t.hand if t.hand is not None else True, box))

    code_row = rows.get("customer_code")
    text_reading("customer_code", read_code(page, code_row) if code_row else None,
                 value_ok=lambda v: bool(re.fullmatch(r"\d{9}", v)))
    code = next((r for r in readings if r.name == "customer_code"), None)
    printed_form = code is not None and code.state == STATE_READ
    svc = integrated_scan.read_services(page, services, printed_form=printed_form) if services else None
    if svc is not None:
        readings.extend(svc.readings)
        values.update(svc.values)
        unsure.extend(svc.unsure)
        notes.extend(svc.notes)
    mail_row = rows.get("mail_local")
    if mail_row is not None:
        local, rd = read_mail(page, mail_row, rows.get("mail_reading"), printed_form=printed_form)
        text_reading("mail_local", local, value_ok=lambda v: bool(re.fullmatch(r"[a-z0-9][a-z0-9._-]*", v)))
        text_reading("mail_reading", rd if rd.area else None)
    else:
        text_reading("mail_local", None)
        text_reading("mail_reading", None)
    shop_row = rows.get("shop_name")
    shop = read_plain(page, shop_row, lang="jpn") if shop_row else None
    if shop is not None and not printed_form:
        # A shop name is taken as printed only on a form whose code was printed (a typed or
        # mixed form); on a handwritten form it is writing, never read.
        shop.value_conf = min(shop.value_conf, 0.5)
        shop.hand = True if shop.state == STATE_FILLED else shop.hand
    text_reading("shop_name", shop)
    contact_row = rows.get("contact")
    if "contact_last" in rows:  # 姓 and 名 placed apart by their printed words
        last, first = read_name(page, rows["contact_last"]), read_name(page, rows["contact_first"])
    else:
        last, first = read_contact(page, contact_row) if contact_row is not None else (None, None)
    text_reading("contact_last", last)
    text_reading("contact_first", first)
    for name in ("contractor_phone", "shop_phone"):
        row = rows.get(name)
        if row is not None:
            text_reading(name, read_phone(page, row))
    units_row = rows.get("units")
    if units_row is not None:
        parent, child = read_units(page, units_row, printed_form=printed_form)
        text_reading("parent_units", parent, value_ok=str.isdigit)
        text_reading("child_units", child, value_ok=str.isdigit)
        for name in ("parent_units", "child_units"):
            if values.get(name) == "":
                values[name] = None  # FormFields: no count is None
    ssid_row = rows.get("ssid")
    if ssid_row is not None:
        text_reading("ssid", read_ssid(page, ssid_row))

    fields = FormFields(**{k: v for k, v in values.items()})  # type: ignore[arg-type]
    return ScanResult(fields=fields, readings=tuple(readings), unsure=tuple(dict.fromkeys(unsure)), notes=notes,
                      form_page=page.index, wrapped=tuple(placed.parts) if placed is not None else (),
                      unplaced=tuple(unplaced),
                      **({} if svc is None else {
                          "form": "integrated", "spot_selected": svc.spot_selected, "services": svc.services}))
