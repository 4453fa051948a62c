"""The places of 姓 and 名 in the contact's place (issue 19): split where 名 is printed inside it
(「姓 ____ 名 ____」), under the two columns 「姓(セイ)｜名(メイ)」 head, placed from their own print
where 「(名)」 stands beside the label, or the two halves of one frame parted by a thin upright
(two_columns)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bot.forms import frames
from bot.forms.table import Row
from bot.forms.value_place import RIGHT, place
from bot.forms.words import Box, Found, Line

_AFTER = ("", ")", "）", ":", "：", "(", "（")  # what may follow 姓 / 名 printed on its own


def _markers(lines_: Sequence[Line], char: str) -> list[Box]:
    """Where 姓 or 名 is printed on its own: alone, in brackets, with its reading after it
    ("姓(セイ)"), or after ご担当者名 ("ご担当者名(姓)"), never inside a word (名称, ご担当者名
    itself)."""
    out = []
    for ln in lines_:
        text = ln.text
        for i, c in enumerate(ln.chars):
            if c.text != char:
                continue
            before, after = text[max(0, i - 1): i], text[i + 1: i + 2]
            if (before in ("", "(", "（") or text[:i].endswith("者名(")) and after in _AFTER:
                out.append(c.box)
    return out


def contact_parts(row: Row, lab: Found, side: str, labels: list[Found], ink: np.ndarray, rules: np.ndarray,
                   lines_: Sequence[Line]) -> tuple[Box, Box] | None:
    """The places of 姓 and 名 (see the module's note), or None when 名 is not found where it
    would split them."""
    h = lab.height
    x0, y0, x1, y1 = row.value_box
    given = [b for b in _markers(lines_, "名") if b[0] > x0 + 2 * h]
    inside = [b for b in given if y0 <= (b[1] + b[3]) / 2 <= y1 and b[0] < x1]
    if inside:
        mei = min(inside, key=lambda b: b[0])
        sei = [b for b in _markers(lines_, "姓") if y0 <= (b[1] + b[3]) / 2 <= y1 and x0 <= b[0] < mei[0]]
        left = max(b[2] for b in sei) + int(0.3 * h) if sei else x0
        return _roomy((left, y0, mei[0] - int(0.3 * h), y1), (mei[2] + int(0.3 * h), y0, x1, y1), h)
    headed = _headed(row, h, lines_, rules)
    if headed is not None:
        return headed
    halves = _halved(row, lab, side, labels, ink, rules) or _parted(row, ink, rules, h)
    if halves is not None:
        return halves
    beside = [b for b in given if abs((b[1] + b[3]) / 2 - (lab.box[1] + lab.box[3]) / 2) <= 0.6 * h]
    if not beside or side == RIGHT:
        return None
    mei = min(beside, key=lambda b: b[0])
    print_ = Found("contact", "名", mei, 1.0, lab.size)
    box = place(print_, side, labels + [print_], rules)
    if box is None:
        return None
    first = frames.within_frame(box, ink, rules, h, digits=False)
    return (x0, y0, min(x1, mei[0] - int(0.5 * h)), y1), first


def _headed(row: Row, h: int, lines_: Sequence[Line], rules: np.ndarray) -> tuple[Box, Box] | None:
    """姓 and 名 as the heads of two columns over the contact's rows (a table whose header row
    reads 「姓(セイ)｜名(メイ)」): on one line above the row, 姓 left of 名, both over its place;
    the row parted at the one upright ruling line between them, else half way between them."""
    x0, y0, x1, y1 = row.value_box

    def over(char: str) -> list[Box]:
        return [b for b in _markers(lines_, char)
                if b[3] <= y0 + 0.2 * h and y0 - b[3] <= 8 * h and x0 - h <= b[0] < x1]

    sei, mei = over("姓"), over("名")
    pairs = [(s, m) for s in sei for m in mei if abs((s[1] + s[3]) / 2 - (m[1] + m[3]) / 2) <= 0.6 * h
             and m[0] > s[2] + 2 * h]
    if not pairs:
        return None
    s, m = max(pairs, key=lambda p: p[0][3])  # the nearest header over the row
    ups = frames.rule_lines(rules, (s[2] + 2, y0 + (y1 - y0) // 5, m[0] - 2, y1 - (y1 - y0) // 5))
    cut = (ups[0][0] + ups[0][1]) // 2 if len(ups) == 1 else ((s[0] + s[2]) / 2 + (m[0] + m[2]) / 2) / 2
    return _roomy((x0, y0, int(cut - 0.3 * h), y1), (int(cut + 0.3 * h), y0, x1, y1), h)


def _halved(row: Row, lab: Found, side: str, labels: list[Found], ink: np.ndarray,
            rules: np.ndarray) -> tuple[Box, Box] | None:
    """姓 and 名 in the two halves of the contact's frame, parted by a thin upright (their small
    姓 / 名 marks at each half's left, which a reading may not read): the place was cut at that
    upright; the half beyond it runs to the frame's side."""
    h = lab.height
    full = place(lab, side, labels, rules) if side != RIGHT else None
    if full is None:
        return None
    x0, y0, x1, y1 = row.value_box
    ups = frames.uprights(ink, (full[0], y0, full[2], y1))
    parting = [x for x in ups if abs(x - x1) <= 6 and x0 + 3 * h < x < full[2] - 3 * h]
    if len(parting) != 1:
        return None
    beyond = [x for x in ups if x > parting[0] + 3 * h]
    last = (_after_mark(ink, (x0, y0, x1, y1), h), y0, x1, y1)
    first = (parting[0] + 4, y0, (beyond[0] - 3) if beyond else full[2], y1)
    return _roomy(last, (_after_mark(ink, first, h), y0, first[2], y1), h)


