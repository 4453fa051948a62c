"""The form's ruled table on an upright page: its rows, each row's label cell and value cell,
and each label read by OCR and matched to the vocabulary of FORM-SPEC.md.

Nothing here knows a layout's coordinates: the rows come from the horizontal ruling lines, the
label column from the longest inner vertical rule, and what a row holds from its printed label.
Both versions of the form (Ver.3 with 【block】 lines, Ver.4 with a block column) and a form
whose rows are in another order read the same way.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

import cv2
import numpy as np

from bot.forms import ocr
from bot.forms.normalise import fold
from bot.forms.raster import PT, Upright, lines, stretched

# Printed labels of the form (FORM-SPEC.md), as folded text (NFKC, casefold, no spaces).
LABELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("customer_code", ("unis顧客コード", "顧客cd", "顧客コード", "顧客番号")),
    ("kana", ("フリガナ", "ふりがな")),
    ("name", ("名称", "氏名", "お名前", "契約者名")),
    ("shop_name", ("店舗/施設名", "店舗名", "施設名", "店舗・施設名")),
    ("address", ("住所", "所在地")),
    ("phone", ("電話番号", "tel")),
    ("line_kind", ("ご利用回線種別", "回線種別")),
    ("line_type", ("ご利用回線タイプ", "回線タイプ")),
    ("check_method", ("確認方法", "回線の確認方法")),
    ("mail_local", ("ご希望のメールアドレス", "メールアドレス")),
    ("contact", ("ご担当者名", "担当者名", "ご担当者")),
    ("plus", ("usenspotplus", "spotplus")),
    ("ssid", ("ssid", "originalssid")),
    ("units", ("台数",)),
    ("remarks", ("備考",)),
)
BLOCKS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("contractor", ("【ご契約者】", "ご契約者")),
    ("shop", ("【設置先】", "設置先")),
    ("line", ("【回線】", "回線")),
    ("mail", ("【メール】", "メール")),
    ("contact", ("【担当】", "担当")),
    ("service", ("【サービス】", "サービス")),
)
_NOISE = re.compile(r"[|｜\[\]_~'\"`.,:;()（）【】\-ー－]")


@dataclass(frozen=True)
class Row:
    top: int
    bottom: int
    label_box: tuple[int, int, int, int]  # pixels of the upright page
    value_box: tuple[int, int, int, int]
    text: str  # the label as OCR read it
    key: str | None  # matched vocabulary key ("kana", "address" …), a block header "block:shop", or None
    score: float  # how well the label matched (0–1)


@dataclass(frozen=True)
class Table:
    box: tuple[int, int, int, int]
    label_x: int  # the label column's rule
    rows: tuple[Row, ...]
    h_lines: np.ndarray  # masks of the ruling lines (to erase before OCR or ink counts)
    v_lines: np.ndarray
    bands: tuple[tuple[int, int], ...] = ()  # y ranges of the row rules (erased whole)

    @property
    def labels_found(self) -> int:
        return sum(1 for r in self.rows if r.key and not r.key.startswith("block:"))


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True."""
    out: list[tuple[int, int]] = []
    padded = np.concatenate(([False], flags, [False]))
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        out.append((int(a), int(b)))
    return out


def _rules(h_mask: np.ndarray, row_sum: np.ndarray, longest: float) -> list[tuple[int, int]]:
    """The y runs of the table's row rules.

    A thin rule in a noisy, blurred or heavily compressed scan is found only in pieces, so a
    rule is judged by its EXTENT, not by how much of it was found: every rule of the table ends
    at the table's right edge and spans (nearly) its width.  The paper's edge (its shadow on the
    scanner's lid) spans the whole page, wider than the table; the footer's boxes are narrower.
    """
    cands = []
    for a, b in _runs(row_sum > max(60 * PT, 0.12 * longest)):
        xs = np.flatnonzero(h_mask[a:b].any(axis=0))
        x0, x1 = int(xs.min()), int(xs.max())
        found = int(row_sum[a:b].max())
        if found >= 0.3 * (x1 - x0 + 1):  # pieces of one line, not two short lines far apart
            cands.append((a, b, x0, x1))
    if not cands:
        return []
    right = float(np.median([c[3] for c in cands]))
    width = float(np.median([c[3] - c[2] for c in cands]))
    return [(a, b) for a, b, x0, x1 in cands
            if abs(x1 - right) <= 6 * PT and 0.6 * width <= x1 - x0 <= 1.1 * width]


