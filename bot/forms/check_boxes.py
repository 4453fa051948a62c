"""The printed check targets of a choice row (issue 19 and before): □ outlines found by a template
of a box's border at a few sizes, or ○ rings (a Word or Excel form types ○ before its options),
and the row's boxes picked from them: as many as its options, of the form's size, each followed
by its label, on one line, none a ring inside a word.  They are judged by
:func:`bot.forms.marks.judge`."""

from __future__ import annotations

from functools import partial
from itertools import pairwise

import cv2
import numpy as np

from bot.forms.marks import INSIDE_MARK, centred
from bot.forms.raster import PT

# Printed boxes of one row share their middle within this many pixels (the page is deskewed).
LINE_PX = 2


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
    d = np.hypot(*centred(size, size))
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
    share = inner_share(ink, box)
    return share is not None and INSIDE_MARK <= share < 0.8


def inner_share(ink: np.ndarray, box: tuple[int, int, int, int]) -> float | None:
    """The share of ink in a found target's inner square (less a fifth of its side all round);
    None where nothing of it is left."""
    x0, y0, x1, y1 = box
    k = max(2, (x1 - x0) // 5)
    inner = ink[y0 + k:y1 - k, x0 + k:x1 - k]
    return float(inner.mean()) if inner.size else None


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
