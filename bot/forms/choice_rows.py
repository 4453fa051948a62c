"""A choice's row on a page found by its printed words (issue 19; where the row stands:
:mod:`.choice_lines`): the check boxes found in it held to the words they belong to, and the
band round it that "no option marked" rests on.

The k-th check box found must stand right before the k-th option word, for every word read:
otherwise the row's marks are not judged (a box not found, or a mark taken for a box, would
move every option's judgement to its neighbour).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from bot.forms.marks import centred
from bot.forms.words import Band, Box, Line, band


def rule_rows(rules: np.ndarray, x0: int, x1: int, y0: int, y1: int, share: float = 0.33) -> list[int]:
    """Rows between y0 and y1 where a ruling line crosses at least ``share`` of [x0, x1)."""
    if y1 <= y0 or x1 <= x0:
        return []
    part = rules[max(0, y0):y1, max(0, x0):x1]
    return [max(0, y0) + int(y) for y in np.flatnonzero(part.mean(axis=1) >= share)]


def _read_into(box: Box, word: Box, side: int, ink: np.ndarray | None, origin: tuple[int, int]) -> bool:
    """Whether ``box`` (page pixels) is the check box OCR read into its word's first character
    (□開 as one wide 開): it begins where the word's box begins, or up to ¾ of a box into it (a
    cross's or a fill's ink out on the left widens that character's box: seed 20003), with
    paper before it.  A ring of a □ and the stem of the letter after it begins at the □'s right
    side, with the □ itself right before it: never this."""
    if ink is None or not -0.25 * side <= box[0] - word[0] <= 0.75 * side:
        return False
    x0, y0 = int(box[0] - origin[0]), int(box[1] - origin[1])
    strip = ink[max(0, y0):max(0, y0 + side), max(0, x0 - int(0.6 * side)):max(0, x0 - 1)]
    return strip.size > 0 and float(strip.mean()) < 0.03 and x0 - int(0.6 * side) >= 0


def _number_between(box: Box, word: Box, side: int, ink: np.ndarray | None, origin: tuple[int, int]) -> bool:
    """Whether what stands between a box and its option's word (page pixels) is the option's
    number ("□1. フレッツ光ネクスト", "□① …"): print no wider than two narrow characters (a
    cross's or a tick's strokes out of the box, up to half a box, apart), the word at most 4½
    boxes on.  A box further from its word than that, or with more print before the word, is
    not this option's."""
    if ink is None or not 2 * side < word[0] - box[2] <= 3.5 * side:
        return False
    a, b = int(box[2] - origin[0] + 0.5 * side), int(word[0] - origin[0]) - 1
    y0, y1 = max(0, int(box[1] - origin[1])), max(0, int(box[3] - origin[1]))
    cols = ink[y0:y1, max(0, a):max(0, b)].any(axis=0)
    return 0 < int(cols.sum()) <= 1.3 * side


def _paper_before(box: Box, side: int, ink: np.ndarray) -> bool:
    """Whether a box (row pixels) has paper right before it, over its whole height: a printed □
    does; a ring made of a □'s right side and the stem of the letter after it has the □'s top and
    bottom edges there (OCR's letter boxes may place the word a letter late: seed 9393)."""
    x0, y0, _, y1 = box
    a = max(0, x0 - max(3, int(0.4 * side)))
    strip = ink[max(0, y0 - 1):y1 + 1, a:max(a, x0 - 2)]
    return a > 0 and strip.size > 0 and float(strip.mean()) < 0.05


def _box_before(box: Box, side: int, ink: np.ndarray) -> bool:
    """Whether a box's side stands one box before this one (row pixels): what a ring made of a
    □'s right side and the letter after it has right before it, the □ itself.  A box a cross or
    a tick ran out of has ink before it, but no upright there as tall as the box."""
    x0, y0, _, y1 = box
    a, b = max(0, x0 - side - 4), max(0, x0 - side + 5)
    strip = ink[max(0, y0):y1, a:b]
    return strip.size > 0 and bool((strip.mean(axis=0) >= 0.7).any())


