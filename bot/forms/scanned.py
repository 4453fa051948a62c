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
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from bot.forms import marks, ocr, raster, table
from bot.forms.normalise import _CHECK_METHOD_OPTIONS, _LINE_KIND_OPTIONS, _LINE_TYPE_OPTIONS, _nfkc
from bot.forms.raster import PT, Upright
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
from bot.kana import reading_to_ascii
from bot.limits import Limits

# Options of each choice row, in the order the form prints them (FORM-SPEC vocabulary).
CHOICES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("line_kind", tuple(k for k, _ in _LINE_KIND_OPTIONS)),
    ("line_type", tuple(k for k, _ in _LINE_TYPE_OPTIONS)),
    ("check_method", tuple(k for k, _ in _CHECK_METHOD_OPTIONS)),
    ("plus", ("on",)),
)
REQUIRED = ("customer_code", "shop_name", "mail_local", "contact_last", "contact_first")
SURE_OCR = 0.80  # weakest character of a printed value the reader stands by
# Names in Japanese: Tesseract is confident even on handwriting it misreads, so a name is taken
# as printed (and read) only when every character is read at this confidence.
NAME_OCR = 0.95
PRINT_JITTER_PX = 1.2  # see _printed
_MAIL_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789.-_"


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


@dataclass
class _Page:
    index: int
    up: Upright
    table: Table
    deadline: float

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def box(self, b: tuple[float, float, float, float]) -> tuple[int, float, float, float, float]:
        return (self.index, *self.up.box_in_page(b))


# =========================================================================== pages


def find_form(plain: bytes, limits: Limits, accept: Callable[[Table], bool]) -> tuple[_Page | None, list[str]]:
    """The first page (of at most ``ocr_pages``) that holds the form, and notes on the others.

    Raises :class:`PageTimeout` when a page takes longer than ``ocr_page_seconds``."""
    notes: list[str] = []
    n = min(raster.page_count(plain), limits.ocr_pages)
    for index in range(n):
        deadline = time.monotonic() + limits.ocr_page_seconds
        img, size = raster.render(plain, index)
        lv = raster.levels(img)
        if lv.contrast < 60 or float((img < lv.threshold).mean()) < 0.002:
            notes.append(f"page {index + 1}: blank")
            continue
        up = raster.straighten(img, size)
        try:
            tab = table.read_table(up, deadline=deadline)
            if tab is not None and not accept(tab):
                other = raster.flipped(up, img)
                tab2 = table.read_table(other, deadline=deadline)
                if tab2 is not None and tab2.labels_found > tab.labels_found:
                    up, tab = other, tab2
        except ocr.OcrTimeout as err:
            raise PageTimeout(index) from err
        if tab is None:
            notes.append(f"page {index + 1}: no ruled table (not the form)")
            continue
        if not accept(tab):
            notes.append(f"page {index + 1}: a table without the form's labels ({tab.labels_found} found)")
            continue
        if up.rotation or abs(up.skew) > 0.05:
            notes.append(f"page {index + 1}: turned {up.rotation}° and {up.skew:+.2f}° straight")
        return _Page(index, up, tab, deadline), notes
    return None, notes


def assign(rows: tuple[Row, ...]) -> dict[str, Row]:
    """Which row holds which field: by label, and by block for the labels both blocks share
    (a 【block】 line of Ver.3, else the order: the first フリガナ/名称/住所/電話番号 are the
    contractor's, the next ones the shop's; フリガナ after the mail address is its reading,
    the next one the contact person's)."""
    out: dict[str, Row] = {}
    block: str | None = None

    def put(name: str, row: Row) -> None:
        out.setdefault(name, row)

    for row in rows:
        key = row.key
        if key is None:
            continue
        if key.startswith("block:"):
            block = key[6:]
            continue
        if key == "kana":
            if block == "contact" or "mail_reading" in out:
                put("contact_kana", row)
            elif block == "mail" or "mail_local" in out:
                put("mail_reading", row)
            else:
                b = block if block in ("contractor", "shop") else "contractor"
                if b == "contractor" and "contractor_kana" in out:
                    b = "shop"
                block = b
                put(f"{b}_kana", row)
        elif key in ("name", "address", "phone"):
            b = block if block in ("contractor", "shop") else "contractor"
            if b == "contractor" and f"contractor_{key}" in out:
                b = "shop"
            block = b
            put("shop_name" if (key == "name" and b == "shop") else f"{b}_{key}", row)
        elif key == "shop_name":
            block = "shop"
            put("shop_name", row)
        else:
            block = {"mail_local": "mail", "contact": "contact", "line_kind": "line", "line_type": "line",
                     "check_method": "line", "plus": "service", "ssid": "service"}.get(key, block)
            put(key, row)
    return out


