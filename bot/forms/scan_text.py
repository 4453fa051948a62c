"""Scanned pages read by their printed labels: the 解約申請書 (顧客CD and 解約日).

The termination form has no marks the bot needs; its layout differs between printings (a ruled
table, ``label ：value`` lines over dotted lines, the code in nine digit boxes), so nothing here
depends on one drawing.  Each page is put upright (:mod:`.raster`); ruling lines (and the sides
of digit boxes) are taken out of the ink; the text lines are the bands of ink that are left.
The start of every band is read (Tesseract, one line) and matched against the labels of
:mod:`bot.forms.termination`; the rest of a labelled band is the value, read once more on its own.

A value is SURE only when
- every character of it is read at :data:`SURE` or better,
- it has the shape a value must have (nine digits; a valid date), and
- its digits are machine print: one height and one baseline (``_printed``), since Tesseract is
  confident on handwriting it misreads (a hand's 2026 read as 2926 at 0.98).
A value cell with no ink at either threshold (the page's, and a lenient one for light pen) is
surely EMPTY.  Anything else is unsure: its value is None and its name is in ``unsure``.
A page whose labels do not read is tried the other way up.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass

import cv2
import numpy as np

from bot.config.limits import Limits
from bot.forms import ocr, raster
from bot.forms.marks import despeckle
from bot.forms.normalise import fold_with_map, nfkc, parse_date
from bot.forms.raster import PT, Upright
from bot.forms.vocabulary import STATE_EMPTY, STATE_READ, STATE_UNSURE, FieldReading

SURE = 0.85  # weakest character of a value the reader stands by
PRINT_WINDOW_PX = 1  # print: the digits' heights and bottoms within this many pixels (200 dpi)
LABEL_SPAN_PT = 120.0  # how much of a band's start is read for its label
_LEAD = re.compile(r"^[|｜\[(（【「・:：\s]*")
_CODE = re.compile(r"^[\s:：|｜・.,、。]*((?:\d[\s\-－ー]*){9})(?![\s\-－ー]*\d)")
FIELDS = {"customer_code": "customer_code", "date": "termination_date"}
Box = tuple[int, int, int, int]


@dataclass
class TerminationScan:
    customer_code: str | None
    termination_date: dt.date | None
    readings: tuple[FieldReading, ...]
    unsure: tuple[str, ...]
    notes: list[str]


@dataclass
class _Found:
    state: str  # read | empty | unsure
    value: str | None
    conf: float
    box: Box  # upright pixels
    why: str = ""


def read_termination_scan(plain: bytes, limits: Limits) -> TerminationScan:
    """Raises ocr.OcrTimeout (the caller names ``ocr_page_seconds``)."""
    found: dict[str, _Found] = {}
    notes: list[str] = []
    boxes_on: dict[str, tuple[int, Upright]] = {}
    for page in raster.content_pages(plain, pages=limits.ocr_pages, seconds=limits.ocr_page_seconds, notes=notes):
        for up in (page.upright, None):
            if up is None:  # the labels did not read: the page may be upside down
                up = raster.flipped(page.upright, page.image)
            here = _read_page(up, page.deadline)
            if here:
                found = here
                boxes_on = {k: (page.index, up) for k in here}
                break
        if found:
            break
    return _result(found, boxes_on, notes)


def _result(found: dict[str, _Found], where: dict[str, tuple[int, Upright]], notes: list[str]) -> TerminationScan:
    readings: list[FieldReading] = []
    unsure: list[str] = []
    code: str | None = None
    date: dt.date | None = None
    for key, name in FIELDS.items():
        f = found.get(key)
        if f is None:
            unsure.append(name)
            notes.append(f"{name}: label not found")
            continue
        index, up = where[key]
        box = (index, *up.box_in_page(tuple(float(v) for v in f.box)))  # type: ignore[arg-type]
        if f.state == STATE_READ and key == "customer_code":
            code = f.value
        elif f.state == STATE_READ:
            date = dt.date.fromisoformat(f.value or "")
        if f.state == STATE_UNSURE:
            unsure.append(name)
            notes.append(f"{name}: {f.why}")
        hand = None if f.state == STATE_EMPTY else (f.state != STATE_READ and f.why.startswith("not print"))
        readings.append(FieldReading(name, f.value, f.state, round(f.conf, 3), f.state != STATE_UNSURE,
                                     hand, box))  # type: ignore[arg-type]
    return TerminationScan(code, date, tuple(readings), tuple(unsure), notes)


# The labels of bot.forms.termination, loosened for OCR (a kana read twice or a dakuten lost:
# 'UNIS顧客コゴード'); a band must START with one, so a sentence that mentions 解約日 is no label.
_SCAN_LABELS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("customer_code", re.compile(r"(?:unis)?[顧願]客(?:[コゴ].{0,2}[ドト]|cd|c0|番号|no)")),
    ("date", re.compile(r"解約(?:希望|予定|.)?日")),
)


def _read_page(up: Upright, deadline: float) -> dict[str, _Found]:
    """The labelled values of one upright page; empty when no label reads."""
    ink = up.ink
    rules = raster.lines(ink, horizontal=True, min_len_pt=40) | raster.lines(ink, horizontal=False, min_len_pt=14)
    rules = cv2.dilate(rules.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    clean = despeckle(ink & ~rules, max(3, int(1.2 * PT)))
    lenient = despeckle(raster.lenient_ink(up) & ~rules, max(3, int(1.2 * PT)))
    norm = raster.stretched(up.image, up.levels)
    out: dict[str, _Found] = {}
    for y0, y1 in _bands(clean):
        xs = np.flatnonzero(clean[y0:y1].any(axis=0))
        if xs.size == 0:
            continue
        x0, x_end = int(xs[0]), int(xs[-1]) + 1
        label_box = (max(0, x0 - 4), max(0, y0 - 4), min(x_end, x0 + int(LABEL_SPAN_PT * PT)), y1 + 4)
        res = ocr.recognise(_crop(norm, clean, label_box), psm=ocr.PSM_SINGLE_LINE,
                            seconds=deadline - time.monotonic())
        key, end = _match_label(res)
        if key is None or key in out:
            continue
        value_x0 = label_box[0] + end + int(2 * PT)
        row = (y0 - int(3 * PT), y1 + int(3 * PT))
        out[key] = _value(key, norm, clean, lenient, (value_x0, row[0], x_end + int(4 * PT), row[1]), deadline,
                          row_right=up.image.shape[1])
    return out


def _match_label(res: ocr.OcrResult) -> tuple[str | None, int]:
    """(label key, right edge of the label in the crop's pixels) when the band starts with one."""
    text = res.text
    lead = _LEAD.match(text)
    start = lead.end() if lead else 0
    folded, origin = fold_with_map(text[start:])
    for key, regex in _SCAN_LABELS:
        m = regex.match(folded)
        if m:
            last = start + origin[m.end() - 1]  # index of the label's last character in ``text``
            sym = _symbol_at(res, last)
            return (key, sym.box[2]) if sym is not None else (None, 0)
    return None, 0


def _symbol_at(res: ocr.OcrResult, index: int) -> ocr.Symbol | None:
    """The symbol that printed ``res.text[index]``."""
    pos, last = 0, -1
    for s in res.symbols:
        if last >= 0 and s.word != last:
            pos += 1
        if pos <= index < pos + len(s.text):
            return s
        pos += len(s.text)
        last = s.word
    return None


def _value(key: str, norm: np.ndarray, clean: np.ndarray, lenient: np.ndarray, box: Box, deadline: float, *,
           row_right: int) -> _Found:
    x0, y0, x1, y1 = box
    x1 = min(x1, row_right)
    y0 = max(0, y0)
    if x1 - x0 < 4 or not lenient[y0:y1, x0:x1].any():
        return _Found(STATE_EMPTY, "", 0.97, box) if not clean[y0:y1, x0:x1].any() else _Found(
            STATE_UNSURE, None, 0.5, box, "light ink only")
    if not clean[y0:y1, x0:x1].any():
        return _Found(STATE_UNSURE, None, 0.5, box, "light ink only")
    crop = _crop(norm, clean, (x0, y0, x1, y1))
    res = ocr.recognise(crop, psm=ocr.PSM_SINGLE_LINE, seconds=deadline - time.monotonic())
    text = nfkc(res.text)
    if key == "customer_code":
        m = _CODE.match(text)
        digits = re.sub(r"\D", "", m.group(1)) if m else ""
        if len(digits) != 9:
            return _Found(STATE_UNSURE, None, res.conf, box, f"not a 9-digit code: {res.text!r}")
        used = _digit_symbols(res)[:9]
        count, right = 9, used[-1].box[2] + 3 if len(used) == 9 else 0
    else:
        day = parse_date(re.sub(r"\s+", "", text))
        if day is None:
            return _Found(STATE_UNSURE, None, res.conf, box, f"not a date: {res.text!r}")
        digits, used = day.isoformat(), _digit_symbols(res)
        count, right = len(used), float(x1 - x0)
    conf = min((s.conf for s in used), default=0.0)
    if conf < SURE:
        return _Found(STATE_UNSURE, None, conf, box, f"read at {conf:.2f}: {res.text!r}")
    if not _printed(clean[y0:y1, x0:x1], count, right):
        return _Found(STATE_UNSURE, None, min(conf, 0.5), box, f"not print (handwriting?): {res.text!r}")
    return _Found(STATE_READ, digits, conf, box)


def _digit_symbols(res: ocr.OcrResult) -> list[ocr.Symbol]:
    return [s for s in res.symbols if nfkc(s.text).isdigit()]


def _printed(ink: np.ndarray, n_digits: int, right: float) -> bool:
    """Machine print, told from handwriting by its regularity (cf. ``cells.printed``): the value's
    digits are ``n_digits`` pieces of ink of one height and on one baseline.  The largest group
    of pieces (left of ``right``) whose heights and bottoms lie within a window of :data:`PRINT_WINDOW_PX`
    must hold exactly that many: a hand's digits vary by a pixel or more, and a digit that OCR
    dropped (a printed 29 read as 2) leaves one piece too many; so does a kanji of the digits'
    height (then the value is unsure: a person looks)."""
    clean = despeckle(ink, max(3, int(1.5 * PT))).astype(np.uint8)
    n, _, st, _ = cv2.connectedComponentsWithStats(clean, connectivity=8)
    w, h = st[1:, cv2.CC_STAT_WIDTH], st[1:, cv2.CC_STAT_HEIGHT]
    ok = (w > 2) & (h >= 3 * PT) & (st[1:, cv2.CC_STAT_LEFT] + w / 2 <= right)
    hs, bs = h[ok], (st[1:, cv2.CC_STAT_TOP] + h)[ok]
    window = PRINT_WINDOW_PX
    best = 0
    for i in range(hs.size):
        group = (hs >= hs[i]) & (hs <= hs[i] + window)
        for b in bs[group]:
            best = max(best, int((group & (bs >= b) & (bs <= b + window)).sum()))
    return n_digits >= 4 and best == n_digits


def _crop(norm: np.ndarray, clean: np.ndarray, box: Box) -> np.ndarray:
    """The box of the page with everything that is not kept ink (rules, specks) made paper; its
    symbols' boxes are in the box's own pixels."""
    x0, y0, x1, y1 = (max(0, v) for v in box)
    piece = norm[y0:y1, x0:x1].copy()
    keep = cv2.dilate(clean[y0:y1, x0:x1].astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    piece[~keep] = 255
    return piece


def _bands(clean: np.ndarray) -> list[tuple[int, int]]:
    """Text lines: runs of pixel rows holding ink, at least 4 pt high (dotted lines and dust
    under a line of text are lower), joined across gaps of under 1.5 pt."""
    rows = clean.sum(axis=1) > 2
    out: list[tuple[int, int]] = []
    start = last = None
    for y in np.flatnonzero(rows).tolist():
        if start is None:
            start = last = y
        elif y - last > 1.5 * PT:
            out.append((start, last + 1))
            start = y
        last = y
    if start is not None:
        out.append((start, last + 1))
    return [(a, b) for a, b in out if b - a >= 4 * PT]
