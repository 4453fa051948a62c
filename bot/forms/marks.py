"""Marks and writing from the image, never from OCR text (■ reads as 較, □ as ロ).

**Options.**  In a choice row the printed check boxes are found as square outlines (a template
of a box's border, matched against the ink at a few sizes); the k-th box is the k-th option of
the row, in the order the vocabulary lists them, and the row holds exactly that many boxes or
it is unsure.  Each option is then judged on two things, both against the page's own ink
threshold (:class:`bot.forms.raster.Levels`):

* ``inside``: the share of the box's interior that is ink (a tick, an X, a filled box, ■, ☑);
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
from itertools import pairwise

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
# Printed boxes of one row share their middle within this many pixels (the page is deskewed).
LINE_PX = 2
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


def _sums(img: np.ndarray) -> np.ndarray:
    """The integral image: the sum of ``img`` over any rectangle in four lookups."""
    return cv2.integral(img.astype(np.float64))


def _rect(sums: np.ndarray, y0: np.ndarray, x0: np.ndarray, y1: np.ndarray, x1: np.ndarray) -> np.ndarray:
    return sums[y1, x1] - sums[y0, x1] - sums[y1, x0] + sums[y0, x0]


def find_boxes(ink: np.ndarray, cy_hint: float, *, round_: bool = False,
               solid: np.ndarray | None = None) -> list[tuple[float, tuple[int, int, int, int]]]:
    """Candidate printed check boxes in a row's value cell: square outlines 7–12 pt wide whose
    four sides are ink, near the row's middle (``cy_hint``); (score, box), best first.  Every
    position is measured at once from integral images (a row found by its words is wide and
    full of print: a loop over its positions took 0.6 s a row).  ``round_``: printed ○ targets
    instead (:func:`_round_boxes`, ``solid``: the same cell at the page's threshold); a form
    prints one or the other."""
    src = cv2.dilate(ink.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(np.float32)
    h, w = ink.shape
    wide, raw = _sums(src), _sums(ink)
    found: list[tuple[float, int, int, int]] = []  # (score, x, y, side)
    t, o = 2, 4
    for side_pt in (7.0, 7.5, 8.0, 8.5, 9.0, 9.5, 10.0, 10.5, 11.0, 11.5, 12.0):
        side = int(round(side_pt * PT))
        if side + 2 > h or side + 2 > w:
            continue
        if round_:
            found.extend(_round_boxes(src, ink, ink if solid is None else solid, side, cy_hint, t, o))
            continue
        k = np.zeros((side, side), np.float32)
        k[:t, :] = k[-t:, :] = k[:, :t] = k[:, -t:] = 1
        k /= k.sum()
        cov = cv2.filter2D(src, -1, k, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
        ys, xs = np.nonzero(cov >= 0.85)
        # inside the cell, near the row's middle, with room for the paper just outside
        keep = ((ys + side <= h) & (xs + side <= w) & (np.abs(ys + side / 2 - cy_hint) <= 0.45 * side + 4 * PT)
                & (ys - o >= 0) & (xs - o >= 0) & (ys + side + o <= h) & (xs + side + o <= w))
        ys, xs = ys[keep], xs[keep]
        if ys.size == 0:
            continue
        y1, x1 = ys + side, xs + side

        def ring(sums: np.ndarray, y0: np.ndarray, x0: np.ndarray, y1: np.ndarray, x1: np.ndarray,
                 d: int) -> tuple[np.ndarray, ...]:
            """The sums of the four strips ``d`` thick along the sides of each rectangle."""
            return (_rect(sums, y0, x0, y0 + d, x1), _rect(sums, y1 - d, x0, y1, x1),
                    _rect(sums, y0, x0, y1, x0 + d), _rect(sums, y0, x1 - d, y1, x1))

        sides = np.stack(ring(wide, ys, xs, y1, x1, t)) / (t * side)
        # a printed box is a thin ring with paper just outside it (marks cross it in a few
        # places); a blob of text or scribble that happens to cover a ring does not
        span = side + 2 * o
        outer = sum(ring(raw, ys - o, xs - o, y1 + o, x1 + o, 2)) / (4 * 2 * span)
        # ties on the widened ink go to the ring that fits the box's own line best
        fit = sum(ring(raw, ys, xs, y1, x1, t)) / (4 * t * side)
        good = (sides.min(axis=0) >= 0.75) & (outer <= 0.3)
        for y, x, f in zip(ys[good].tolist(), xs[good].tolist(), fit[good].tolist(), strict=True):
            found.append((float(cov[y, x]) + 0.05 * f + 0.0002 * side, x, y, side))
    found.sort(reverse=True)
    out: list[tuple[float, tuple[int, int, int, int]]] = []
    for score, x, y, side in found:
        b = (x, y, x + side, y + side)
        # one candidate per place and size: the best position of a box of about this size wins.
        # A smaller ring inside a marked box (a tick's stroke and two of the box's sides) must
        # not take the place of the box itself: the form's size is chosen later (box_side).
        if any(abs((o[2] - o[0]) - side) <= 3 and _overlap(b, o) > 0.4 for _, o in out):
            continue
        out.append((score, b))
    return out


def _disc(size: int, r0: float, r1: float) -> np.ndarray:
    """A ``size``² kernel of the pixels whose centres lie between radii r0 and r1 of its middle."""
    yy, xx = np.mgrid[0:size, 0:size]
    d = np.hypot(yy + 0.5 - size / 2, xx + 0.5 - size / 2)
    return ((d > r0) & (d <= r1)).astype(np.float32)


def _round_boxes(src: np.ndarray, ink: np.ndarray, solid: np.ndarray, side: int, cy_hint: float, t: int,
                 o: int) -> list[tuple[float, int, int, int]]:
    """Printed ○ check targets of one size (a Word or Excel form types ○ before each option
    instead of drawing □): a ring ``t`` thick whose four quarters are ink (``src``: the widened
    ink), with paper just outside it, scored as find_boxes scores a square; inside it, paper
    near the ring or a mark that is no blob at the page's threshold (``solid``).  A ○ filled in
    is not found here (a bold kanji is as full): read_marks takes it from the □ reading."""
    h, w = ink.shape
    r = side / 2
    ring = _disc(side, r - t, r)
    cov = cv2.filter2D(src, -1, ring / ring.sum(), anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
    ys, xs = np.nonzero(cov >= 0.85)
    keep = ((np.abs(ys + side / 2 - cy_hint) <= 0.45 * side + 4 * PT)
            & (ys - o >= 0) & (xs - o >= 0) & (ys + side + o <= h) & (xs + side + o <= w))
    ys, xs = ys[keep], xs[keep]
    if ys.size == 0:
        return []
    # the other measures only where the ring is ink (a few dozen places), from their windows
    win = partial(_windows, ys=ys, xs=xs)
    yy, xx = np.mgrid[0:side, 0:side]
    quarters = [ring * q for q in ((yy < r) & (xx < r), (yy < r) & (xx >= r), (yy >= r) & (xx < r),
                                   (yy >= r) & (xx >= r))]
    around = win(src, side)
    least = np.min([(around * q).sum(axis=(1, 2)) / q.sum() for q in quarters], axis=0)
    raw = ink.astype(np.float32)
    outside = _disc(side + 2 * o, r + o - 2, r + o)
    outer = (win(raw, side + 2 * o, -o) * outside).sum(axis=(1, 2)) / outside.sum()
    own = win(raw, side)
    fit = (own * ring).sum(axis=(1, 2)) / ring.sum()
    # paper just inside the ring too (a tick crosses it in two places: the round strokes of
    # dense print, 開通通知書 under a circle, leave ink in part of it), or a whole crisp ring with
    # paper all round and something in it that is no blob at the page's threshold (a ✓ printed in
    # the ○; a kanji at 300 dpi blurred is a solid blob there, 書 0.97 of the disc, and its ring
    # at the lenient threshold is rough: 0.72 of it raw ink where a printed ○'s is 0.81 and more)
    within, disc = _disc(side, 0.45 * r, r - t - 1), _disc(side, -1, r - t - 1)
    near = (own * within).sum(axis=(1, 2)) / within.sum()
    full = (win(solid.astype(np.float32), side) * disc).sum(axis=(1, 2)) / disc.sum()
    crisp = (cov[ys, xs] >= 0.98) & (fit >= 0.78) & (outer <= 0.1) & (full < 0.85)
    good = (least >= 0.75) & (outer <= 0.3) & ((near <= 0.4) | crisp)
    return [(float(cov[y, x]) + 0.05 * float(f) + 0.0002 * side, x, y, side)
            for y, x, f in zip(ys[good].tolist(), xs[good].tolist(), fit[good].tolist(), strict=True)]


def _windows(img: np.ndarray, size: int, shift: int = 0, *, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """The ``size``² windows of ``img`` whose top-left corners are (ys + shift, xs + shift)."""
    return np.lib.stride_tricks.sliding_window_view(img, (size, size))[ys + shift, xs + shift]


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    return w * h / min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))


def box_side(rows: list[tuple[np.ndarray, list[tuple[float, tuple[int, int, int, int]]]]]) -> int | None:
    """The side of the form's printed check boxes: the most common side among the strongest
    candidates of all choice rows that stand apart from text on their left (a box begins an
    option; a square inside a word has the word's previous stroke right beside it)."""
    sides: list[int] = []
    for ink, cands in rows:
        for score, b in cands:
            x0, y0, x1, y1 = b
            left = ink[y0:y1, max(0, x0 - int(4 * PT)): max(0, x0 - 2)]
            if score >= 1.0 and left.size and not left.any():
                sides.append(x1 - x0)
    if not sides:
        return None
    values, counts = np.unique(np.array(sides), return_counts=True)
    # neighbouring sizes vote together (a box found at 26 and 27 px is one size)
    smooth = [int(sum(c for v2, c in zip(values, counts, strict=True) if abs(v2 - v) <= 2)) for v in values]
    return int(values[int(np.argmax(smooth))])


def row_boxes(ink: np.ndarray, cands: list[tuple[float, tuple[int, int, int, int]]], side: int,
              n: int) -> list[tuple[int, int, int, int]] | None:
    """The ``n`` printed boxes of a row, left to right, or None when the row does not show
    exactly ``n`` boxes of the form's size, each followed by its label.

    A circle drawn round a label makes rings of the box's size out of its glyphs (門 of 開,
    書 and a bracket): when the row shows more such rings than options, those that sit inside
    a word (print right against their left side, on the text's line) are left out, then those
    off the line most rings share; the row is read only when exactly ``n`` clear winners remain,
    on one line, with room for a label between each two."""
    boxes = _pick(ink, cands, side, n, skip_in_word=False)
    if boxes is None:
        boxes = _pick(ink, cands, side, n, skip_in_word=True)
    if boxes is None:
        # printed boxes sit on one line; a ring the circle makes with a glyph sits a few
        # pixels above or below it: keep the rings on the line most of them share
        line = _box_line(ink, cands, side)
        if line is not None:
            boxes = _pick(ink, cands, side, n, skip_in_word=True, line=line)
    if boxes is None or len(boxes) != n:
        return None
    if any(b[0] - a[2] < side for a, b in pairwise(boxes)):
        return None  # two options' boxes with no room for a label between them
    middles = [(b[1] + b[3]) / 2 for b in boxes]
    if max(middles) - min(middles) > 2 * LINE_PX:
        return None  # printed boxes sit on one line: one of these is no box
    return boxes


def ring_in_word(ink: np.ndarray, boxes: list[tuple[int, int, int, int]], side: int) -> bool:
    """Whether one of a choice row's boxes is a ring inside a word (書's 口), in the place of a box
    whose outline a mark broke: the next option's word was read as marked, sure (header_digits
    seed 12626 form 1, 150 dpi b&w: the cross over 開通通知書's □).  Such a ring has a character
    of its word right before it, apart from it, ink inside, and another size than the row's
    printed boxes (24 px where they are 28: a row prints its boxes alike).  A circle drawn through
    a □ leaves ink before and in it, but the □ keeps its size; a lone box has none to compare."""
    if len(boxes) < 2:
        return False
    for i, b in enumerate(boxes):
        others = [o for j, o in enumerate(boxes) if j != i]
        w = sorted(o[2] - o[0] for o in others)[len(others) // 2]
        h = sorted(o[3] - o[1] for o in others)[len(others) // 2]
        if max(abs((b[2] - b[0]) - w), abs((b[3] - b[1]) - h)) >= 3 and print_before(ink, b, side) \
                and _inked(ink, b):
            return True
    return False


def print_before(ink: np.ndarray, b: tuple[int, int, int, int], side: int) -> bool:
    """Ink at mid-height within ⅗ of a box before the ring, apart from it: a character of the
    word the ring is in.  (A tick's arm or a fill run out over the box's side is one with it.)"""
    x0, y0, x1, y1 = b
    a, top = max(0, x0 - int(0.6 * side)), max(0, y0 - 2)
    part = ink[top:y1 + 2, a:x1].astype(np.uint8)
    if part.size == 0 or x0 - 2 <= a:
        return False
    _, lab = cv2.connectedComponents(part, connectivity=8)
    ox = x0 - a
    own = np.unique(lab[:, ox:ox + 3])  # the box's left side and what touches it
    yc = (y0 + y1) // 2 - top
    strip = lab[max(0, yc - side // 4): yc + side // 4, :ox - 2]
    return int((~np.isin(strip, own) & (strip > 0)).sum()) >= 3


def _inked(ink: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    """Ink inside a ring, but not a pen's fill (a glyph's inside is half ink)."""
    x0, y0, x1, y1 = box
    k = max(2, (x1 - x0) // 5)
    inner = ink[y0 + k:y1 - k, x0 + k:x1 - k]
    return inner.size > 0 and INSIDE_MARK <= float(inner.mean()) < 0.8


def rings(cands: list[tuple[float, tuple[int, int, int, int]]], side: int) -> int:
    """How many separate rings of the form's box size a row shows (boxes, and rings in words)."""
    seen: list[tuple[int, int, int, int]] = []
    for score, b in cands:
        if abs((b[2] - b[0]) - side) <= 2 and score >= 1.0 and all(b[2] <= o[0] or b[0] >= o[2] for o in seen):
            seen.append(b)
    return len(seen)


def _in_word(ink: np.ndarray, b: tuple[int, int, int, int], side: int) -> bool:
    """Print right against the ring's left side on the text's line: a ring inside a word."""
    x0, yc = b[0], (b[1] + b[3]) // 2
    left = ink[max(0, yc - side // 4): yc + side // 4, max(0, x0 - int(2 * PT)): max(0, x0 - 2)]
    return int(left.sum()) >= 3


def _box_line(ink: np.ndarray, cands: list[tuple[float, tuple[int, int, int, int]]], side: int) -> float | None:
    """The middle (y) that most rings of the box's size outside words share, within 2 px."""
    ys = [(b[1] + b[3]) / 2 for score, b in cands
          if abs((b[2] - b[0]) - side) <= 2 and score >= 1.0 and not _in_word(ink, b, side)]
    if not ys:
        return None
    votes = [(sum(abs(y2 - y) <= LINE_PX for y2 in ys), y) for y in ys]
    best = max(v for v, _ in votes)
    return float(np.median([y for v, y in votes if v == best]))


def _pick(ink: np.ndarray, cands: list[tuple[float, tuple[int, int, int, int]]], side: int, n: int, *,
          skip_in_word: bool, line: float | None = None) -> list[tuple[int, int, int, int]] | None:
    picked: list[tuple[float, tuple[int, int, int, int]]] = []
    for score, b in cands:
        if abs((b[2] - b[0]) - side) > 2 or score < 1.0:
            continue
        if line is not None and abs((b[1] + b[3]) / 2 - line) > LINE_PX:
            continue
        if any(not (b[2] <= o[0] or b[0] >= o[2]) for _, o in picked):
            continue
        # the label begins 1–8 pt right of the box, on the box's line
        x1, yc = b[2], (b[1] + b[3]) // 2
        after = ink[max(0, yc - side // 3): yc + side // 3, x1 + int(1 * PT): x1 + int(8 * PT)]
        if not after.any():
            continue
        if skip_in_word and _in_word(ink, b, side):
            continue
        picked.append((score, b))
    picked.sort(key=lambda sb: -sb[0])
    if len(picked) > n and picked[n][0] > picked[n - 1][0] - 0.02:
        return None  # more boxes than options and no clear winners
    if len(picked) < n:
        return None
    return sorted(b for _, b in picked[:n])


def _solid_ring(ink: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    """True when the box's surroundings are ink too (a blob of text or scribble, not a printed box)."""
    x0, y0, x1, y1 = box
    pad = max(3, int(1.2 * PT))
    outer = ink[max(0, y0 - pad): y1 + pad, max(0, x0 - pad): x1 + pad]
    return outer.mean() > 0.6


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
        out.append(OptionMark(state, conf, box, (left_edge, top, right_edge, bottom), inside, max(halo, light_halo)))
    return out


def _within(ink: np.ndarray, box: tuple[int, int, int, int]) -> Callable[[np.ndarray], float]:
    """The share of a check target's interior that is ink, for any image of the row: a □'s
    square less a fifth of the side all round; a ○'s disc of 0.32 of the side (its ring comes
    further in at the square's corners, and a tick in it stays off the middle)."""
    x0, y0, x1, y1 = box
    side = x1 - x0
    if is_round(ink, box):
        yy, xx = np.mgrid[y0:y1, x0:x1]
        disc = np.hypot(yy + 0.5 - (y0 + y1) / 2, xx + 0.5 - (x0 + x1) / 2) <= 0.32 * side

        def share(img: np.ndarray) -> float:
            part = img[y0:y1, x0:x1]
            return float(part[disc[:part.shape[0], :part.shape[1]]].mean()) if part.size and disc.any() else 0.0
        return share
    shrink = max(3, int(round(side * 0.2)))

    def square(img: np.ndarray) -> float:
        part = img[y0 + shrink: y1 - shrink, x0 + shrink: x1 - shrink]
        return float(part.mean()) if part.size else 0.0
    return square


def is_round(ink: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    """Whether a found check target is a ○, not a □: the tips of its square's corners (beyond
    0.6 of the side from its middle, where a ○ never reaches) are paper in three of the four
    (a mark may cross one), where a □'s outline runs through every one."""
    x0, y0, x1, y1 = box
    part = ink[y0:y1, x0:x1]
    if part.size == 0 or min(part.shape) < 6:
        return False
    h, w = part.shape
    yy, xx = np.mgrid[0:h, 0:w]
    dy, dx = yy + 0.5 - h / 2, xx + 0.5 - w / 2
    tip = np.hypot(dy, dx) > 0.6 * (w + h) / 2
    tips = [part[tip & (dy < 0) & (dx < 0)], part[tip & (dy < 0) & (dx >= 0)], part[tip & (dy >= 0) & (dx < 0)],
            part[tip & (dy >= 0) & (dx >= 0)]]
    return all(t.size for t in tips) and sum(float(t.mean()) <= 0.15 for t in tips) >= 3


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