# =========================================================================== cells


def _cell_ink(page: _Page, box: tuple[int, int, int, int], *, lenient: bool = False) -> np.ndarray:
    x0, y0, x1, y1 = box
    up, tab = page.up, page.table
    lines_ = tab.h_lines[y0:y1, x0:x1] | tab.v_lines[y0:y1, x0:x1]
    if lenient:
        lv = up.levels
        ink = up.image[y0:y1, x0:x1] < lv.paper - 0.3 * lv.contrast
    else:
        ink = up.ink[y0:y1, x0:x1].copy()
    ink &= ~lines_
    for a, b in tab.bands:
        if a < y1 and b > y0:
            ink[max(0, a - y0): max(0, b - y0)] = False
    return ink


def _ocr(page: _Page, box: tuple[int, int, int, int], *, lang: str, whitelist: str = "",
         scale: float = 1.0) -> tuple[ocr.OcrResult, tuple[int, int], float]:
    """OCR of a cell: (result, origin of its symbols in upright pixels, scale)."""
    crop = table.clean_crop(page.up, page.table, box)
    img, (ox, oy) = table.tighten_at(crop, scale=scale)
    res = ocr.recognise(img, lang=lang, whitelist=whitelist, seconds=page.left(), psm=ocr.PSM_SINGLE_LINE)
    return res, (box[0] + ox, box[1] + oy), scale


def _symbols_x(res: ocr.OcrResult, origin: tuple[int, int], scale: float) -> list[tuple[str, float, float]]:
    return [(s.text, origin[0] + s.box[0] / scale, origin[0] + s.box[2] / scale) for s in res.symbols]


def _printed_word_start(page: _Page, box: tuple[int, int, int, int], pattern: str, lang: str) -> int | None:
    """x (upright pixels) where a word printed on the form inside a cell begins (``@uspot.jp``,
    ``（9桁）``): the cell's writing area ends there."""
    res, origin, scale = _ocr(page, box, lang=lang)
    syms = _symbols_x(res, origin, scale)
    text = "".join(_nfkc(t).casefold() for t, _, _ in syms)
    m = re.search(pattern, text)
    if not m:
        return None
    # one character of slack: Tesseract's character boxes are approximate
    pos = 0
    for t, x0, _ in syms:
        n = len(_nfkc(t).casefold())
        if pos + n > m.start():
            return int(x0 - 6 * PT)
        pos += n
    return None


@dataclass
class _Text:
    state: str  # filled | empty | unsure
    conf: float
    value: str | None = None
    value_conf: float = 0.0
    hand: bool | None = None
    area: tuple[int, int, int, int] | None = None


def _writing(page: _Page, area: tuple[int, int, int, int]) -> tuple[str, float]:
    state, conf, _ = marks.writing(_cell_ink(page, area))
    return state, conf


def _clusters(ink: np.ndarray, gap_pt: float) -> list[tuple[int, int]]:
    """[x0, x1) of the groups of ink columns separated by at least ``gap_pt`` of paper."""
    cols = marks._despeckle(ink, max(3, int(1.5 * PT))).any(axis=0)
    out: list[tuple[int, int]] = []
    start = last = None
    for x in np.flatnonzero(cols).tolist():
        if start is None:
            start = last = x
        elif x - last > gap_pt * PT:
            out.append((start, last + 1))
            start = x
        last = x
    if start is not None:
        out.append((start, last + 1))
    return out


