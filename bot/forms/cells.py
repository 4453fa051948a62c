"""The text cells of a scanned form: is there writing (filled / empty / unsure), and, for
machine print, what does it say (OCR cell by cell, each value with a confidence).

Every cell is judged against its OWN ink at two thresholds: the page's ink threshold and a
lenient one (light pen, blue ink in a grey scan, a thin print).  A cell is ``empty`` only when
neither shows writing, ``filled`` when the strict one does, and ``unsure`` otherwise.  The
printed words a cell holds (``（9桁）``, ``@uspot.jp``, ``姓``/``名``) are found as ink of their
own that OCR reads as such and taken away first; when they cannot be found, the cell's ink
says nothing and its state is unsure.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import cv2
import numpy as np

from bot.forms import frames, marks, ocr, table
from bot.forms.normalise import nfkc, twin_script
from bot.forms.raster import PT, Upright
from bot.forms.table import Row, Table
from bot.forms.vocabulary import STATE_EMPTY, STATE_FILLED, STATE_UNSURE

SURE_OCR = 0.80  # weakest character of a printed value the reader stands by
# Names in Japanese: Tesseract is confident even on handwriting it misreads, so a name is taken
# as printed (and read) only when every character is read at this confidence.
NAME_OCR = 0.95
PRINT_JITTER_PX = 1.2  # see printed()
Box = tuple[int, int, int, int]


@dataclass
class Page:
    """The form's page: upright image, its table, and the page's deadline."""

    index: int
    up: Upright
    table: Table
    deadline: float

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def box(self, b: tuple[float, float, float, float]) -> tuple[int, float, float, float, float]:
        return (self.index, *self.up.box_in_page(b))


@dataclass
class Text:
    state: str  # filled | empty | unsure
    conf: float
    value: str | None = None
    value_conf: float = 0.0
    hand: bool | None = None
    area: Box | None = None


def cell_ink(page: Page, box: Box, *, lenient: bool = False, wide: bool = False, faint: bool = False) -> np.ndarray:
    """Ink of a cell without the ruling lines; ``lenient``: at the lenient threshold; ``faint``:
    at a fainter one still (a thin printed box at 150 dpi in grey blurs to a light grey line);
    ``wide``: the rules taken away with their grey edges (lighter than the rule itself)."""
    x0, y0, x1, y1 = box
    up, tab = page.up, page.table
    lines_ = tab.h_lines[y0:y1, x0:x1] | tab.v_lines[y0:y1, x0:x1]
    if lenient or faint:
        lv = up.levels
        ink = up.image[y0:y1, x0:x1] < lv.paper - (0.15 if faint else 0.3) * lv.contrast
    else:
        ink = up.ink[y0:y1, x0:x1].copy()
    grow = 2 if wide else 0
    if wide:
        lines_ = cv2.dilate(lines_.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    ink &= ~lines_
    for a, b in tab.bands:
        if a < y1 and b > y0:
            ink[max(0, a - y0 - grow): max(0, b - y0 + grow)] = False
    if wide and ink.size:
        # what is left of a rule at the cell's edge: a column (row) of ink across the whole cell
        ink[:, ink.mean(axis=0) > 0.7] = False
        ink[ink.mean(axis=1) > 0.7, :] = False
    return ink


def _without_streak_lines(ink: np.ndarray) -> np.ndarray:
    """``ink`` without a scanner's streak crossing the cell: a line about a pixel wide (it may
    lean by a few) running through at least 70 % of the cell's height; a pen's stroke is wider,
    and no writing is a lone line that long."""
    n, lab, st, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    line = np.zeros(n, bool)
    h = st[1:, cv2.CC_STAT_HEIGHT]
    line[1:] = (st[1:, cv2.CC_STAT_WIDTH] <= 6) & (h >= 0.7 * ink.shape[0]) & (st[1:, cv2.CC_STAT_AREA] <= 1.6 * h)
    return ink & ~line[lab] if line.any() else ink


def writing(page: Page, area: Box) -> tuple[str, float]:
    """filled | empty | unsure of a writing area, against the cell's own ink at both thresholds
    (unsure for an area with no room: print read out of order can leave none)."""
    if area[2] - area[0] < 2 or area[3] - area[1] < 2:
        return STATE_UNSURE, 0.0
    state, conf, _ = marks.writing(_without_streak_lines(cell_ink(page, area)))
    if state == STATE_FILLED:
        return state, conf
    lstate, lconf, _ = marks.writing(_without_streak_lines(cell_ink(page, area, lenient=True, wide=True)))
    if state == STATE_EMPTY and lstate == STATE_EMPTY:
        return STATE_EMPTY, min(conf, lconf)
    return STATE_UNSURE, 0.5  # light writing, or specks: a person looks


def read_ocr(page: Page, box: Box, *, lang: str, whitelist: str = "", scale: float = 1.0,
             min_px: int = 4) -> tuple[ocr.OcrResult, tuple[int, int], float]:
    """OCR of a cell: (result, origin of its symbols in upright pixels, scale).  Ink smaller
    than ``min_px`` is a speck and left out; a value whose dots matter (the full stop of an
    address, the dot of an i, the ゛/゜ of a kana) is read with a smaller one."""
    crop = table.clean_crop(page.up, page.table, box)
    img, (ox, oy) = table.tighten_at(crop, scale=scale, min_px=min_px)
    res = ocr.recognise(img, lang=lang, whitelist=whitelist, seconds=page.left(), psm=ocr.PSM_SINGLE_LINE)
    return res, (box[0] + ox, box[1] + oy), scale


def clusters(ink: np.ndarray, gap_pt: float) -> list[tuple[int, int]]:
    """[x0, x1) of the groups of ink columns separated by at least ``gap_pt`` of paper."""
    cols = marks.despeckle(ink, max(3, int(1.5 * PT))).any(axis=0)
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


def _without_streaks(ink: np.ndarray) -> np.ndarray:
    """``ink`` without the pieces of a scanner's streak: ink 1–2 px wide and five times as
    high, above, below or between the print (no printed digit is that thin at 200 dpi)."""
    n, lab, st, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    thin = np.zeros(n, bool)
    w, h = st[:, cv2.CC_STAT_WIDTH], st[:, cv2.CC_STAT_HEIGHT]
    thin[1:] = (w[1:] <= 2) & (h[1:] >= 5 * w[1:])
    return ink & ~thin[lab] if thin.any() else ink


def printed(ink: np.ndarray) -> bool:
    """Machine print, told from handwriting by its regularity: a printer's digits all have one
    height and sit on one baseline; a hand's vary by a pixel or more at 200 dpi (the corpus
    measures <= 1.0 px for print, >= 1.4 px for handwriting; docs/scans.md)."""
    clean = _without_streaks(marks.despeckle(ink, max(3, int(1.5 * PT)))).astype(np.uint8)
    n, _, st, _ = cv2.connectedComponentsWithStats(clean, connectivity=8)
    if n < 6:
        return False
    hs = st[1:, cv2.CC_STAT_HEIGHT]
    tops = st[1:, cv2.CC_STAT_TOP]
    keep = hs >= 0.6 * hs.max()
    if keep.sum() < 5:
        return False
    # what begins in the lowest 40 % of the line is no character: the remnants of the line the
    # value is typed on (ver3_order's underlined 顧客CD: a typed code judged handwriting)
    line_bottom, line_h = np.median((tops + hs)[keep]), np.median(hs[keep])
    keep &= tops <= line_bottom - 0.4 * line_h
    if keep.sum() < 5:
        return False
    bottoms = (tops + hs)[keep]
    return bool(np.std(hs[keep]) <= PRINT_JITTER_PX and np.std(bottoms) <= PRINT_JITTER_PX)


# =========================================================================== customer code


def read_code(page: Page, row: Row) -> Text:
    """The customer code: the cell's writing without the printed （9桁）, found as a group of
    ink of its own that reads 桁."""
    x0, y0, x1, y1 = row.value_box
    # the lenient ink: the note is printed small and thin, lighter than the page's threshold
    groups = clusters(cell_ink(page, row.value_box, lenient=True), 9.0)
    note_found = False
    kept: list[tuple[int, int]] = []
    for a, b in groups:
        if b - a < 2 * PT:
            continue  # a sliver: the end of a rule, not writing
        if b - a < 45 * PT and a > 20 * PT:
            res, _, _ = read_ocr(page, (x0 + a - 4, y0, x0 + b + 4, y1), lang="jpn", scale=2.0)
            if "桁" in res.text or re.search(r"\(\s*9|9\s*\)", nfkc(res.text)):
                note_found = True
                if kept:
                    break  # the note follows the code: what stands beyond it (お申込日 …) is not the code
                continue
        kept.append((a, b))
    if not kept:
        return Text(STATE_EMPTY if note_found else STATE_UNSURE, 0.97 if note_found else 0.5, area=row.value_box)
    area = (x0 + kept[0][0] - 6, y0, x0 + kept[-1][1] + 6, y1)
    state, conf = writing(page, area)
    if not note_found and state != STATE_FILLED:
        state, conf = STATE_UNSURE, 0.5
    out = Text(state, conf, area=area)
    if state == STATE_FILLED:
        res, _, _ = read_ocr(page, area, lang="eng", whitelist="0123456789-")
        digits = re.sub(r"\D", "", res.text)
        out.value, out.value_conf = digits, res.conf
        out.hand = not (len(digits) == 9 and res.conf >= 0.6 and printed(cell_ink(page, area)))
        if not out.hand and not _read_again(page, res, area, res.text.replace(" ", "")):
            out.value_conf = min(out.value_conf, 0.5)  # two readings differ: written, not read
        if out.hand:
            out.value_conf = min(out.value_conf, 0.5)
    return out


# =========================================================================== contact person


def _contact_split(page: Page, row: Row) -> int | None:
    """x of the rule between 姓 and 名, or None when the cell has none."""
    x0, y0, x1, y1 = row.value_box
    v = page.table.v_lines[y0 + 3: y1 - 3, x0 + int(20 * PT): x1 - int(20 * PT)]
    cols = np.flatnonzero(v.mean(axis=0) > 0.7) if v.size else np.array([], int)
    return x0 + int(20 * PT) + int(np.median(cols)) if cols.size else None


def read_contact(page: Page, row: Row) -> tuple[Text, Text]:
    """姓 / 名: the cell split by its inner rule, each half's printed label taken away; a cell
    without the rule (姓: 香川 名: 花子 on one line) is split where OCR reads 姓 and 名."""
    x0, y0, x1, y1 = row.value_box
    if x1 - x0 < 2 or y1 - y0 < 2:  # no room (print read out of order)
        return Text(STATE_UNSURE, 0.0, area=row.value_box), Text(STATE_UNSURE, 0.0, area=row.value_box)
    split = _contact_split(page, row)
    if split is None:
        return _contact_by_words(page, row)
    out = []
    for a, b in ((x0, split - 3), (split + 4, x1)):
        # the printed 姓 / 名 at the half's left: a narrow first group of ink that starts there
        groups = [g for g in clusters(cell_ink(page, (a, y0, b, y1), lenient=True), 3.0) if g[1] - g[0] >= 2 * PT]
        start = 0
        found = bool(groups and groups[0][0] < 8 * PT and groups[0][1] - groups[0][0] < 12 * PT)
        if found:
            start = groups[0][1] + 2
        area = (a + start, y0, b, y1)
        state, conf = writing(page, area)
        if not found and state != STATE_FILLED:
            state, conf = STATE_UNSURE, 0.5  # the printed label not found: the half's ink says nothing
        out.append(_name(page, Text(state, conf, area=area)))
    return out[0], out[1]


def _contact_by_words(page: Page, row: Row) -> tuple[Text, Text]:
    x0, y0, x1, y1 = row.value_box
    res, origin, scale = read_ocr(page, row.value_box, lang="jpn")
    syms = [(s.text, origin[0] + s.box[0] / scale, origin[0] + s.box[2] / scale) for s in res.symbols]
    at = {t: (sx0, sx1) for t, sx0, sx1 in syms if t in ("姓", "名")}
    if "姓" not in at or "名" not in at or at["姓"][0] >= at["名"][0]:
        return Text(STATE_UNSURE, 0.5, area=row.value_box), Text(STATE_UNSURE, 0.5, area=row.value_box)
    parts = []
    for a, b in ((at["姓"][1], at["名"][0]), (at["名"][1], x1)):
        area = (int(a) + 2, y0, int(b) - 2, y1)
        text = "".join(t for t, sx0, sx1 in syms if sx0 >= a - 1 and sx1 <= b + 1).strip(" :：;")
        state, conf = writing(page, area)
        t = Text(state, conf, area=area)
        if state == STATE_FILLED:
            t.value, t.value_conf = text.lstrip(":：").strip() or None, 0.5
        parts.append(t)
    return parts[0], parts[1]


def read_name(page: Page, row: Row) -> Text:
    """One half of a name placed apart (姓 or 名 in a frame or on a line of its own)."""
    state, conf = writing(page, row.value_box)
    return _name(page, Text(state, conf, area=row.value_box))


def _name(page: Page, t: Text) -> Text:
    if t.state == STATE_FILLED and t.area is not None:
        res, _, _ = read_ocr(page, t.area, lang="jpn")
        t.value, t.value_conf = res.text.replace(" ", ""), min(res.conf, 0.5)
        t.hand = None  # not known: printed and handwritten names read alike to Tesseract
    return t


# =========================================================================== plain values

_KATAKANA = re.compile(r"[\u30a0-\u30ff]")
_LOOKALIKE = str.maketrans("へべぺ", "ヘベペ")


def tidy_jpn(text: str) -> str:
    """OCR text of a printed Japanese value: spaces and stray rule bits (| [ ]) away; へ/ヘ,
    which print identically, in the script of their neighbours."""
    text = text.replace(" ", "").replace("|", "").replace("｜", "").strip("[]_-—・.,")
    out = []
    for i, ch in enumerate(text):
        near = text[max(0, i - 1): i] + text[i + 1: i + 2]
        out.append(ch.translate(_LOOKALIKE) if ch in "へべぺ" and _KATAKANA.search(near) else ch)
    return "".join(out)


def read_plain(page: Page, row: Row, *, lang: str, whitelist: str = "", area: Box | None = None) -> Text:
    box = area or row.value_box
    state, conf = writing(page, box)
    t = Text(state, conf, area=box)
    if state == STATE_FILLED:
        res, _, _ = read_ocr(page, box, lang=lang, whitelist=whitelist)
        t.value, t.value_conf = tidy_jpn(res.text) if lang == "jpn" else res.text.strip(), res.conf
        t.hand = res.conf < NAME_OCR
        if lang == "jpn" and not t.hand:
            # Read again with the small ink kept: the ゜ of パ is a few pixels, and a speck
            # taken away reads パン as バン, confidently.  The value stands only when both reads
            # say the same (a speck kept may read as ー: then they differ too).
            res2, _, _ = read_ocr(page, box, lang=lang, whitelist=whitelist, min_px=2)
            t.value_conf = min(res.conf, res2.conf) if tidy_jpn(res2.text) == t.value else 0.5
            if twin_script(t.value) or ocr.glyph_split(res):
                t.value_conf = min(t.value_conf, 0.5)  # written, but 工/エ (or a glyph read as two) is not known
            t.hand = t.value_conf < NAME_OCR
        if t.hand:
            t.value_conf = min(t.value_conf, 0.5)
    return t


def read_ssid(page: Page, row: Row) -> Text:
    """The SSID: read, never sure (OCR cannot tell a full-width Ａ from A: SSID_NOT_HALFWIDTH);
    the printed note at the cell's right (※半角英数字) is taken away first."""
    x0, y0, x1, y1 = row.value_box
    groups = [g for g in clusters(cell_ink(page, row.value_box, lenient=True), 9.0) if g[1] - g[0] >= 2 * PT]
    area = row.value_box
    if groups and groups[-1][0] > 0.6 * (x1 - x0) and groups[-1][1] - groups[-1][0] < 80 * PT:
        a, b = groups[-1]
        res, _, _ = read_ocr(page, (x0 + a - 4, y0, x0 + b + 4, y1), lang="jpn", scale=2.0)
        if re.search(r"半|角|英|数", res.text):
            area = (x0, y0, x0 + a - 4, y1)
    t = read_plain(page, row, lang="eng", area=area)
    t.value_conf = min(t.value_conf, 0.5)
    return t


