"""Marks and writing from the image, never from OCR text (■ reads as 較, □ as ロ).

**Options.**  In a choice row the printed check boxes (□ outlines or ○ rings) are found by
:mod:`bot.forms.check_boxes`; the k-th box is the k-th option of the row, in the order the
vocabulary lists them, and the row holds exactly that many boxes or it is unsure.  Each option
is then judged on two things, both against the page's own ink threshold
(:class:`bot.forms.raster.Levels`):

* ``inside``: the share of the box's interior that is ink (a tick, an X, a filled box, ■, ☑; a
  ○'s disc);
* ``halo``: ink around the option where nothing is printed: above and below its label, left
  of its box, right of the label's end (a circle drawn round the label, often open, often
  crossing it; the overshoot of a tick or an X).

Both have a band where the reader is not sure; a value in it makes the option ``unsure``.
``unmarked`` is sure only when the box and the label's surroundings are clean with margin at
the page's threshold AND at the lenient one (a light pen's circle breaks into specks at the
page's threshold, and its arcs through the label go with the label's print); ink that comes
over the row's rule from the row above or below (its circle's arc) can make an option unsure,
never marked.

**Writing.**  A text cell is ``filled`` when it holds ink beyond specks, once the ruling lines
and the cell's own printed words (``（9桁）``, ``@uspot.jp``, ``姓``/``名``) are taken away;
``empty`` when it holds (almost) none; ``unsure`` between.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import cv2
import numpy as np

from bot.forms.raster import PT

MARKED = "marked"
UNMARKED = "unmarked"
UNSURE = "unsure"
FILLED = "filled"
EMPTY = "empty"

# Interior ink share: at most this is an empty box (noise, JPEG ringing) …
INSIDE_EMPTY = 0.025
# … at least this is a mark.
INSIDE_MARK = 0.045
# Ink inside the box that belongs to a stroke (a component at least STROKE_PT long: no speck,
# no JPEG ringing) is a mark from this share of INSIDE_MARK: a tick that only grazes the box
# leaves ~4 % of its interior inked; an empty box in the corpus has at most 0.5 % raw ink.
STROKE_SHARE = 2 / 3
STROKE_PT = 2.0
# Halo ink, in ink pixels per pixel of label width (a circle leaves ~2 stroke widths per column).
HALO_EMPTY = 0.25
HALO_MARK = 0.6
# Writing: ink pixels in a cell per point² of cell … in pixels of ink outside specks.
WRITING_EMPTY_PX = 15 * PT
WRITING_FILLED_PX = 60 * PT


@dataclass(frozen=True)
class OptionMark:
    state: str  # marked | unmarked | unsure
    conf: float  # 0–1
    box: tuple[int, int, int, int]  # the printed check box (upright pixels)
    area: tuple[int, int, int, int]  # box + label: where the option is
    inside: float
    halo: float  # the larger of the halos at the page's and the lenient threshold


def despeckle(ink: np.ndarray, min_px: int) -> np.ndarray:
    n, lab, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    keep = np.zeros(n, bool)
    keep[1:] = np.maximum(stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT]) >= min_px
    return keep[lab]


def _from_outside(lab: np.ndarray, stats: np.ndarray, margin: int, zone_top: int, zone_bottom: int) -> np.ndarray:
    """The ink of the groups that touch the cell's top or bottom edge and stay away from the
    label's text zone: a stroke of the row above or below that comes over the rule (the arc
    of its circle, its tick's tail).  An option's own circle that crosses the rule reaches
    down (up) its sides to the label's height and is kept."""
    h = lab.shape[0]
    top = stats[:, cv2.CC_STAT_TOP]
    bottom = top + stats[:, cv2.CC_STAT_HEIGHT]
    keep = ((top <= margin) & (bottom <= zone_top)) | ((bottom >= h - margin) & (top >= zone_bottom))
    keep[0] = False
    return keep[lab]


def _label_end(clean: np.ndarray, x1: int, limit: int, zone_top: int, zone_bottom: int) -> int:
    """Where the label right of a box (its right side at ``x1``) ends: from the box towards
    ``limit``, where a gap of 7 pt begins in its text zone.  An option's number before its
    words ("□1. フレッツ光ネクスト": a narrow piece of print right after the box, its period too
    light to count) may stand up to 12 pt before them: the words after it are the label too."""
    cols = clean[zone_top:zone_bottom, x1 + 2: limit].any(axis=0)
    end = x1 + 2
    gap = 0
    first: int | None = None  # where the label's print begins
    for j, has in enumerate(cols):
        if has:
            first = j if first is None else first
            end, gap = x1 + 2 + j + 1, 0
        else:
            gap += 1
            if gap > 7 * PT and end > x1 + 2 + 3 * PT:
                number = first is not None and first <= 4 * PT and end - (x1 + 2 + first) <= 3.5 * PT
                if not number or gap > 12 * PT:
                    break
    return max(end, x1 + 1)