def _read_code(page: _Page, row: Row) -> _Text:
    """The customer code: the cell's writing without the printed （9桁）, found as a group of
    ink of its own that reads 桁."""
    x0, y0, x1, y1 = row.value_box
    # the lenient ink: the note is printed small and thin, lighter than the page's threshold
    groups = _clusters(_cell_ink(page, row.value_box, lenient=True), 9.0)
    note_found = False
    kept: list[tuple[int, int]] = []
    for a, b in groups:
        if b - a < 2 * PT:
            continue  # a sliver: the end of a rule, not writing
        if b - a < 45 * PT and a > 20 * PT:
            res, _, _ = _ocr(page, (x0 + a - 4, y0, x0 + b + 4, y1), lang="jpn", scale=2.0)
            if "桁" in res.text or re.search(r"\(\s*9|9\s*\)", _nfkc(res.text)):
                note_found = True
                continue
        kept.append((a, b))
    if not kept:
        return _Text(STATE_EMPTY if note_found else STATE_UNSURE, 0.97 if note_found else 0.5,
                     area=row.value_box)
    area = (x0 + kept[0][0] - 6, y0, x0 + kept[-1][1] + 6, y1)
    state, conf = _writing(page, area)
    if not note_found and state != STATE_FILLED:
        state, conf = STATE_UNSURE, 0.5
    out = _Text(state, conf, area=area)
    if state == STATE_FILLED:
        res, _, _ = _ocr(page, area, lang="eng", whitelist="0123456789-")
        digits = re.sub(r"\D", "", res.text)
        out.value, out.value_conf = digits, res.conf
        out.hand = not (len(digits) == 9 and res.conf >= 0.6 and _printed(_cell_ink(page, area)))
        if out.hand:
            out.value_conf = min(out.value_conf, 0.5)
    return out


def _printed(ink: np.ndarray) -> bool:
    """Machine print, told from handwriting by its regularity: a printer's digits all have one
    height and sit on one baseline; a hand's vary by a pixel or more at 200 dpi (the corpus
    measures ≤ 1.0 px for print, ≥ 1.4 px for handwriting; docs/scans.md)."""
    clean = marks._despeckle(ink, max(3, int(1.5 * PT))).astype(np.uint8)
    n, _, st, _ = cv2.connectedComponentsWithStats(clean, connectivity=8)
    if n < 6:
        return False
    hs = st[1:, cv2.CC_STAT_HEIGHT]
    keep = hs >= 0.6 * hs.max()
    if keep.sum() < 5:
        return False
    bottoms = (st[1:, cv2.CC_STAT_TOP] + hs)[keep]
    return bool(np.std(hs[keep]) <= PRINT_JITTER_PX and np.std(bottoms) <= PRINT_JITTER_PX)