def _solid(box: Box, ink: np.ndarray) -> bool:
    """Whether a box (row pixels) is filled solid inside (■ printed, or filled in with a pen whose
    ink runs over its sides, so there is no paper right before it): a ring of a □ and the
    letter after it has the paper between them inside."""
    x0, y0, x1, y1 = box
    k = max(2, int(0.2 * (x1 - x0)))
    inner = ink[max(0, y0 + k):max(0, y1 - k), max(0, x0 + k):max(0, x1 - k)]
    return inner.size > 0 and float(inner.mean()) >= 0.75


def boxes_fit_words(boxes: Sequence[Box], words_: Sequence[Box | None], origin: tuple[int, int],
                    ink: np.ndarray | None = None, placed: int | None = None) -> bool:
    """Whether each check box found in a row belongs to its option (``boxes`` in row pixels
    from ``origin``; words in page pixels).  The k-th box must stand right before the k-th
    option's printed word, ending where the word begins, and after the word of the option
    before it.  At most one option's word may be unread (a circle or a mark over
    it), and then its box must stand between its neighbours' words: a box of the wrong option
    (one not found, a piece of a circle or of a word taken for a box) is never judged as this
    option's.  Where OCR read the box into the word's first character, the box begins where the
    word's box begins, with paper before it (``ink``: the row's ink, from ``origin``).  A box
    filled solid (■, or a pen's fill over its sides) needs no paper before it; a box with paper
    before it may stand inside the box OCR gave the word before it (□ read as its last letter).
    ``placed``: the index of a box placed by its word (:func:`completed`), not found as a ring."""
    if len(boxes) != len(words_) or sum(w is None for w in words_) > 1:
        return False
    for i, (b, w) in enumerate(zip(boxes, words_, strict=True)):
        side = b[2] - b[0]
        x0, y0, x1, y1 = b[0] + origin[0], b[1] + origin[1], b[2] + origin[0], b[3] + origin[1]
        before = words_[i - 1] if i > 0 else None
        after = words_[i + 1] if i + 1 < len(words_) else None
        clear = ink is not None and (i == placed or _paper_before(b, side, ink) or _solid(b, ink)
                                     or not _box_before(b, side, ink))
        if before is not None and x0 < before[2] - 0.2 * side and not clear:
            return False  # inside the word before it (OCR may read a □ into that word's end: paper before it then)
        if w is None:
            if (before is None and after is None) or (after is not None and x1 > after[0] - side):
                return False
            continue
        # the box ends where its word begins: a "box" over the word's first letters is a ring
        # made of a □ and a letter's stem (□B read as a box round the B: seed 781, a false 差戻)
        before_word = (x0 >= w[0] - 3 * side or _number_between((x0, y0, x1, y1), w, side, ink, origin)
                       ) and x1 <= w[0] + 0.35 * side
        if not (before_word or _read_into((x0, y0, x1, y1), w, side, ink, origin)):
            return False
        if ink is not None and not clear:
            return False  # a ring of a □ and the letter after it: the □ stands right before it
        if abs((y0 + y1) / 2 - (w[1] + w[3]) / 2) > 0.6 * side:
            return False
    return True


def shared_boxes(boxes: dict[str, Sequence[tuple[float, float, float, float]]]) -> set[str]:
    """The choices any of whose check boxes (page pixels) overlaps a box of another choice: a
    row that reached into its neighbour's would judge the neighbour's box as its own option."""
    placed = [(fld, b) for fld, bs in boxes.items() for b in bs]
    out: set[str] = set()
    for i, (fa, a) in enumerate(placed):
        for fb, b in placed[i + 1:]:
            if fa != fb and min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1]):
                out |= {fa, fb}
    return out


@dataclass(frozen=True)
class Residue:
    """A choice row's band (page pixels) and its ink that is not print."""

    box: Box
    ink: np.ndarray
    height: float  # the option words' height
    cores: tuple[Band, ...]  # the print lines crossing the band (their characters' middle band)