def _halo(m: np.ndarray, *, rows: tuple[int, int], span: tuple[int, int], box: tuple[int, int, int, int],
          label: tuple[int, int, int, int], width: int) -> float:
    """Ink of ``m`` around an option (``rows`` × ``span``) but in its printed box and its
    label's text zone, per pixel of the option's width."""
    top, bottom = rows
    region = m[top:bottom, span[0]:span[1]].copy()
    region[max(0, box[1] - 2 - top): box[3] + 3 - top, max(0, box[0] - 2 - span[0]): box[2] + 3 - span[0]] = False
    region[max(0, label[1] - top): label[3] - top, max(0, label[0] - span[0]): label[2] - span[0]] = False
    return float(region.sum()) / float(width)


def judge(ink: np.ndarray, boxes: list[tuple[int, int, int, int]], *, top: int, bottom: int,
          cell_right: int, lenient: np.ndarray | None = None) -> list[OptionMark]:
    """Judge each box of a row (``ink`` in row-cell pixels, ``top``/``bottom`` the rows' inner
    edges in the same pixels; ``lenient`` the same cell at the lenient threshold).

    "Unmarked" must be clean with margin: the halo is measured at the page's threshold and at
    the lenient one (a light pen's circle breaks into specks at the page's threshold, and its
    arcs that pass through the label are taken away with the label's print), and ink that
    comes over the row's rule from the row above or below can make an option unsure, never
    marked."""
    w = ink.shape[1]
    clean = despeckle(ink, max(3, int(0.9 * PT)))
    strokes = despeckle(ink, int(STROKE_PT * PT))
    light = clean if lenient is None else despeckle(lenient, max(3, int(0.9 * PT)))
    if lenient is not None and light.size:
        # what the lenient threshold leaves of a rule (its grey edge) or a scanner's streak: a
        # column (row) of ink through the whole cell, which no pen's circle makes
        light[:, light.mean(axis=0) > 0.7] = False
        light[light.mean(axis=1) > 0.7, :] = False
    margin = max(2, int(0.8 * PT))
    # strokes are judged by the lenient ink's groups: a light pen's circle broken at the page's
    # threshold is one group there, from its arc over the rule down to its sides
    groups = cv2.connectedComponentsWithStats(light.astype(np.uint8), connectivity=8)[1:3]
    out: list[OptionMark] = []
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        side = x1 - x0
        cy = (y0 + y1) / 2
        within = _within(ink, (x0, y0, x1, y1))
        inside = within(ink)
        stroke_inside = within(strokes)
        limit = boxes[i + 1][0] - int(4 * PT) if i + 1 < len(boxes) else cell_right
        # (a tight row may put the zone's top above the cell: a negative index would empty it)
        zone_top, zone_bottom = max(0, int(cy - 0.62 * side)), int(cy + 0.62 * side) + 1
        left_edge = max(0, x0 - int(6 * PT))
        if i > 0:
            left_edge = max(left_edge, out[-1].area[2] + int(3 * PT))
        end = _label_end(clean, x1, limit, zone_top, zone_bottom)
        right_edge = min(w, end + int(5 * PT), limit)
        box = (x0, y0, x1, y1)
        around = partial(_halo, rows=(top, bottom), span=(left_edge, right_edge), box=box,
                         label=(x1, zone_top, end, zone_bottom), width=end - x1 + side)
        halo = around(clean)  # everything around the label, a neighbour's stroke too
        own = around(clean & ~_from_outside(*groups, margin, zone_top, zone_bottom))
        # the lenient ink's own label (its print is bolder, a light glyph is there in full)
        light_end = _label_end(light, x1, limit, zone_top, zone_bottom)
        light_halo = _halo(light, rows=(top, bottom), span=(left_edge, min(w, light_end + int(5 * PT), limit)),
                           box=box, label=(x1, zone_top, light_end, zone_bottom), width=light_end - x1 + side)
        state, conf = _decide(inside, own, stroke_inside)
        if state == UNMARKED and (halo > HALO_EMPTY or light_halo > HALO_EMPTY):
            state, conf = UNSURE, 0.5  # ink near the label the page's threshold does not show as a mark
        if state == UNMARKED and within(light) > INSIDE_EMPTY:
            # a light pen's tick: thin and grey, 0.022 of the box at the page's threshold and
            # read as clean (seed 11111 form 49, header_digits: a false 差戻)
            state, conf = UNSURE, 0.5
        if state == UNMARKED and _ring_uneven(clean, box) >= 0.6 * side:
            # a ○'s ring heavier in one quarter than its others: a small tick drawn along the ring
            # inside it and out over its edge into the word, which neither the disc nor the halo
            # sees (print_shop, unseen seed 13636 form 86: ファミリー read unmarked, sure, under a
            # blue tick: its quarters 6, 6, 19, 34 pixels of ink)
            state, conf = UNSURE, 0.5
        out.append(OptionMark(state, conf, box, (left_edge, top, right_edge, bottom), inside, max(halo, light_halo)))
    return out