def _label_column(v_mask: np.ndarray, rule_rows: list[tuple[int, int]], lo: int, hi: int) -> int | None:
    """x of the label column's rule: the inner vertical rule found in the most rows.

    Counted row by row, not by length: a thin rule in a noisy scan is found only in pieces, and
    the block column of Ver.4 (beside the blocks only) is long too but crosses fewer rows."""
    w = v_mask.shape[1]
    counts = np.zeros(w, int)
    rows = 0
    for (_, a1), (b0, _) in zip(rule_rows, rule_rows[1:], strict=False):
        y0, y1 = a1 + 2, b0 - 2
        if y1 - y0 < 4 * PT:
            continue
        frac = v_mask[y0:y1].mean(axis=0)
        near = frac.copy()
        for d in (1, 2):  # a rule a pixel or two aside in another row is the same rule
            near[d:] = np.maximum(near[d:], frac[:-d])
            near[:-d] = np.maximum(near[:-d], frac[d:])
        counts += near > 0.3
        rows += 1
    counts[:max(0, lo)] = 0
    counts[min(w, hi):] = 0
    best = int(counts.max()) if rows else 0
    if best < max(3, 0.5 * rows):
        return None
    cover = v_mask.sum(axis=0)
    run = max(((a, b) for a, b in _runs(counts >= best)), key=lambda r: int(cover[r[0]:r[1]].sum()))
    x = run[0] + int(np.argmax(cover[run[0]:run[1]]))
    # the rule may be several pixels wide: its middle
    strong = cover > 0.5 * cover[x]
    a = x
    while a > 0 and strong[a - 1]:
        a -= 1
    b = x
    while b + 1 < w and strong[b + 1]:
        b += 1
    return (a + b) // 2