_PHONE = re.compile(r"0\d{1,4}-\d{1,4}-\d{3,4}")


def read_phone(page: Page, row: Row) -> Text:
    """A printed phone number: sure when it has a phone's shape (0…-…-…, 10 or 11 digits), every
    digit read at SURE_OCR and the print is regular (not handwriting)."""
    state, conf = writing(page, row.value_box)
    t = Text(state, conf, area=row.value_box)
    if state != STATE_FILLED:
        return t
    res, _, _ = read_ocr(page, row.value_box, lang="eng", whitelist="0123456789-")
    text = res.text.replace(" ", "")
    t.value, t.value_conf = text, res.conf
    digits = re.sub(r"\D", "", text)
    t.hand = not printed(cell_ink(page, row.value_box))
    if t.hand or not _PHONE.fullmatch(text) or len(digits) not in (10, 11) \
            or not _read_again(page, res, row.value_box, text):
        t.value_conf = min(t.value_conf, 0.5)
    return t


def _read_again(page: Page, res: ocr.OcrResult, box: Box, text: str) -> bool:
    """A digit read below 0.97 may be sure and wrong (9 read as 3 at 0.95, a 150 dpi bilevel
    scan, seed 10909; a code's 5 as 6, seed 11111): the value read again at twice the scale
    must agree (``text`` as the first reading gave it, spaces out)."""
    if min((s.conf for s in res.symbols), default=0.0) >= 0.97:
        return True
    again, _, _ = read_ocr(page, box, lang="eng", whitelist="0123456789-", scale=2.0)
    return again.text.replace(" ", "") == text


