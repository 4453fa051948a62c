"""The line a value is written on, found in the ink of its place (issue 19).

A dotted or dashed writing line that the page's rule mask missed (a bilevel 300 dpi scan breaks
it into specks of uneven size) is still a thin row of ink running from the value's start across
most of the place, with only paper a few pixels over and under it.  A value written under its
label stands on that line: the place ends there, and as far right as the line runs (a heading
the OCR did not read, under the line, and the neighbouring field's print beside it are no
writing of this value: seed 7171, a missing mail address read as written).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class WritingLine:
    y: int  # page pixels
    x0: int
    x1: int


def _runs(cols: np.ndarray, gap: float) -> list[tuple[int, int, int]]:
    """(start, end, ink columns) of the groups of ink columns no more than ``gap`` apart."""
    xs = np.flatnonzero(cols)
    if xs.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(xs) > gap)
    starts = np.concatenate(([0], cuts + 1))
    ends = np.concatenate((cuts, [xs.size - 1]))
    return [(int(xs[a]), int(xs[b]) + 1, int(b - a + 1)) for a, b in zip(starts, ends, strict=True)]


def writing_line(ink: np.ndarray, box: Box, h: float, *, start_within: float = 3.0) -> WritingLine | None:
    """The first thin line of dots or dashes in ``box`` (page pixels) that starts within
    ``start_within`` lines of print of the box's left and runs at least six of them, or None."""
    x0, y0, x1, y1 = (max(0, int(v)) for v in box)
    part = ink[y0:y1, x0:x1]
    if part.shape[0] < 10 or part.shape[1] < 6 * h:
        return None
    # only flat pieces of ink (dots and dashes): the bars of a line of text (エ, ー) belong to
    # characters as tall as the print, and never make a writing line
    n, labels, stats, _ = cv2.connectedComponentsWithStats(part.astype(np.uint8), connectivity=8)
    flat = stats[:, cv2.CC_STAT_HEIGHT] <= max(4, 0.2 * h)
    flat[0] = False
    part = flat[labels]
    grown = part.copy()  # a row of specks a pixel or two apart in height counts as one row
    grown[1:] |= part[:-1]
    grown[:-1] |= part[1:]
    off = 4  # paper this far over and under a writing line; a line of text is taller
    for r in range(off, part.shape[0] - off):
        for a, b, n in _runs(grown[r], 0.5 * h):
            if a > start_within * h or b - a < 6 * h or n < 0.2 * (b - a):
                continue
            near = grown[r - off, a:b].mean() + grown[r + off, a:b].mean()
            if near < 0.3 * n / (b - a):
                # its end: where the row's flat ink stops for two characters or more (a dotted
                # line read in pieces runs on)
                end = max(e for s_, e, _ in _runs(grown[r], 2 * h) if s_ <= a)
                return WritingLine(y0 + r, x0 + a, x0 + end)
    return None