def band_residue(row: Box, words_: Sequence[Box | None], ink: np.ndarray, lines_: Sequence[Line]) -> Residue | None:
    """The band round a choice row (1.6 lines over and under its option words' middle, the row's
    width) and its ink that is not print: ``ink`` (the page's lenient ink without ruling lines)
    less every character the page's reading placed there.  A character's box that swallowed a
    stroke (taller than 1.6 lines) counts for its line's print only."""
    ws = [w for w in words_ if w is not None]
    if not ws:
        return None
    h = float(np.median([w[3] - w[1] for w in ws]))
    mid = float(np.median([(w[1] + w[3]) / 2 for w in ws]))
    x0, x1 = max(0, int(row[0])), min(ink.shape[1], int(row[2]))
    y0, y1 = max(0, int(mid - 1.6 * h)), min(ink.shape[0], int(mid + 1.6 * h))
    if x1 <= x0 or y1 <= y0:
        return None
    part = ink[y0:y1, x0:x1].copy()
    pad = max(1, int(0.1 * h))
    cores = []
    for ln in lines_:
        lh = ln.height or h
        near = [c for c in ln.chars if not (c.box[3] < y0 or c.box[1] > y1 or c.box[2] < x0 or c.box[0] > x1)]
        if near:
            cores.append(band(ln))
        for c in near:
            cx0, cy0, cx1, cy1 = c.box
            if cy1 - cy0 > 1.6 * lh:
                cm = (cy0 + cy1) / 2
                cy0, cy1 = int(cm - 0.7 * lh), int(cm + 0.7 * lh)
            part[max(0, cy0 - pad - y0):max(0, cy1 + pad + 1 - y0),
                 max(0, cx0 - pad - x0):max(0, cx1 + pad + 1 - x0)] = False
    return Residue((x0, y0, x1, y1), part, h, tuple(cores))


def band_clean(residue: Residue | None, boxes: Sequence[Box]) -> bool:
    """Whether a choice row's band (:func:`band_residue`) holds nothing but print once its check
    boxes (page pixels) and their option words (the zone :func:`bot.forms.marks.judge` takes
    for the label's print) are taken away: "no option marked" rests on this.  A tick that only
    grazes its box or a circle reaching past the bounded row leaves ink here (seed 9393: a
    tick below and right of its box read as none).  Specks, a piece of a glyph the reading's
    character boxes missed (no bigger than a character, inside its line of print) and the thin
    straight end of a ruling line running out of the band are no mark.  The band begins just
    before the first box (what stands further left is the row's label or a heading)."""
    if residue is None or not boxes:
        return False
    (x0, y0, x1, _), h = residue.box, residue.height
    part = residue.ink.copy()
    ints = [tuple(int(v) for v in b) for b in boxes]
    for bx0, by0, bx1, by1 in ints:
        m = max(2, int(0.12 * (bx1 - bx0)))
        part[max(0, by0 - m - y0):max(0, by1 + m + 1 - y0), max(0, bx0 - m - x0):max(0, bx1 + m + 1 - x0)] = False
    for k, (bx0, by0, bx1, by1) in enumerate(ints):
        # each option's words, as the judge of its marks sees them: right of its box, as high as
        # the box and a little more (marks.judge's label zone: its print is no mark there either)
        end = ints[k + 1][0] - 2 if k + 1 < len(ints) else x1
        cy, half = (by0 + by1) / 2, 0.62 * (bx1 - bx0)
        part[max(0, int(cy - half) - y0):max(0, int(cy + half) + 1 - y0), max(0, bx1 - x0):max(0, end - x0)] = False
    first = ints[0]
    part[:, :max(0, int(first[0] - 0.6 * (first[2] - first[0])) - x0)] = False
    thin = max(4, int(0.15 * h))
    n, lab, st, _ = cv2.connectedComponentsWithStats(part.astype(np.uint8), connectivity=8)
    for i in range(1, n):
        bx, by, bw, bh = (int(v) for v in st[i, :4])
        if max(bw, bh) < max(3, 0.25 * h):
            continue  # a speck
        if bh <= thin and bw >= 3 * bh and (bx == 0 or bx + bw >= part.shape[1]):
            continue  # a ruling line's end running out of the band
        if bw <= thin and bh >= 3 * bw and (by == 0 or by + bh >= part.shape[0]):
            continue
        if x0 + bx <= ints[0][0] and x0 + bx + bw >= ints[-1][2] + 2 * (ints[-1][2] - ints[-1][0]) \
                and _edge(lab[by:by + bh, bx:bx + bw] == i, thin):
            continue  # the edge of the frame round the row (a rounded frame's are no ruling lines): it
            # runs from before the first box to past the last, where a line drawn under a word does not
        gx0, gy0 = x0 + bx, y0 + by
        if max(bw, bh) <= 0.8 * h and any(c.x0 <= gx0 and gx0 + bw <= c.x1 and c.top - 0.1 * h <= gy0 and
                                          gy0 + bh <= c.bottom + 0.1 * h for c in residue.cores):
            continue  # a piece of a glyph the reading's character boxes missed, inside its line
        return False
    return True