# 親機 N 台 子機 N 台; on a page read by its words a speck over a digit may read as " and 子
# as 了 (the digits' own confidence decides whether they are sure)
_UNITS = re.compile(r"親?機[^\d台機]{0,2}(\d)\s*台?[^\d]*?機[^\d台機]{0,2}(\d)\s*台?")


def read_units(page: Page, row: Row, *, printed_form: bool) -> tuple[Text, Text]:
    """親機 N 台 / 子機 N 台 of a printed form: both digits read at NAME_OCR; on a handwritten
    form (code not printed) the counts are filled but never read."""
    state, conf = writing(page, row.value_box)
    parent, child = Text(state, conf, area=row.value_box), Text(state, conf, area=row.value_box)
    if state != STATE_FILLED:
        return parent, child
    framed = frames.insides(page.up.ink, row.value_box)
    if len(framed) == 2:  # 親機 [ ] 台 子機 [ ] 台: the print round the frames is no count
        empty = [writing(page, b) for b in framed]
        if all(s == STATE_EMPTY for s, _ in empty):
            return (Text(STATE_EMPTY, empty[0][1], area=framed[0]), Text(STATE_EMPTY, empty[1][1], area=framed[1]))
    res, _, _ = read_ocr(page, row.value_box, lang="jpn")
    text = nfkc(res.text)
    m = _UNITS.search(text.replace(" ", ""))
    if m is None:
        return Text(STATE_UNSURE, 0.5, area=row.value_box), Text(STATE_UNSURE, 0.5, area=row.value_box)
    digit_conf = min((s.conf for s in res.symbols if nfkc(s.text).isdigit()), default=0.0)
    sure = printed_form and digit_conf >= NAME_OCR
    for t, v in ((parent, m.group(1)), (child, m.group(2))):
        t.value, t.value_conf, t.hand = v, digit_conf if sure else min(digit_conf, 0.5), not sure
    return parent, child
