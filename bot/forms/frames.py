"""Frames a value is written in, on a page read by its words (issue 19): the thin uprights of a
frame or a box, a frame's side that cuts a place, the frames of 台数 and the code's digit boxes or
rectangle taken away with the ruling lines (which every reading leaves out)."""

from __future__ import annotations

import cv2
import numpy as np

from bot.forms.words import Box


def uprights(ink: np.ndarray, box: Box) -> list[int]:
    """x of the thin upright lines crossing the whole of ``box`` (a frame's or a box's sides,
    too short for the page's ruling lines)."""
    x0, y0, x1, y1 = box
    part = ink[y0:y1, x0:x1]
    if part.size == 0:
        return []
    # the middle 80 %: a frame a little shorter than the place still counts
    core = part[int(0.1 * part.shape[0]): max(int(0.9 * part.shape[0]), 1)]
    return [x0 + c for c in _starts(np.flatnonzero(core.mean(axis=0) >= 0.85).tolist())]


def rule_lines(rules: np.ndarray, box: Box) -> list[tuple[int, int]]:
    """The upright ruling lines (of the page's ``rules`` mask) crossing the whole height of
    ``box``: each line's first and last column, page x."""
    x0, y0, x1, y1 = box
    part = rules[max(0, y0):y1, max(0, x0):x1]
    if part.size == 0:
        return []
    out: list[list[int]] = []
    for c in np.flatnonzero(part.mean(axis=0) >= 0.85).tolist():
        if out and c <= out[-1][1] + 2:
            out[-1][1] = c
        else:
            out.append([c, c])
    return [(max(0, x0) + a, max(0, x0) + b) for a, b in out]


def _starts(cols: list[int]) -> list[int]:
    """The first column of each run of columns (runs apart by more than 4 px): one line's x."""
    out: list[int] = []
    for c in cols:
        if not out or c > out[-1] + 4:
            out.append(c)
    return out


def insides(ink: np.ndarray, box: Box) -> list[Box]:
    """The inside of each frame standing in ``box``: a pair of thin upright sides at least half
    the place's height, of one height, joined by a top and a bottom edge (親機 [ ] 台 子機 [ ] 台),
    a few pixels in from its sides and edges.  A ruling line through the place is no side."""
    x0, y0, x1, y1 = box
    part = ink[y0:y1, x0:x1].astype(np.uint8)
    if part.shape[0] < 8 or part.shape[1] < 8:
        return []
    tall = cv2.morphologyEx(part, cv2.MORPH_OPEN, np.ones((max(8, part.shape[0] // 2), 1), np.uint8))
    sides = _starts(np.flatnonzero(tall.any(axis=0)).tolist())

    def extent(c: int) -> tuple[int, int]:
        ys = np.flatnonzero(tall[:, c])
        return int(ys[0]), int(ys[-1])

    out: list[Box] = []
    i = 0
    while i + 1 < len(sides):
        a, b = sides[i], sides[i + 1]
        (ta, ba), (tb, bb) = extent(a), extent(b)
        top, bottom = min(ta, tb), max(ba, bb)
        edges = np.flatnonzero(part[top:bottom + 1, a:b].mean(axis=1) >= 0.6) if b - a >= 8 else np.array([])
        if abs(ta - tb) <= 3 and abs(ba - bb) <= 3 and edges.size >= 2 and edges[0] <= 3 \
                and edges[-1] >= bottom - top - 3:
            out.append((x0 + a + 4, y0 + top + 4, x0 + b - 3, y0 + bottom - 3))
            i += 2
        else:
            i += 1  # a ruling line, or a stroke: not a frame's side with the next
    return out


def frames_away(box: Box, ink: np.ndarray, rules: np.ndarray) -> None:
    """The frames the values are written in, within ``box``, taken away with the ruling lines
    (which every reading leaves out): each pair of thin upright sides and the edges joining them."""
    x0, y0, x1, y1 = box
    sides = uprights(ink, box)
    for a, b in zip(sides[::2], sides[1::2], strict=False):
        part = ink[y0:y1, a:b]
        edges = np.flatnonzero(part.mean(axis=1) >= 0.6).tolist() if part.size else []
        if not edges:
            continue
        for x in (a, b):
            rules[y0:y1, max(0, x - 3): x + 4] = True
        for y in edges:
            rules[max(0, y0 + y - 2): y0 + y + 3, max(0, a - 3): b + 4] = True


def rectangle_away(box: Box, ink: np.ndarray, rules: np.ndarray, h: int) -> None:
    """The sides of a plain rectangle round the value (its top and bottom edges are ruling lines
    already), taken away with the ruling lines: thin uprights whose both ends meet a rule.  A
    digit 1 meets none."""
    x0, y0, x1, y1 = box
    part = ink[y0:y1, x0:x1].astype(np.uint8)
    if part.size == 0:
        return
    n, labels, st, _ = cv2.connectedComponentsWithStats(part, connectivity=8)
    for i in range(1, n):
        x, y, w, ht = (int(v) for v in st[i, :4])
        if w > max(6, 0.25 * h) or ht < h:
            continue
        ax, bx = x0 + x, x0 + x + w
        top, bottom = y0 + y, y0 + y + ht
        if rules[max(0, top - 4):top + 2, ax:bx].any() and rules[bottom - 2:bottom + 4, ax:bx].any():
            rules[y0:y1, x0:x1] |= labels == i


# Share of a place's height (but its two first and last rows) an upright must cross to be a side
# of the frame a value under its label is written in: a frame's sides 0.97–1.0, the line parting
# two_columns' 姓 | 名 0.90 (seed 777 form 21), the upright strokes of a handwritten 鈴 in a place
# little taller than the writing 0.81, taken for the frame's side (corner_captions seed 20001 form 5)
WHOLE = 0.88


def within_frame(box: Box, ink: np.ndarray, rules: np.ndarray, h: int, *, digits: bool,
                 whole: bool = False) -> Box:
    """The place cut at the sides of the frame the value is written in; for the customer code,
    a row of digit boxes is taken away instead (its sides and edges join the ruling lines,
    which every reading leaves out).  ``whole``: a place under its label, as tall as the frame
    it is in: a side of the frame (or a line parting it) crosses it from end to end (see
    :data:`WHOLE`), a handwritten kanji's upright stroke does not; and the frame's left side,
    before the label, begins the place."""
    x0, y0, x1, y1 = box
    sides = uprights(ink, box)
    if digits and len(sides) >= 4:
        a, b = sides[0], sides[-1]
        for x in sides:
            rules[y0:y1, max(0, x - 3): x + 4] = True
        part = ink[y0:y1, a:b]
        for y in np.flatnonzero(part.mean(axis=1) >= 0.5).tolist():
            rules[max(0, y0 + y - 2): y0 + y + 3, a - 3: b + 4] = True
        return box
    if whole:
        band_ = ink[y0 + 2:y1 - 2] | rules[y0 + 2:y1 - 2]  # (the rows only: not the whole page)
        sides = [x for x in sides if band_.size and band_[:, max(0, x - 2):x + 3].any(axis=1).mean() >= WHOLE]
    cut = [x for x in sides if x > x0 + 3 * h]
    # the frame's left side, where the place begins before the label (a rounded frame's short
    # straight sides are no ruling lines: its side was read as writing in an empty place)
    start = [x for x in sides if x < x0 + h] if whole else []
    return ((start[-1] + 4) if start else x0, y0, (cut[0] - 3) if cut else x1, y1)