def _edge(comp: np.ndarray, thin: int) -> bool:
    """Whether a piece of ink (its bounding box's mask) is a frame's edge: one thin stroke across
    (its rounded corners bend it a little at the ends), never a loop (a circle has two strokes
    across its middle)."""
    h, w = comp.shape
    if h > 2.5 * thin:
        return False
    middle = comp[:, w // 5: w - w // 5]
    if middle.size == 0:
        return False
    runs = (np.diff(middle.astype(np.int8), axis=0) == 1).sum(axis=0) + middle[0]
    return float(np.median(middle.sum(axis=0))) <= thin and float((runs <= 1).mean()) >= 0.9


def goes_round(residue: Residue | None, box: Box, word: Box | None) -> bool:
    """Whether the ink of a mark made round an option (no ink in its box: a circle) passes both
    over and under the option's box and word, as its own circle does.  The arc of the row
    above's circle dips into this row from one side only (seed 9696, ver3_order: the circle
    round フレッツ光ネクスト read as ファミリー marked)."""
    if residue is None:
        return False
    (rx0, ry0, _, _), h = residue.box, residue.height
    bx0, by0, bx1, by1 = (int(v) for v in box)
    x0 = int(bx0 - 0.3 * h) - rx0
    x1 = int((word[2] if word is not None else bx1 + 4 * h) + 0.3 * h) - rx0
    mid = (by0 + by1) / 2 - ry0
    m = max(2, int(0.12 * (bx1 - bx0)))  # the box's own outline is no arc
    over = residue.ink[max(0, int(mid - 1.6 * h)):max(0, min(int(mid - 0.55 * h), by0 - m - ry0)), max(0, x0):max(0, x1)]
    under = residue.ink[max(0, int(mid + 0.55 * h), by1 + m + 1 - ry0):max(0, int(mid + 1.6 * h)), max(0, x0):max(0, x1)]
    least = max(3, int(0.5 * h))  # an arc's pixels, not a speck's
    return int(over.sum()) >= least and int(under.sum()) >= least


def completed(cands: Sequence[tuple[float, Box]], side: int, words_: Sequence[Box | None], origin: tuple[int, int],
              ink: np.ndarray, *, round_: bool = False) -> tuple[list[Box], int] | None:
    """A row's boxes (row pixels) when one option's box was not found, and that box's index:
    a pen's fill or a tick through its sides broke its outline.  Every other option's box stands
    right before its word at the form's size, the same way (gap, line); the missing one is placed
    there by its word, and at least two of its sides must show (the printed box under the mark).
    Its judgement must then be a mark inside it (:func:`bot.forms.choice_marks.read_marks`):
    paper there is no box.  A ○ (``round_``) shows two quarters of its ring instead (a cross
    drawn over it breaks it past the ring template)."""
    if len(words_) < 2 or any(w is None for w in words_):
        return None
    ok = [b for sc, b in cands if abs((b[2] - b[0]) - side) <= 2 and sc >= 1.0]
    per: list[Box | None] = []
    for w in words_:
        assert w is not None
        wx0 = w[0] - origin[0]
        mine = [b for b in ok if b[0] >= wx0 - 3 * side and b[2] <= wx0 + 0.35 * side]
        per.append(max(mine, key=lambda b: b[2]) if mine else None)
    missing = [i for i, b in enumerate(per) if b is None]
    if len(missing) != 1:
        return None
    got = [(b, w) for b, w in zip(per, words_, strict=True) if b is not None and w is not None]
    gaps = sorted(w[0] - origin[0] - b[2] for b, w in got)
    tops = sorted(b[1] for b, _ in got)
    if gaps[-1] - gaps[0] > 0.5 * side or tops[-1] - tops[0] > 3:
        return None
    k = missing[0]
    w = words_[k]
    assert w is not None
    x1 = int(w[0] - origin[0] - gaps[len(gaps) // 2])
    y0 = tops[len(tops) // 2]
    shown = _outline_at(ink, (x1 - side, y0, x1, y0 + side), round_)
    if shown is None:
        return None
    per[k] = shown
    return [b for b in per if b is not None], k


def lone(side: int, word: Box, origin: tuple[int, int], ink: np.ndarray, spacing: tuple[float, float] | None, *,
         round_: bool = False) -> tuple[list[Box], int] | None:
    """The box of a choice with one option (Plus) that was not found (a mark broke it), placed
    before its word as the page's other rows stand theirs (``spacing``: the gap from a box to its
    word, and its middle below the word's), where its outline shows (as :func:`completed`
    wants); its judgement must then be a mark inside it."""
    if spacing is None:
        return None
    gap, drop = spacing
    x1 = int(round(word[0] - origin[0] - gap))
    y0 = int(round((word[1] + word[3]) / 2 + drop - origin[1] - side / 2))
    box = _outline_at(ink, (x1 - side, y0, x1, y0 + side), round_)
    return None if box is None else ([box], 0)


def _outline_at(ink: np.ndarray, box: Box, round_: bool) -> Box | None:
    """``box`` where at least two of its sides show (the printed box under a mark), or for a ○
    (``round_``) the place nearby where two quarters of its ring show; None where they do not."""
    x0, y0, x1, y1 = (int(v) for v in box)
    side = x1 - x0
    if y0 < 0 or y1 > ink.shape[0] or (x0 < 0 and not round_):
        return None
    t = max(2, int(0.12 * side))
    if round_:
        # (a ○'s word may be read from its second character, or from the ○ itself, a cross over
        # it read as a character: the ring is looked for from half a side left to a side right)
        shifts = [dx for dx in range(-(side // 2), side + 1) if x0 + dx >= 0 and x1 + dx <= ink.shape[1]]
        fits = {dx: _ring_quarters(ink[y0:y1, x0 + dx:x1 + dx], t) for dx in shifts}
        most = max(fits.values(), default=0)
        if most < 2:
            return None
        tied = [dx for dx, n in fits.items() if n == most]
        best = tied[len(tied) // 2]  # the middle of the places that fit it as well
        return (x0 + best, y0, x1 + best, y1)
    strips = (ink[y0:y0 + t, x0:x1], ink[y1 - t:y1, x0:x1], ink[y0:y1, x0:x0 + t], ink[y0:y1, x1 - t:x1])
    if sum(float(s.any(axis=0 if i < 2 else 1).mean()) >= 0.6 for i, s in enumerate(strips) if s.size) < 2:
        return None
    return (x0, y0, x1, y1)


def _ring_quarters(part: np.ndarray, t: int) -> int:
    """How many quarters of a ○'s ring (``part``: its square's ink) are ink along 0.6 of their arc
    or more (within ``t`` + 1 pixels of the circle)."""
    n = min(part.shape)
    if n < 6:
        return 0
    dy, dx = centred(*part.shape)
    ring = np.abs(np.hypot(dy, dx) - (n / 2 - t / 2)) <= t / 2 + 1
    angle = (np.degrees(np.arctan2(dy, dx)) + 360) % 360
    count = 0
    for q in range(4):
        sector = ring & (angle >= 90 * q) & (angle < 90 * (q + 1))
        steps = (angle[sector] // 6).astype(int)  # the arc in 6° steps: each inked somewhere
        inked = set(steps[part[sector]].tolist())
        if len(set(steps.tolist())) and len(inked) >= 0.6 * len(set(steps.tolist())):
            count += 1
    return count


def uncut_left(box: Box, ink: np.ndarray, most: int) -> Box:
    """The row moved left, up to ``most`` pixels, until its left side stands on paper: a row
    that begins inside its first check box (a wider gap between box and word than the row's
    allowance, seed 9797) would hide that box from the box finder."""
    x0, y0, x1, y1 = box
    x = x0
    while x > 0 and x0 - x < most and ink[y0:y1, x].any():
        x -= 1
    return (x, y0, x1, y1) if x0 - x < most else box
