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

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from bot.config.limits import Limits
from bot.forms import (
    choice_rows,
    integrated_scan,
    marks,
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
    cell_ink,
    read_code,
    read_contact,
    read_name,
    read_phone,
    read_plain,
    read_ssid,
    read_units,
)
from bot.forms.normalise import (
    CHECK_METHOD_OPTIONS,
    LINE_KIND_OPTIONS,
    LINE_TYPE_OPTIONS,
)
from bot.forms.rows import assign, untrusted
from bot.forms.table import Row, Table
from bot.forms.vocabulary import (
    STATE_EMPTY,
    STATE_FILLED,
    STATE_MARKED,
    STATE_READ,
    STATE_UNMARKED,
    STATE_UNSURE,
    FieldReading,
    FormFields,
)

# Options of each choice row, in the order the form prints them (FORM-SPEC vocabulary).
CHOICES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("line_kind", tuple(k for k, _ in LINE_KIND_OPTIONS)),
    ("line_type", tuple(k for k, _ in LINE_TYPE_OPTIONS)),
    ("check_method", tuple(k for k, _ in CHECK_METHOD_OPTIONS)),
    ("plus", ("on",)),
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


# =========================================================================== marks


def _read_marks(page: Page, rows: dict[str, Row],
                choices: tuple[tuple[str, tuple[str, ...]], ...] = CHOICES) -> dict[str, list[marks.OptionMark] | None]:
    """Every choice row's options judged, or None for a row whose boxes are not found.

    Boxes are looked for at the lenient threshold and, in a row short of boxes, at the faint
    one (a thin □ at 150 dpi grey blurs lighter than the lenient threshold).  The form's box
    size is the one with which the most rows show exactly their options (a glyph's ring, 門 of
    開 or a part of 親, comes in another size and does not fit the rows); the vote of
    :func:`marks.box_side` only breaks a tie."""
    data: dict[str, tuple[np.ndarray, list, Row, int]] = {}
    for fld, keys in choices:
        row = rows.get(fld)
        if row is None:
            continue
        x0, y0, x1, y1 = row.value_box
        boxink = cell_ink(page, row.value_box, lenient=True)
        data[fld] = (boxink, marks.find_boxes(boxink, (y1 - y0) / 2), row, len(keys))
    faint: dict[str, tuple[np.ndarray, list]] = {}  # made only for rows that need it (slow)

    def faint_of(fld: str) -> tuple[np.ndarray, list]:
        if fld not in faint:
            box = data[fld][2].value_box
            ink = cell_ink(page, box, faint=True)
            faint[fld] = (ink, marks.find_boxes(ink, (box[3] - box[1]) / 2))
        return faint[fld]

    def boxes_of(fld: str, side: int, *, look_faint: bool) -> list[tuple[int, int, int, int]] | None:
        boxink, cands, _, n = data[fld]
        boxes = marks.row_boxes(boxink, cands, side, n)
        if boxes is None and look_faint and marks.rings(cands, side) < n:
            boxes = marks.row_boxes(*faint_of(fld), side, n)
        return boxes

    def choose(look_faint: bool) -> tuple[int | None, int]:
        for fld in data if look_faint else ():
            faint_of(fld)  # every row's faint rings vote too
        groups = [(d[0], d[1]) for d in data.values()] + list(faint.values())
        voted = marks.box_side(groups)
        sizes = sorted({b[2] - b[0] for _, cands in groups for sc, b in cands if sc >= 1.0})
        fits = {side: sum(boxes_of(fld, side, look_faint=look_faint) is not None for fld in data)
                for side in sizes}
        best = max(fits.values(), default=0)
        if best == 0:
            return None, 0
        # neighbouring sizes fit the same rows (a box is found at 26 and 28 px): one size
        winners = [s for s, f in fits.items() if f == best]
        near = [s for s in winners if voted is not None and abs(s - voted) <= 2]
        if near:
            return min(near, key=lambda s: abs(s - voted)), best  # type: ignore[operator]
        return (winners[len(winners) // 2] if max(winners) - min(winners) <= 4 else None), best

    side, fit = choose(look_faint=False)
    if side is None or fit < len(data):
        side, fit = choose(look_faint=True)
    out: dict[str, list[marks.OptionMark] | None] = {}
    for fld, _ in choices:
        if fld not in data or side is None:
            out[fld] = None
            continue
        row = data[fld][2]
        x0, y0, x1, y1 = row.value_box
        boxes = boxes_of(fld, side, look_faint=True)
        ink = cell_ink(page, row.value_box)
        out[fld] = None if boxes is None else marks.judge(ink, boxes, top=0, bottom=y1 - y0, cell_right=x1 - x0,
                                                          lenient=data[fld][0])
    return out


# =========================================================================== the reading


def read_scan(plain: bytes, limits: Limits) -> ScanResult:
    """Find the form among the pages and read it.  Raises nothing for bad input but
    :class:`PageTimeout` (the caller names the limit) and OcrUnavailable (a broken install)."""
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

    def trusted(name: str) -> bool:
        return ROW_OF.get(name, name) in rows and ROW_OF.get(name, name) not in bad

    choices = CHOICES if services is None else tuple(c for c in CHOICES if c[0] != "plus")
    _choice_readings(page, rows, trusted, readings, values, unsure, choices,
                     option_words=placed.option_words if placed is not None else None,
                     one_mark=placed.one_mark if placed is not None else frozenset(),
                     residue=placed.residue if placed is not None else None)

    def text_reading(name: str, t: Text | None, *, value_ok: Callable[[str], bool] = bool) -> None:
        if t is None or not trusted(name):
            unsure.append(name)
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
                      form_page=page.index, **({} if svc is None else {
                          "form": "integrated", "spot_selected": svc.spot_selected, "services": svc.services}))


def _fit_words(page: Page, row: Row, opts: list[marks.OptionMark], words_: tuple) -> bool:
    """choice_rows.boxes_fit_words on the row's ink widened by a box's side to the left: a box
    standing at the row's very start has the paper before it outside the row (seed 9696: the
    first box 7 px in, so "paper before it" could not be seen, and the row went to a person)."""
    x0, y0, x1, y1 = row.value_box
    pad = min(x0, max((m.box[2] - m.box[0] for m in opts), default=0))
    boxes = [(b[0] + pad, b[1], b[2] + pad, b[3]) for b in (m.box for m in opts)]
    return choice_rows.boxes_fit_words(boxes, words_, (x0 - pad, y0), cell_ink(page, (x0 - pad, y0, x1, y1)))


def _choice_readings(page: Page, rows: dict[str, Row], trusted: Callable[[str], bool], readings: list[FieldReading],
                     values: dict[str, object], unsure: list[str],
                     choices: tuple[tuple[str, tuple[str, ...]], ...] = CHOICES,
                     option_words: dict[str, tuple[tuple[int, int, int, int] | None, ...]] | None = None,
                     one_mark: frozenset[str] = frozenset(),
                     residue: dict[str, tuple] | None = None) -> None:
    """Every option marked / unmarked / unsure, and each choice field's value when all its
    options are sure (on a trusted row; on a row found by its words, each box must stand right
    before its option's word)."""
    def off(b: tuple[int, int, int, int], row: Row) -> tuple[float, float, float, float]:
        return (row.value_box[0] + b[0], row.value_box[1] + b[1], row.value_box[0] + b[2], row.value_box[1] + b[3])

    judged = _read_marks(page, rows, choices)
    for fld in choice_rows.shared_boxes({f: [off(m.box, rows[f]) for m in opts] for f, opts in judged.items()
                                         if opts and f in rows}):
        judged[fld] = None  # one check box judged for two choices: a row reached into its neighbour's
    for fld, keys in choices:
        row = rows.get(fld)
        opts = judged.get(fld)
        if opts is not None and option_words is not None and row is not None and not _fit_words(page, row, opts,
                                                                                                 option_words.get(fld, ())):
            opts = None  # a box of another option, or a mark taken for a box
        if opts is None or not trusted(fld):
            unsure.append(fld)
            readings.append(FieldReading(fld, None, STATE_UNSURE, 0.0, False, None,
                                         page.box(row.value_box) if row else None))
            continue
        assert row is not None
        states = []
        # a row found by its words: sure only as one option marked and the others clean, or as
        # none marked when its band holds nothing but print and its boxes (or, for ファミリー/
        # マンション beside a sure フレッツ光ネクスト, none: they decide nothing there)
        found_ = [m.state for m in opts]
        none_ = set(found_) == {marks.UNMARKED}
        if fld in one_mark and found_.count(marks.MARKED) == 1 and residue is not None:
            k = found_.index(marks.MARKED)
            words_ = (option_words or {}).get(fld, ())
            if opts[k].inside < marks.INSIDE_MARK and not choice_rows.goes_round(
                    residue.get(fld), off(opts[k].box, row), words_[k] if k < len(words_) else None):
                found_[k] = marks.UNSURE  # a circle's arc from the row above or below, maybe
        single = fld not in one_mark or found_.count(marks.MARKED) == 1 or (
            fld == "line_type" and values.get("line_kind") == "hikari_next" and none_) or (
            none_ and residue is not None and choice_rows.band_clean(residue.get(fld), [off(m.box, row) for m in opts]))
        for key, m in zip(keys, opts, strict=True):
            sure = m.state != marks.UNSURE and single
            st = {marks.MARKED: STATE_MARKED, marks.UNMARKED: STATE_UNMARKED}.get(m.state, STATE_UNSURE)
            readings.append(FieldReading(f"{fld}.{key}", None, st, m.conf, sure, None, page.box(off(m.area, row))))
            states.append((key, m.state))
        conf = min(m.conf for m in opts)
        if any(s == marks.UNSURE for _, s in states) or not single:
            unsure.append(fld)
            readings.append(FieldReading(fld, None, STATE_UNSURE, conf, False, None, page.box(row.value_box)))
            continue
        chosen = [k for k, s in states if s == marks.MARKED]
        if fld == "plus":
            values["plus"] = bool(chosen)
            readings.append(FieldReading("plus", "true" if chosen else "false", STATE_READ, conf, True, None,
                                         page.box(row.value_box)))
        else:
            value = chosen[0] if len(chosen) == 1 else None
            values[fld] = value
            readings.append(FieldReading(fld, value, STATE_READ, conf, True, None, page.box(row.value_box)))