def _read_mail(page: _Page, row: Row, reading_row: Row | None) -> tuple[_Text, _Text]:
    x0, y0, x1, y1 = row.value_box
    # the printed @uspot.jp: a group of ink of its own that reads "uspot"
    end = None
    for a, b in _clusters(_cell_ink(page, row.value_box, lenient=True), 5.0):
        if b - a < 2 * PT or a < 20 * PT:
            continue
        res, _, _ = _ocr(page, (x0 + a - 4, y0, x0 + b + 4, y1), lang="eng")
        if re.search(r"usp|spot|pot\.|@", res.text.replace(" ", "").lower()):
            end = x0 + a - 3
            break
    if end is None:
        end = _printed_word_start(page, row.value_box, r"@?uspot", "eng")
    area = (x0, y0, end if end and end > x0 + 40 * PT else x1, y1)
    state, conf = _writing(page, area)
    if end is None:
        state, conf = STATE_UNSURE, 0.5  # the printed word is in the cell: its ink says nothing
    local = _Text(state, conf, area=area)
    rd = _Text(STATE_UNSURE, 0.0)
    if reading_row is not None:
        rstate, rconf = _writing(page, reading_row.value_box)
        rd = _Text(rstate, rconf, area=reading_row.value_box)
    if state == STATE_FILLED:
        res, _, _ = _ocr(page, area, lang="eng", whitelist=_MAIL_CHARS + "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        text = res.text.replace(" ", "").lower()
        local.value, local.value_conf = text, res.conf
        local.hand = res.conf < 0.6
        if rd.state == STATE_FILLED and reading_row is not None:
            rres, _, _ = _ocr(page, reading_row.value_box, lang="jpn")
            spelled = reading_to_ascii(rres.text.replace(" ", ""))
            rd.value, rd.value_conf = rres.text.replace(" ", ""), rres.conf
            rd.hand = rres.conf < 0.6
            # The address is sure only when its reading spells the same address: two
            # independent reads agreeing is what makes a misread letter (l/1, o/0) impossible.
            if spelled and spelled == text:
                local.value_conf = max(local.value_conf, 0.99)
                rd.value_conf = max(rd.value_conf, 0.99)
            else:
                local.value_conf = min(local.value_conf, 0.5)
                rd.value_conf = min(rd.value_conf, 0.5)
        else:
            local.value_conf = min(local.value_conf, 0.5)
    return local, rd


def _read_contact(page: _Page, row: Row) -> tuple[_Text, _Text]:
    """姓 / 名: the cell split by its inner rule, each half's printed label taken away."""
    x0, y0, x1, y1 = row.value_box
    v = page.table.v_lines[y0 + 3: y1 - 3, x0 + int(20 * PT): x1 - int(20 * PT)]
    cols = np.flatnonzero(v.mean(axis=0) > 0.7) if v.size else np.array([], int)
    split = x0 + int(20 * PT) + int(np.median(cols)) if cols.size else (x0 + x1) // 2
    halves = ((x0, split - 3), (split + 4, x1))
    out = []
    for a, b in halves:
        # the printed 姓 / 名 at the half's left: a narrow first group of ink that starts there
        groups = [g for g in _clusters(_cell_ink(page, (a, y0, b, y1), lenient=True), 3.0) if g[1] - g[0] >= 2 * PT]
        start = 0
        if groups and groups[0][0] < 8 * PT and groups[0][1] - groups[0][0] < 12 * PT:
            start = groups[0][1] + 2
        area = (a + start, y0, b, y1)
        state, conf = _writing(page, area)
        t = _Text(state, conf, area=area)
        if state == STATE_FILLED:
            res, _, _ = _ocr(page, area, lang="jpn")
            t.value, t.value_conf = res.text.replace(" ", ""), min(res.conf, 0.5)
            t.hand = None  # not known: printed and handwritten names read alike to Tesseract
        out.append(t)
    return out[0], out[1]


_KATAKANA = re.compile(r"[\u30a0-\u30ff]")
_LOOKALIKE = str.maketrans("へべぺ", "ヘベペ")


def _tidy_jpn(text: str) -> str:
    """OCR text of a printed Japanese value: spaces and stray rule bits (| [ ]) away; へ/ヘ,
    which print identically, in the script of their neighbours."""
    text = text.replace(" ", "").strip("|[]｜_-—")
    out = []
    for i, ch in enumerate(text):
        near = text[max(0, i - 1): i] + text[i + 1: i + 2]
        out.append(ch.translate(_LOOKALIKE) if ch in "へべぺ" and _KATAKANA.search(near) else ch)
    return "".join(out)


def _read_plain(page: _Page, row: Row, *, lang: str, whitelist: str = "") -> _Text:
    state, conf = _writing(page, row.value_box)
    t = _Text(state, conf, area=row.value_box)
    if state == STATE_FILLED:
        res, _, _ = _ocr(page, row.value_box, lang=lang, whitelist=whitelist)
        t.value, t.value_conf = _tidy_jpn(res.text) if lang == "jpn" else res.text.strip(), res.conf
        t.hand = res.conf < NAME_OCR
        if t.hand:
            t.value_conf = min(t.value_conf, 0.5)
    return t


# =========================================================================== marks


def _read_marks(page: _Page, rows: dict[str, Row]) -> dict[str, list[marks.OptionMark] | None]:
    data: dict[str, tuple[np.ndarray, np.ndarray, list, Row]] = {}
    for fld, _ in CHOICES:
        row = rows.get(fld)
        if row is None:
            continue
        x0, y0, x1, y1 = row.value_box
        ink = _cell_ink(page, row.value_box)
        boxink = _cell_ink(page, row.value_box, lenient=True)
        data[fld] = (ink, boxink, marks.find_boxes(boxink, (y1 - y0) / 2), row)
    side = marks.box_side([(d[1], d[2]) for d in data.values()])
    out: dict[str, list[marks.OptionMark] | None] = {}
    for fld, keys in CHOICES:
        if fld not in data or side is None:
            out[fld] = None
            continue
        ink, boxink, cands, row = data[fld]
        x0, y0, x1, y1 = row.value_box
        boxes = marks.row_boxes(boxink, cands, side, len(keys))
        out[fld] = None if boxes is None else marks.judge(ink, boxes, top=0, bottom=y1 - y0, cell_right=x1 - x0)
    return out


# =========================================================================== the reading


def read_scan(plain: bytes, limits: Limits) -> ScanResult:
    """Find the form among the pages and read it.  Raises nothing for bad input but
    :class:`PageTimeout` (the caller names the limit) and OcrUnavailable (a broken install)."""
    page, notes = find_form(plain, limits, lambda t: t.labels_found >= 6)
    if page is None:
        return ScanResult(fields=None, notes=notes + ["no page holds the application form"])
    try:
        return _read_page(page, notes)
    except ocr.OcrTimeout as err:
        raise PageTimeout(page.index) from err


def _read_page(page: _Page, notes: list[str]) -> ScanResult:
    rows = assign(page.table.rows)
    readings: list[FieldReading] = []
    values: dict[str, object] = {}
    unsure: list[str] = []

    def off(b: tuple[int, int, int, int], row: Row) -> tuple[float, float, float, float]:
        return (row.value_box[0] + b[0], row.value_box[1] + b[1], row.value_box[0] + b[2], row.value_box[1] + b[3])

    # --- marks
    judged = _read_marks(page, rows)
    for fld, keys in CHOICES:
        row = rows.get(fld)
        opts = judged.get(fld)
        if opts is None:
            unsure.append(fld)
            readings.append(FieldReading(fld, None, STATE_UNSURE, 0.0, False, None,
                                         page.box(row.value_box) if row else None))
            continue
        assert row is not None
        states = []
        for key, m in zip(keys, opts, strict=True):
            sure = m.state != marks.UNSURE
            st = {marks.MARKED: STATE_MARKED, marks.UNMARKED: STATE_UNMARKED}.get(m.state, STATE_UNSURE)
            readings.append(FieldReading(f"{fld}.{key}", None, st, m.conf, sure, None, page.box(off(m.area, row))))
            states.append((key, m.state))
        conf = min(m.conf for m in opts)
        if any(s == marks.UNSURE for _, s in states):
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

    # --- text cells
    def text_reading(name: str, t: _Text | None, *, value_ok: Callable[[str], bool] = bool) -> None:
        if t is None:
            unsure.append(name)
            readings.append(FieldReading(name, None, STATE_UNSURE, 0.0, False))
            return
        box = page.box(t.area) if t.area else None
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
    text_reading("customer_code", _read_code(page, code_row) if code_row else None,
                 value_ok=lambda v: bool(re.fullmatch(r"\d{9}", v)))
    mail_row = rows.get("mail_local")
    if mail_row is not None:
        local, rd = _read_mail(page, mail_row, rows.get("mail_reading"))
        text_reading("mail_local", local, value_ok=lambda v: bool(re.fullmatch(r"[a-z0-9][a-z0-9._-]*", v)))
        text_reading("mail_reading", rd if rd.area else None)
    else:
        text_reading("mail_local", None)
        text_reading("mail_reading", None)
    shop_row = rows.get("shop_name")
    shop = _read_plain(page, shop_row, lang="jpn") if shop_row else None
    code = next((r for r in readings if r.name == "customer_code"), None)
    if shop is not None and not (code is not None and code.state == STATE_READ):
        # A shop name is taken as printed only on a form whose code was printed (a typed or
        # mixed form); on a handwritten form it is writing, never read.
        shop.value_conf = min(shop.value_conf, 0.5)
        shop.hand = True if shop.state == STATE_FILLED else shop.hand
    text_reading("shop_name", shop)
    contact_row = rows.get("contact")
    if contact_row is not None:
        last, first = _read_contact(page, contact_row)
        text_reading("contact_last", last)
        text_reading("contact_first", first)
    else:
        text_reading("contact_last", None)
        text_reading("contact_first", None)
    ssid_row = rows.get("ssid")
    if ssid_row is not None:
        # Read, but never sure: OCR cannot tell a full-width Ａ from A (SSID_NOT_HALFWIDTH).
        t = _read_plain(page, ssid_row, lang="eng")
        t.value_conf = min(t.value_conf, 0.5)
        text_reading("ssid", t)

    fields = FormFields(**{k: v for k, v in values.items()})  # type: ignore[arg-type]
    return ScanResult(fields=fields, readings=tuple(readings), unsure=tuple(dict.fromkeys(unsure)), notes=notes,
                      form_page=page.index)