def _parted(row: Row, ink: np.ndarray, rules: np.ndarray, h: int) -> tuple[Box, Box] | None:
    """姓 and 名 on either side of the one ruling line that parts the contact's row in a table
    (their small 姓 / 名 marks, which a reading may misread next to writing, at each half's
    left).  A line with only paper before it is the label cell's side: the row begins after it."""
    x0, y0, x1, y1 = row.value_box
    start = x0
    parting = []
    for a, b in frames.rule_lines(rules, (x0, y0 + (y1 - y0) // 5, x1, y1 - (y1 - y0) // 5)):
        if not ink[y0:y1, start:a].any():
            start = b + 3  # nothing before it yet: the label cell's side
        else:
            parting.append((a, b))
    if len(parting) != 1:
        return None
    a, b = parting[0]
    last, first = (start, y0, a - 3, y1), (b + 3, y0, x1, y1)
    return _roomy((_after_mark(ink, last, h), y0, a - 3, y1), (_after_mark(ink, first, h), y0, x1, y1), h)


def _roomy(last: Box, first: Box, h: float) -> tuple[Box, Box] | None:
    """姓's and 名's places, when each has room for two characters of writing."""
    return (last, first) if min(last[2] - last[0], first[2] - first[0]) >= 2 * h else None


def _after_mark(ink: np.ndarray, box: Box, h: float) -> int:
    """Where a half's writing may begin: after its small printed mark (姓 / 名, no taller than
    the label's print, within a character of the half's left, paper after it), else the
    half's left."""
    x0, y0, x1, y1 = box
    part = ink[y0:y1, x0:x1]
    if part.size == 0:
        return x0
    cols = part.any(axis=0)
    inked = np.flatnonzero(cols)
    if not inked.size or inked[0] > 1.2 * h:
        return x0
    start = int(inked[0])
    gap = int(max(2, 0.3 * h))
    end = start
    while end < len(cols) and (cols[end] or cols[end:end + gap].any()):
        end += 1
    rows_ = np.flatnonzero(part[:, start:end].any(axis=1))
    if end - start > 1.3 * h or not rows_.size or rows_[-1] - rows_[0] > 1.3 * h:
        return x0  # not a small mark: writing begins at the left
    return x0 + end