def find_table(up: Upright) -> tuple[tuple[int, int, int, int], int, list[tuple[int, int]], np.ndarray,
                                     np.ndarray] | None:
    """(table box, label-column x, y range of each row rule, horizontal and vertical line masks)."""
    ink = up.ink
    h_mask = lines(ink, horizontal=True, min_len_pt=40)
    v_mask = lines(ink, horizontal=False, min_len_pt=12)
    h, w = ink.shape
    row_sum = h_mask.sum(axis=1)
    longest = row_sum.max() if row_sum.size else 0
    if longest < 200 * PT:
        return None
    rule_rows = _rules(h_mask, row_sum, longest)
    ys = [(a + b) // 2 for a, b in rule_rows]
    if len(ys) < 8:
        return None
    top, bottom = ys[0], ys[-1]
    band = h_mask[top - 2: top + 3].any(axis=0) | h_mask[bottom - 2: bottom + 3].any(axis=0)
    xs = np.flatnonzero(h_mask[[y for y in ys]].any(axis=0) | band)
    left, right = int(xs.min()), int(xs.max())
    label_x = _label_column(v_mask, rule_rows, left + int(8 * PT), right - int(8 * PT))
    if label_x is None:
        return None
    return (left, top, right, bottom), label_x, rule_rows, h_mask, v_mask


def _erase(img: np.ndarray, *masks: np.ndarray) -> np.ndarray:
    out = img.copy()
    for m in masks:
        out[m] = 255
    return out


def clean_crop(up: Upright, table: Table, box: tuple[int, int, int, int], pad: int = 0) -> np.ndarray:
    """The image in ``box`` with ruling lines whitened (for OCR), as 0–255 with white paper."""
    x0, y0, x1, y1 = box
    x0, y0 = max(0, x0 - pad), max(0, y0 - pad)
    x1, y1 = min(up.image.shape[1], x1 + pad), min(up.image.shape[0], y1 + pad)
    img = up.image[y0:y1, x0:x1]
    norm = stretched(img, up.levels)
    grow = np.zeros_like(table.h_lines[y0:y1, x0:x1])
    for m in (table.h_lines, table.v_lines):
        part = m[y0:y1, x0:x1]
        grow |= part
        grow[1:] |= part[:-1]
        grow[:-1] |= part[1:]
        grow[:, 1:] |= part[:, :-1]
        grow[:, :-1] |= part[:, 1:]
    norm[grow] = 255
    for a, b in table.bands:
        if a < y1 and b > y0:
            norm[max(0, a - y0): max(0, b - y0)] = 255
    return norm


def tighten(crop: np.ndarray, *, pad: int = 10, scale: float = 1.0, min_px: int = 4) -> np.ndarray:
    """The ink of ``crop`` without what touches its edges (bits of rules, a neighbour's stroke),
    cut to its extent with a white margin: what Tesseract reads best."""
    return tighten_at(crop, pad=pad, scale=scale, min_px=min_px)[0]


def tighten_at(crop: np.ndarray, *, pad: int = 10, scale: float = 1.0, min_px: int = 4
               ) -> tuple[np.ndarray, tuple[int, int]]:
    """:func:`tighten`, and where its (unscaled) origin lies in ``crop``: (x, y) of the top-left
    corner of the margin, so a symbol at (sx, sy) is at (x + sx / scale, y + sy / scale)."""
    ink = (crop < 160).astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    h, w = crop.shape
    keep = np.zeros(n, bool)
    for i in range(1, n):
        x, y, bw, bh, area = stats[i]
        touches = x == 0 or y == 0 or x + bw >= w or y + bh >= h
        if touches and (bw > 0.5 * w or bh > 0.8 * h or area < 40):
            continue
        if max(bw, bh) < min_px:
            continue  # a speck
        keep[i] = True
    if not keep.any():
        return np.full((2 * pad + 4, 2 * pad + 4), 255, np.uint8), (0, 0)
    mask = keep[lab]
    ys, xs = np.nonzero(mask)
    # keep the grey edge of every stroke (anti-aliasing, JPEG): it carries thin strokes
    mask = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    out = np.where(mask[y0:y1, x0:x1], crop[y0:y1, x0:x1], 255).astype(np.uint8)
    if scale != 1.0:
        out = cv2.resize(out, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    out = cv2.copyMakeBorder(out, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
    return out, (int(x0 - pad / scale), int(y0 - pad / scale))


def match_label(text: str) -> tuple[str | None, float]:
    folded = _NOISE.sub("", fold(text))
    if not folded:
        return None, 0.0
    best: tuple[str | None, float] = (None, 0.0)
    for key, variants in LABELS:
        for v in variants:
            vv = _NOISE.sub("", v)
            score = difflib.SequenceMatcher(None, folded, vv).ratio()
            if vv in folded and len(vv) >= 2:
                score = max(score, 0.75 + 0.25 * len(vv) / len(folded))
            if score > best[1]:
                best = (key, score)
    return best


def match_block(text: str) -> tuple[str | None, float]:
    folded = _NOISE.sub("", fold(text))
    best: tuple[str | None, float] = (None, 0.0)
    for key, variants in BLOCKS:
        for v in variants:
            score = difflib.SequenceMatcher(None, folded, _NOISE.sub("", v)).ratio()
            if score > best[1]:
                best = (key, score)
    return best


# Second and third reads of a label that read poorly: (scale, speck size, page segmentation).
_LABEL_RETRIES = ((2.0, 2, ocr.PSM_SINGLE_LINE), (1.0, 4, ocr.PSM_SINGLE_BLOCK))


def read_table(up: Upright, *, deadline: float) -> Table | None:
    """The table of an upright page with every row's label read, or None (no ruled table)."""
    import time

    found = find_table(up)
    if found is None:
        return None
    box, label_x, rule_rows, h_mask, v_mask = found
    left, top, right, bottom = box
    bands = tuple((a - 3, b + 3) for a, b in rule_rows)
    table = Table(box=box, label_x=label_x, rows=(), h_lines=h_mask, v_lines=v_mask, bands=bands)
    rows: list[Row] = []
    for (_, y0), (y1, _) in zip(bands, bands[1:], strict=False):
        if y1 - y0 < 8 * PT:
            continue
        inner0, inner1 = y0 + 1, y1 - 1
        col = v_mask[inner0:inner1, label_x - 3: label_x + 4].any(axis=1).mean() if inner1 > inner0 else 0
        if col < 0.6:
            # a row without the label column: a 【block】 line (Ver.3) or a note
            crop = tighten(clean_crop(up, table, (left + 3, inner0, right - 3, inner1)))
            res = ocr.recognise(crop, psm=ocr.PSM_SINGLE_LINE, seconds=deadline - time.monotonic())
            key, score = match_block(res.text)
            rows.append(Row(y0, y1, (left, y0, right, y1), (left, y0, right, y1), res.text,
                            f"block:{key}" if key and score >= 0.6 else None, score))
            continue
        # the label cell begins at the nearest full-height rule left of the label column
        seg = v_mask[inner0:inner1, left: label_x - int(5 * PT)]
        full = np.flatnonzero(seg.mean(axis=0) > 0.8) if seg.size else np.array([], int)
        lx = left + (int(full.max()) if full.size else 0)
        label_box = (lx + 4, y0, label_x - 3, y1)
        value_box = (label_x + 4, y0, right - 3, y1)
        crop = clean_crop(up, table, label_box)
        res = ocr.recognise(tighten(crop), psm=ocr.PSM_SINGLE_LINE, seconds=deadline - time.monotonic())
        key, score = match_label(res.text)
        for scale, min_px, psm in _LABEL_RETRIES:
            if score >= 0.75:
                break
            # read poorly (a row read so is not trusted): once more larger with the small ink
            # kept (the ゛ of ご and ド, a thin stroke of 顧 are a few pixels in a blurred scan),
            # then as a block (a speck of dust above the line leaves a single line unread)
            res2 = ocr.recognise(tighten(crop, scale=scale, min_px=min_px), psm=psm,
                                 seconds=deadline - time.monotonic())
            key2, score2 = match_label(res2.text)
            if score2 > score:
                res, key, score = res2, key2, score2
        rows.append(Row(y0, y1, label_box, value_box, res.text, key if score >= 0.5 else None, score))
    return Table(box=box, label_x=label_x, rows=tuple(rows), h_lines=h_mask, v_lines=v_mask, bands=bands)
