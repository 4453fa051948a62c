"""A value's place beside its label on a page found by its printed words (issue 19): to the
right of it, under it or over it (the side the page prints its values on), bounded by the next
label, the ruling lines and the page."""

from __future__ import annotations

import numpy as np

from bot.forms.choice_rows import rule_rows
from bot.forms.frames import rule_lines
from bot.forms.words import Box, Found

RIGHT, BELOW, ABOVE = "right", "below", "above"


def _beside(lab: Found, labels: list[Found], top: int, bottom: int, width: int) -> int:
    """The right end of a value beside ``lab``: the next label across, or the page's edge."""
    right = [f.box[0] for f in labels if f is not lab and f.box[0] > lab.box[2] + lab.height
             and f.box[1] < bottom and f.box[3] > top]
    return int(min(right, default=width - 1) - 0.3 * lab.height)


def _table_edge(rules: np.ndarray, left: int, right: int, label: Box, h: int) -> int:
    """``right``, or the table's side where the label's row ends before it: the first upright
    ruling line across the row, room for a value before it, at which the row's rules over and
    under it (those found within 1.6 lines of the label) end.  Beyond it is paper or another
    panel (a 支店記入欄 beside the table: its stamp box is no value); a line the row's rules
    cross (姓 | 名) is inside the table and no end."""
    over = rule_rows(rules, left, right, int(label[1] - 1.6 * h), label[1])
    under = rule_rows(rules, left, right, label[3], int(label[3] + 1.6 * h))
    edges = over[-1:] + under[:1]
    top, bottom = (over[-1] if over else label[1]), (under[0] if under else label[3])
    if not edges or bottom - top < h:
        return right
    for x, last in rule_lines(rules, (left, top + 4, right, bottom - 3)):
        end = last + 3  # past the line's width
        if x < left + 2 * h:
            continue  # no room for a value before it
        on = [rules[max(0, y - 3):y + 4, x - h:x].any(axis=0).mean() >= 0.8 for y in edges]
        off = [rules[max(0, y - 3):y + 4, end:end + h].any(axis=0).mean() < 0.3 for y in edges]
        if all(on) and all(off):
            return x - 3
    return right


def _box_bottom(rules: np.ndarray, label: Box, left: int, right: int, bottom: int, below: int | None, h: int) -> int:
    """``bottom``, or, for a label printed small in the top-left corner of a box that runs on
    further down (an upright ruling line right before the label, down to the box's bottom
    edge), that edge: the value is written anywhere in the box, often lower than four of the
    caption's small lines (a 電話番号 box as tall as two rows).  Up to the next label under it."""
    limit = min(int(label[3] + 10 * h), below - 2 if below is not None else rules.shape[0])
    deep = rule_rows(rules, left, right, bottom, limit)
    if not deep:
        return bottom
    side = rule_lines(rules, (int(label[0] - 1.5 * h), label[1], label[0], deep[0] - 3))
    return deep[0] + 3 if side else bottom


def place(lab: Found, side: str, labels: list[Found], rules: np.ndarray) -> Box | None:
    height, width = rules.shape
    h = lab.height
    x0, y0, x1, y1 = lab.box
    col = [f for f in labels if f is not lab and f.box[0] < x1 + h and f.box[2] > x0]
    above = max((f.box[3] for f in col if f.box[3] <= y0 + 0.3 * h), default=None)
    below = min((f.box[1] for f in col if f.box[1] >= y1 - 0.3 * h), default=None)
    if side == RIGHT:
        # the label's line, between the rules over and under it (a table's row, the line a
        # value is written on), or half way to the labels above and below
        top = int(max(y0 - 1.2 * h, (above + y0) / 2 if above is not None else 0))
        bottom = int(min(y1 + 1.2 * h, (y1 + below) / 2 if below is not None else height))
        left = int(x1 + 0.3 * h)
        right = _beside(lab, labels, y0, y1, width)
        over = rule_rows(rules, left, right, top, int(y0 + 0.3 * h))
        under = rule_rows(rules, left, right, int(y1 - 0.3 * h), bottom)
        top = over[-1] - 2 if over else top
        bottom = under[0] + 3 if under else bottom
        right = _table_edge(rules, left, right, lab.box, h)
    elif side == BELOW:
        # down to the next label, or the line the value is written on (the first ruling line
        # that is not right under the label)
        top = y1 + 2
        bottom = int(min(y1 + 4 * h, below - 2 if below is not None else height))
        left = int(x0 - 0.8 * h)
        right = _beside(lab, labels, y0, bottom, width)
        under = rule_rows(rules, left, right, int(y1 + 0.8 * h), bottom)
        if under:
            bottom = under[0] + 3
        else:
            bottom = _box_bottom(rules, lab.box, left, right, bottom, below, h)
        # the box's side: an upright ruling line across the whole place (a box two to a row)
        sides = [a for a, _ in rule_lines(rules, (int(x1 + 2 * h), top + 2, right, bottom - 3))]
        right = sides[0] - 3 if sides else right
    else:
        # up to the label above, or the top of the frame the value is written in (the first
        # ruling line that is not right over the label)
        bottom = y0 - 2
        top = int(max(y0 - 4 * h, above + 2 if above is not None else 0))
        left = int(x0 - 0.8 * h)
        right = _beside(lab, labels, top, y1, width)
        # (the frame's bottom, right over the label, is not its top)
        over = rule_rows(rules, left, right, top, int(y0 - 1.5 * h))
        if over:
            top = over[-1] - 3
    left, top = max(0, left), max(0, top)
    if right - left < 2 * h or bottom - top < (0.8 if side == RIGHT else 1.1) * h:
        return None  # too little room for a line of writing: not where the value is
    return left, top, right, bottom
