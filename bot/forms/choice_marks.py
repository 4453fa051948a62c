"""The marks of a page's choice rows (FORM-SPEC's 回線種別, 回線タイプ, 確認方法, Plus): the printed
check boxes of each row found, each judged (bot.forms.marks), and each choice's value when all
its options are sure.  On a row found by its words (issue 19), each box must stand right before
its option's word, a row is sure with one option marked and the others clean or with none
marked where its band holds only print, and one box a mark broke may be placed by its word."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bot.forms import check_boxes, choice_lines, choice_rows, marks
from bot.forms.cells import Page, cell_ink
from bot.forms.normalise import (
    CHECK_METHOD_OPTIONS,
    LINE_KIND_OPTIONS,
    LINE_TYPE_OPTIONS,
)
from bot.forms.table import Row
from bot.forms.vocabulary import (
    STATE_MARKED,
    STATE_READ,
    STATE_UNMARKED,
    STATE_UNSURE,
    FieldReading,
)

# Options of each choice row, in the order the form prints them (FORM-SPEC vocabulary).
CHOICES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("line_kind", tuple(k for k, _ in LINE_KIND_OPTIONS)),
    ("line_type", tuple(k for k, _ in LINE_TYPE_OPTIONS)),
    ("check_method", tuple(k for k, _ in CHECK_METHOD_OPTIONS)),
    ("plus", ("on",)),
)

# "None marked" on a row found by its words: every option's box and surroundings spotless, not
# merely clean with the judge's margin (a tick grazing its box left halo 0.077 and inside 0.004,
# read as none and sent back, seed 10303; 120 none-marked rows of seeds 777 and 10303: all inside
# 0.0, six with halo 0.03–0.10, held now)
NONE_HALO = 0.02
NONE_INSIDE = 0.002
# One option marked on a row found by its words: the others must be this clean round their box
# (a tick drawn over フレッツ光ネクスト's word beside a clean box: halo 0.16, under the judge's 0.25
# for "unmarked"; Bフレッツ, ticked too, was read as the only one: label_below seed 12929 form 65,
# LINE_TYPE_MISSING sent back for a form whose defect was two line kinds)
OTHERS_HALO = 0.1
# Two options marked on a row found by its words are read only when each box is half filled or
# more (seed 20005: ■ beside ■, inside 1.0, both kinds chosen: LINE_KIND_MISSING, held before)
SOLID_MARK = 0.5
# A target this full is filled in: its shape (□ or ○) is gone (read_marks).
FILLED_IN = 0.8


def read_marks(page: Page, rows: dict[str, Row],
               choices: tuple[tuple[str, tuple[str, ...]], ...] = CHOICES,
               words: dict[str, tuple[tuple[int, int, int, int] | None, ...]] | None = None,
               placed: dict[str, int] | None = None,
               round_rows: set[str] | None = None) -> dict[str, list[marks.OptionMark] | None]:
    """Every choice row's options judged (:func:`_read_shape`), or None for a row whose boxes
    are not found: the form's □ boxes, or, where they leave a row unjudged, its ○ targets if they
    fit the rows better (a Word or Excel form types ○ before its options; the two are never
    mixed, so a ○ candidate, which dense print under a circle can make, never competes with a □
    in a row).  Of the two, the one that judges more rows wins, and where both judge as many,
    the one with more clean targets (a glyph taken for a target has ink in it: 開 and the N of
    NTT read as □ at 150 dpi grey, both "marked", where their clean ○ stood before them: seed
    20001 form 10, print_shop); a row the two read differently is judged by neither, and a row
    only the other judged is taken from it where its every target is filled in.  The rows
    judged by ○ go into ``round_rows``."""
    placed_sq: dict[str, int] = {}
    memo: dict = {}  # the □ candidates of each row, for the ○ reading too
    out = _all_marked_away(_read_shape(page, rows, choices, words, placed_sq, round_=False, memo=memo), placed_sq)
    if not any(v is None for f, v in out.items() if f in rows):
        if placed is not None:
            placed.update(placed_sq)
        return out  # every row read by its □: the form prints □
    placed_rd: dict[str, int] = {}
    rd = _all_marked_away(_read_shape(page, rows, choices, words, placed_rd, round_=True, memo=memo), placed_rd)
    (won, won_placed), (lost, lost_placed) = ((rd, placed_rd), (out, placed_sq)) if _evidence(rd) > _evidence(out) \
        else ((out, placed_sq), (rd, placed_rd))
    if won is rd and round_rows is not None:
        round_rows.update(f for f, v in rd.items() if v is not None)
    for f, opts in lost.items():
        theirs = won.get(f)
        if theirs is not None and opts is not None and [m.state for m in theirs] != [m.state for m in opts] \
                and any(m.inside <= marks.INSIDE_EMPTY for m in opts):
            # the two shapes read the row differently, the other with a clean target of its own
            # (a glyph's ring has ink in it: 込 read as a marked ○ beside Plus's clean □ is no
            # reason to doubt the □): glyphs taken for targets in one of them
            won[f] = None
            won_placed.pop(f, None)
            continue
        # a target filled in has no shape left: a pen's fill over Plus's ○ is found as a □ only
        # (on a row found by its words, where its box must stand right before its word: a kanji
        # at 300 dpi blurred is as solid as a fill)
        if words is not None and won.get(f) is None and opts and all(m.inside >= FILLED_IN for m in opts):
            won[f] = opts
            if f in lost_placed:
                won_placed[f] = lost_placed[f]
    if placed is not None:
        placed.update(won_placed)
    return won


def _all_marked_away(judged: dict[str, list[marks.OptionMark] | None],
                     placed: dict[str, int]) -> dict[str, list[marks.OptionMark] | None]:
    """``judged`` without the rows of three or more options all marked, not each filled in:
    glyphs in the words taken for boxes (開, the N of NTT, the 1 of 116 at 300 dpi grey, all
    "marked": print_shop seed 20001 form 16)."""
    for f, opts in judged.items():
        if opts and len(opts) >= 3 and all(m.state == marks.MARKED for m in opts) \
                and not all(m.inside >= FILLED_IN for m in opts):
            judged[f] = None
            placed.pop(f, None)
    return judged


def _spacing(found: dict[str, list[tuple[int, int, int, int]] | None],
             words: dict[str, tuple[tuple[int, int, int, int] | None, ...]],
             data: dict[str, tuple[np.ndarray, list, Row, int]]) -> tuple[float, float] | None:
    """How the page stands its boxes before their words: the gap from a box's right side to its
    word, and the box's middle below the word's (page pixels), from two boxes or more of rows
    whose every box stands right before its word (choice_rows.boxes_fit_words), all alike (gaps
    within half a box, middles within 3 px); None otherwise.  (Boxes found in a row whose words
    they do not fit taught a spacing that put Plus's box on print: a false PLUS_FLAG_MISMATCH on
    the held-out family, unseen seed 13535.)"""
    gaps, drops = [], []
    for fld, boxes in found.items():
        ws = words.get(fld, ())
        if not boxes or len(boxes) != len(ws) or any(w is None for w in ws):
            continue
        x0, y0 = data[fld][2].value_box[:2]
        if not choice_rows.boxes_fit_words(boxes, ws, (x0, y0), data[fld][0]):
            continue
        for b, w in zip(boxes, ws, strict=True):
            assert w is not None
            gaps.append(w[0] - (x0 + b[2]))
            drops.append((y0 + (b[1] + b[3]) / 2) - (w[1] + w[3]) / 2)
    side = min((b[2] - b[0] for bs in found.values() if bs for b in bs), default=0)
    if len(gaps) < 2 or max(gaps) - min(gaps) > 0.5 * side or max(drops) - min(drops) > 3:
        return None
    return float(np.median(gaps)), float(np.median(drops))


def _evidence(judged: dict[str, list[marks.OptionMark] | None]) -> tuple[int, int]:
    """(rows judged, clean targets among them): how well a shape of target fits the rows."""
    rows_ = [v for v in judged.values() if v is not None]
    return len(rows_), sum(m.inside <= marks.INSIDE_EMPTY for v in rows_ for m in v)


def _read_shape(page: Page, rows: dict[str, Row], choices: tuple[tuple[str, tuple[str, ...]], ...],
                words: dict[str, tuple[tuple[int, int, int, int] | None, ...]] | None, placed: dict[str, int], *,
                round_: bool, memo: dict | None = None) -> dict[str, list[marks.OptionMark] | None]:
    """Every choice row's options judged, or None for a row whose boxes are not found.

    On a row found by its words (``words``: each option's word, page pixels), one box a mark
    broke may be placed by its word (choice_rows.completed); the row is then judged only when
    that box is marked inside, and its index goes into ``placed``.

    Boxes are looked for at the lenient threshold and, in a row short of boxes, at the faint
    one (a thin □ at 150 dpi grey blurs lighter than the lenient threshold).  The form's box
    size is the one with which the most rows show exactly their options (a glyph's ring, 門 of
    開 or a part of 親, comes in another size and does not fit the rows); the vote of
    :func:`check_boxes.box_side` only breaks a tie."""
    data: dict[str, tuple[np.ndarray, list, Row, int]] = {}
    for fld, keys in choices:
        row = rows.get(fld)
        if row is None:
            continue
        boxink = cell_ink(page, row.value_box, lenient=True)
        cands = _candidates(page, row.value_box, words is not None, round_=round_, memo=memo)
        data[fld] = (boxink, cands, row, len(keys))
    faint: dict[str, tuple[np.ndarray, list]] = {}  # made only for rows that need it (slow)

    def faint_of(fld: str) -> tuple[np.ndarray, list]:
        if fld not in faint:
            box = data[fld][2].value_box
            faint[fld] = (cell_ink(page, box, faint=True),
                          _candidates(page, box, words is not None, faint=True, round_=round_, memo=memo))
        return faint[fld]

    def boxes_of(fld: str, side: int, *, look_faint: bool) -> list[tuple[int, int, int, int]] | None:
        boxink, cands, _, n = data[fld]
        boxes = check_boxes.row_boxes(boxink, cands, side, n)
        if boxes is None and look_faint and check_boxes.rings(cands, side) < n:
            boxes = check_boxes.row_boxes(*faint_of(fld), side, n)
        return None if boxes is None or check_boxes.ring_in_word(boxink, boxes, side) else boxes

    def choose(look_faint: bool) -> tuple[int | None, int]:
        for fld in data if look_faint else ():
            faint_of(fld)  # every row's faint rings vote too
        groups = [(d[0], d[1]) for d in data.values()] + list(faint.values())
        voted = check_boxes.box_side(groups)
        sizes = sorted({b[2] - b[0] for _, cands in groups for sc, b in cands if sc >= 1.0})
        fits = {side: sum(boxes_of(fld, side, look_faint=look_faint) is not None for fld in data)
                for side in sizes}
        best = max(fits.values(), default=0)
        if best == 0:
            return None, 0
        # neighbouring sizes fit the same rows (a box is found at 26 and 28 px): one size
        winners = [s for s, f in fits.items() if f == best]
        near = [s for s in winners if voted is not None and abs(s - voted) <= 2]
        if near:
            return min(near, key=lambda s: abs(s - voted)), best  # type: ignore[operator]
        return (winners[len(winners) // 2] if max(winners) - min(winners) <= 4 else None), best

    side, fit = choose(look_faint=False)
    if side is None or fit < len(data):
        side, fit = choose(look_faint=True)
    out: dict[str, list[marks.OptionMark] | None] = {}
    found = {fld: boxes_of(fld, side, look_faint=True) for fld in data} if side is not None else {}
    for fld, _ in choices:
        if fld not in data or side is None:
            out[fld] = None
            continue
        row = data[fld][2]
        x0, y0, x1, y1 = row.value_box
        boxes = found[fld]
        k = None
        if boxes is None and words is not None and words.get(fld):
            done = choice_rows.completed(data[fld][1], side, words[fld], (x0, y0), data[fld][0], round_=round_)
            if done is None and len(words[fld]) == 1 and words[fld][0] is not None:
                # a lone option (Plus) whose box a mark broke: placed by its word as the page's
                # other rows stand their boxes before their words
                done = choice_rows.lone(side, words[fld][0], (x0, y0), data[fld][0],
                                        _spacing(found, words, data), round_=round_)
            if done is not None:
                boxes, k = done
        ink = cell_ink(page, row.value_box)
        out[fld] = None if boxes is None else marks.judge(ink, boxes, top=0, bottom=y1 - y0, cell_right=x1 - x0,
                                                          lenient=data[fld][0])
        if k is not None and out[fld] is not None:
            m = out[fld][k]  # type: ignore[index]
            if m.state != marks.MARKED or m.inside < marks.INSIDE_MARK:
                out[fld] = None  # paper (or a circle's arc) where the box was placed: no box there
            else:
                placed[fld] = k
    return out


def _candidates(page: Page, box: tuple[int, int, int, int], by_words: bool, *, faint: bool = False,
                round_: bool = False, memo: dict | None = None) -> list[tuple[float, tuple[int, int, int, int]]]:
    """check_boxes.find_boxes in a row (row pixels).  A row found by its words is bounded half way to
    the print over and under it, which may leave a box less than the paper margin find_boxes
    wants inside the row (seed 9797: both boxes of a tight 回線種別 row lost): its boxes are
    looked for with a few pixels more round it, and kept when they lie in the row (a box at the
    row's very start, seed 9797, likewise).  ``memo``: the □ candidates already found, by row
    (the ○ reading of a row wants them again, for a ○ filled in)."""
    x0, y0, x1, y1 = box
    pad = 6 if by_words else 0
    left, top = max(0, x0 - pad), max(0, y0 - pad)
    ink = cell_ink(page, (left, top, x1 + pad, y1 + pad), lenient=not faint, faint=faint)
    dx, dy = x0 - left, y0 - top

    def squares() -> list[tuple[float, tuple[int, int, int, int]]]:
        if memo is None:
            return check_boxes.find_boxes(ink, (y1 - y0) / 2 + dy)
        key = (box, by_words, faint)
        if key not in memo:
            memo[key] = check_boxes.find_boxes(ink, (y1 - y0) / 2 + dy)
        return memo[key]

    if not round_:
        found = squares()
    else:
        solid = cell_ink(page, (left, top, x1 + pad, y1 + pad))
        found = check_boxes.find_boxes(ink, (y1 - y0) / 2 + dy, round_=True, solid=solid)
        if by_words:
            # a ○ filled in by a pen is no ring any more: the □ template finds it, full at the page's
            # threshold (its box must then stand right before its word: choice_rows.boxes_fit_words)
            found += [(sc, b) for sc, b in squares() if (check_boxes.inner_share(solid, b) or 0.0) >= FILLED_IN]
    if round_:
        # a ring or blob with a character right before it is inside a word (a kanji at 300 dpi,
        # the N of NTT), never a printed ○, which follows paper, a rule or the label's cell
        found = [(sc, b) for sc, b in found if not check_boxes.print_before(ink, b, b[2] - b[0])]
    return [(sc, (b[0] - dx, b[1] - dy, b[2] - dx, b[3] - dy)) for sc, b in found
            if b[0] - dx >= 0 and b[1] - dy >= 0 and b[2] - dx <= x1 - x0 and b[3] - dy <= y1 - y0]


def _fit_words(page: Page, row: Row, opts: list[marks.OptionMark], words_: tuple, placed: int | None = None) -> bool:
    """choice_rows.boxes_fit_words on the row's ink widened by a box's side to the left: a box
    standing at the row's very start has the paper before it outside the row (seed 9696: the
    first box 7 px in, so "paper before it" could not be seen, and the row went to a person)."""
    x0, y0, x1, y1 = row.value_box
    pad = min(x0, max((m.box[2] - m.box[0] for m in opts), default=0))
    boxes = [(b[0] + pad, b[1], b[2] + pad, b[3]) for b in (m.box for m in opts)]
    return choice_rows.boxes_fit_words(boxes, words_, (x0 - pad, y0), cell_ink(page, (x0 - pad, y0, x1, y1)),
                                       placed=placed)


def _word_row_stands(fld: str, opts: list[tuple[marks.OptionMark, tuple[float, float, float, float]]],
                     words_: tuple, values: dict[str, object],
                     bands: list[choice_rows.Residue | None] | None) -> bool:
    """Whether a choice row found by its words may be read (each option with its box in page
    pixels and the band of the printed line it stands on, ``bands``): one option marked and the
    others clean, a mark only round its option going round it; two or more marked where each is
    filled in and the others are spotless; or none marked where every option's word was read,
    every box and its surroundings are spotless and each band holds nothing but print and its
    boxes; or
    ファミリー/マンション with none beside a sure フレッツ光ネクスト (they decide nothing there)."""
    states = [m.state for m, _ in opts]
    if states.count(marks.MARKED) == 1:
        k = states.index(marks.MARKED)
        m, box = opts[k]
        if any(o.halo > OTHERS_HALO for j, (o, _) in enumerate(opts) if j != k):
            return False  # another option has ink round it: a mark the judge did not see, maybe
        # a circle's arc from the row above or below, maybe
        return bands is None or m.inside >= marks.INSIDE_MARK or choice_rows.goes_round(
            bands[k], box, words_[k] if k < len(words_) else None)
    if states.count(marks.MARKED) > 1 and marks.UNSURE not in states:
        # two options marked (the form's own defect): sure only where each is filled in (a pen's
        # fill, a printed ■: no arc or stray stroke fills half a box) and the others spotless
        return all(m.inside >= SOLID_MARK if m.state == marks.MARKED else
                   m.halo <= NONE_HALO and m.inside <= NONE_INSIDE for m, _ in opts)
    if set(states) != {marks.UNMARKED}:
        return False
    if fld == "line_type" and values.get("line_kind") == "hikari_next":
        return True
    if any(w is None for w in words_):
        # an option's word not read is covered, most often by the mark: a circle drawn flat and
        # tight round Bフレッツ was read into its characters and left the band clean (corner_captions
        # seed 12727 form 58: LINE_KIND_MISSING sent back for a form that had it)
        return False
    if bands is None or not all(m.halo <= NONE_HALO and m.inside <= NONE_INSIDE for m, _ in opts):
        return False
    per_line: dict[int, tuple[choice_rows.Residue | None, list]] = {}
    for (_, box), band in zip(opts, bands, strict=True):
        per_line.setdefault(id(band), (band, []))[1].append(box)
    return all(choice_rows.band_clean(band, boxes) for band, boxes in per_line.values())


def choice_readings(page: Page, rows: dict[str, Row], trusted: Callable[[str], bool], readings: list[FieldReading],
                     values: dict[str, object], unsure: list[str],
                     choices: tuple[tuple[str, tuple[str, ...]], ...] = CHOICES,
                     option_words: dict[str, tuple[tuple[int, int, int, int] | None, ...]] | None = None,
                     one_mark: frozenset[str] = frozenset(),
                     residue: dict[str, choice_rows.Residue | None] | None = None,
                     parts: dict[str, tuple[str, ...]] | None = None) -> None:
    """Every option marked / unmarked / unsure, and each choice field's value when all its
    options are sure (on a trusted row; on a row found by its words, each box must stand right
    before its option's word).  A choice with ``parts`` (its options wrapped onto several
    lines) is judged line by line and read from all its options together."""
    def off(b: tuple[int, int, int, int], row: Row) -> tuple[float, float, float, float]:
        return (row.value_box[0] + b[0], row.value_box[1] + b[1], row.value_box[0] + b[2], row.value_box[1] + b[3])

    parts = parts or {}
    lines = tuple((name, keys[part[1]] if (part := choice_lines.part_of(name)) else keys) for fld, keys in choices
                  for name in parts.get(fld, (fld,)))
    placed: dict[str, int] = {}
    ring_rows: set[str] = set()
    judged = read_marks(page, rows, lines, option_words, placed, ring_rows)
    # a row judged by its ○ targets, on a table too, is read only as a row found by its words is
    # (one option marked and the others clean; two only each filled in): a bold glyph at the
    # lenient threshold (開 at 150 dpi grey) passes for a ○ more easily than for a □ (seed 20001
    # form 10, print_shop: 開通通知書 and NTT請求書 read marked beside the ■ of 116へ確認)
    one_mark = one_mark | {(choice_lines.part_of(n) or (n,))[0] for n in ring_rows}
    for fld in choice_rows.shared_boxes({f: [off(m.box, rows[f]) for m in opts] for f, opts in judged.items()
                                         if opts and f in rows}):
        judged[fld] = None  # one check box judged for two choices: a row reached into its neighbour's
    for name, _ in lines:
        opts_ = judged.get(name)
        row_ = rows.get(name)
        if opts_ is not None and option_words is not None and row_ is not None and not _fit_words(
                page, row_, opts_, option_words.get(name, ()), placed.get(name)):
            judged[name] = None  # a box of another option, or a mark taken for a box
    for fld, keys in choices:
        row = rows.get(fld)
        names = parts.get(fld, (fld,))
        if any(judged.get(n) is None for n in names) or row is None or not trusted(fld):
            unsure.append(fld)
            readings.append(FieldReading(fld, None, STATE_UNSURE, 0.0, False, None,
                                         page.box(row.value_box) if row else None))
            continue
        opts = [(m, rows[n]) for n in names for m in judged[n] or ()]
        bands = None if residue is None else [residue.get(n) for n in names for _ in judged[n] or ()]
        states = []
        words_ = tuple(w for n in names for w in (option_words or {}).get(n, ()))
        single = fld not in one_mark or _word_row_stands(fld, [(m, off(m.box, r)) for m, r in opts], words_,
                                                         values, bands)
        for key, (m, r) in zip(keys, opts, strict=True):
            sure = m.state != marks.UNSURE and single
            st = {marks.MARKED: STATE_MARKED, marks.UNMARKED: STATE_UNMARKED}.get(m.state, STATE_UNSURE)
            readings.append(FieldReading(f"{fld}.{key}", None, st, m.conf, sure, None, page.box(off(m.area, r))))
            states.append((key, m.state))
        conf = min(m.conf for m, _ in opts)
        if any(s == marks.UNSURE for _, s in states) or not single:
            unsure.append(fld)
            readings.append(FieldReading(fld, None, STATE_UNSURE, conf, False, None, page.box(row.value_box)))
            continue
        chosen = [k for k, s in states if s == marks.MARKED]
        if fld == "plus":
            values["plus"] = bool(chosen)
            readings.append(FieldReading("plus", "true" if chosen else "false", STATE_READ, conf, True, None,
                                         page.box(row.value_box)))
        else:
            value = chosen[0] if len(chosen) == 1 else None
            values[fld] = value
            readings.append(FieldReading(fld, value, STATE_READ, conf, True, None, page.box(row.value_box)))