def _within(ink: np.ndarray, box: tuple[int, int, int, int]) -> Callable[[np.ndarray], float]:
    """The share of a check target's interior that is ink, for any image of the row: a □'s
    square less a fifth of the side all round; a ○'s disc of 0.32 of the side (its ring comes
    further in at the square's corners, and a tick in it stays off the middle)."""
    x0, y0, x1, y1 = box
    side = x1 - x0
    if is_round(ink, box):
        disc = np.hypot(*centred(y1 - y0, x1 - x0)) <= 0.32 * side

        def share(img: np.ndarray) -> float:
            part = img[y0:y1, x0:x1]
            return float(part[disc[:part.shape[0], :part.shape[1]]].mean()) if part.size and disc.any() else 0.0
        return share
    shrink = max(3, int(round(side * 0.2)))

    def square(img: np.ndarray) -> float:
        part = img[y0 + shrink: y1 - shrink, x0 + shrink: x1 - shrink]
        return float(part.mean()) if part.size else 0.0
    return square


def _ring_uneven(ink: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """For a ○: how much more ink its heaviest quarter holds, between its disc and its outer edge,
    than the median quarter (pixels); 0 for a □.  A printed ring holds about as much in each."""
    x0, y0, x1, y1 = box
    if not is_round(ink, box):
        return 0.0
    part = ink[y0:y1, x0:x1]
    w = part.shape[1]
    dy, dx = centred(*part.shape)
    d = np.hypot(dy, dx)
    ring = (d > 0.32 * w) & (d <= w / 2 + 1)
    counts = [float(part[ring & q].sum()) for q in quarters(dy, dx)]
    return max(counts) - float(np.median(counts))


def is_round(ink: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    """Whether a found check target is a ○, not a □: the tips of its square's corners (beyond
    0.6 of the side from its middle, where a ○ never reaches) are paper in three of the four
    (a mark may cross one), where a □'s outline runs through every one."""
    x0, y0, x1, y1 = box
    part = ink[y0:y1, x0:x1]
    if part.size == 0 or min(part.shape) < 6:
        return False
    h, w = part.shape
    dy, dx = centred(h, w)
    tip = np.hypot(dy, dx) > 0.6 * (w + h) / 2
    tips = [part[tip & q] for q in quarters(dy, dx)]
    return all(t.size for t in tips) and sum(float(t.mean()) <= 0.15 for t in tips) >= 3


def centred(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """(dy, dx) of each pixel's centre from the middle of an h × w box: the grid a ○ is measured on."""
    yy, xx = np.mgrid[0:h, 0:w]
    return yy + 0.5 - h / 2, xx + 0.5 - w / 2


def quarters(dy: np.ndarray, dx: np.ndarray) -> list[np.ndarray]:
    """The four quarters of a :func:`centred` grid: top left, top right, bottom left, bottom right."""
    return [(dy < 0) & (dx < 0), (dy < 0) & (dx >= 0), (dy >= 0) & (dx < 0), (dy >= 0) & (dx >= 0)]


def _decide(inside: float, halo: float, stroke_inside: float = 0.0) -> tuple[str, float]:
    def grade(v: float, lo: float, hi: float) -> float:
        return max(0.0, min(1.0, (v - lo) / (hi - lo)))

    g = max(grade(inside, INSIDE_EMPTY, INSIDE_MARK), grade(halo, HALO_EMPTY, HALO_MARK))
    if inside >= INSIDE_MARK or halo >= HALO_MARK or stroke_inside >= STROKE_SHARE * INSIDE_MARK:
        return MARKED, round(0.9 + 0.1 * min(1.0, max(inside / (2 * INSIDE_MARK), halo / (2 * HALO_MARK))), 3)
    if inside <= INSIDE_EMPTY and halo <= HALO_EMPTY:
        return UNMARKED, round(1.0 - 0.1 * g, 3)
    return UNSURE, round(0.5, 3)


def writing(ink: np.ndarray) -> tuple[str, float, int]:
    """(filled | empty | unsure, confidence, ink pixels) of a cell's writing area (printed words
    and rules already taken away)."""
    clean = despeckle(ink, max(3, int(1.5 * PT)))
    px = int(clean.sum())
    if px >= WRITING_FILLED_PX:
        return FILLED, round(min(1.0, 0.9 + 0.1 * px / (4 * WRITING_FILLED_PX)), 3), px
    if px <= WRITING_EMPTY_PX:
        return EMPTY, round(1.0 - 0.1 * px / WRITING_EMPTY_PX, 3), px
    return UNSURE, 0.5, px
