"""Where a choice's options stand on a page found by its printed words (issue 19): its row on
one printed line, or one row a line where the options wrap.

A row reaches 0.6 of a line over and under its option words, but never past half way to the
next line of print (the question's own label printed over its options, the neighbouring row)
nor past a ruling line; a circle round a word does not widen the row (the words' height is
their characters' median).  A word of the vocabulary far from the others and from the choice's
label (the notes' 「回線種別がBフレッツの場合」) is not the row's.

Options printed on more than one line (an office's sheet wraps 確認方法's three options onto
two lines, or stacks a choice's options one under the other): each printed line of options is
a *part* of the choice, found and judged like a row of its own (its check boxes before its
words), named ``"<field>~<first>:<end>"`` by the slice of the choice's options it holds; the
choice's value comes from its parts' marks together, under the same rules as a row on one line
(one option marked and the others clean, or none marked where every band is clean).

A wrap is believed only when it reads like one: two option words read or more, each line's
words left to right in the printed order, the lines top to bottom in the printed order, each
close under the one before (within 3.2 of the words' height: a list one option a line, 18 pt
apart in 8.5 pt print, stands 2.9 heights apart) and beginning before the line above it ends.  A
word not read takes the line its neighbours give.
"""

from __future__ import annotations

from collections.abc import Sequence
from difflib import SequenceMatcher

import numpy as np

from bot.forms.choice_rows import rule_rows
from bot.forms.words import OPTION_WORDS, Band, Box, Found, overlap

PART = "~"
LINE_GAP = 3.2  # the most a wrapped line stands under the one before, in the words' height


def part_name(fld: str, start: int, end: int) -> str:
    return f"{fld}{PART}{start}:{end}"


def part_of(name: str) -> tuple[str, slice] | None:
    """The choice and its options' slice of a part's name; None for a whole choice."""
    if PART not in name:
        return None
    fld, rng = name.split(PART, 1)
    start, end = rng.split(":")
    return fld, slice(int(start), int(end))


def _mid(b: Box) -> tuple[float, float]:
    return (b[0] + b[2]) / 2, (b[1] + b[3]) / 2


def wrapped_lines(words: Sequence[Found | None]) -> list[tuple[int, int]] | None:
    """The options' printed lines as (start, end) ranges of the options, when the words read as
    one choice wrapped onto two or more lines; None otherwise (see the module's rules).  An
    option word not read (a mark over it) stands on the line of the option after it when that
    one does not begin its line (there is room before it), else after the option before it."""
    known = [(i, w) for i, w in enumerate(words) if w is not None]
    if len(known) < 2:
        return None
    h = max(w.height for _, w in known)
    groups: list[list[tuple[int, Found]]] = [[known[0]]]
    for i, w in known[1:]:
        if abs(w.mid - groups[-1][0][1].mid) > 0.6 * h:
            groups.append([])
        groups[-1].append((i, w))
    if len(groups) < 2:
        return None
    for g in groups:
        ws = [w for _, w in g]
        if any(ws[k].box[0] < ws[k - 1].box[2] - 0.2 * h for k in range(1, len(ws))):
            return None  # a line's words overlap or stand out of the printed order
    for g0, g1 in zip(groups, groups[1:], strict=False):
        above, below = g0[0][1].mid, g1[0][1].mid
        if not 0.6 * h < below - above <= LINE_GAP * h:
            return None  # not the next line down
        if g1[0][1].box[0] > g0[-1][1].box[2]:
            return None  # begins right of where the line above ends: not its continuation
    margin = min(g[0][1].box[0] for g in groups)  # where a line begins
    line_of = {i: k for k, g in enumerate(groups) for i, _ in g}
    for i in range(len(words)):
        if i in line_of:
            continue
        after = next((j for j in range(i + 1, len(words)) if j in line_of), None)
        before = next((j for j in range(i - 1, -1, -1) if j in line_of), None)
        if after is not None and words[after].box[0] > margin + 2 * h:  # type: ignore[union-attr]
            line_of[i] = line_of[after]
        elif before is not None:
            line_of[i] = line_of[before]
        else:
            return None
    order = [line_of[i] for i in range(len(words))]
    if order != sorted(order):
        return None
    return [(order.index(k), len(order) - order[::-1].index(k)) for k in sorted(set(order))]


def _core(w: Found) -> tuple[float, float]:
    mid = w.mid
    return mid - w.height / 2, mid + w.height / 2


def _bounds(top: float, bottom: float, left: float, right: float, h: float,
            print_lines: Sequence[Band], rules: np.ndarray) -> tuple[float, float]:
    """A choice row's top and bottom: 0.6 of a line over and under its words, but never past
    half way to the next line of print above or below, nor past a ruling line there (the
    question's own label over the options, a neighbouring row's words and its marks stay out)."""
    over = [b.bottom for b in print_lines if b.bottom <= top + 0.2 * h and b.x1 > left and b.x0 < right]
    under = [b.top for b in print_lines if b.top >= bottom - 0.2 * h and b.x1 > left and b.x0 < right]
    lo, hi = top - 0.6 * h, bottom + 0.6 * h
    if over:
        lo = max(lo, (max(over) + top) / 2)
    if under:
        hi = min(hi, (min(under) + bottom) / 2)
    # a rule across most of the row (the flat top of a big circle round one option is no rule)
    ruled_over = rule_rows(rules, int(left), int(right), int(lo), int(top - 0.1 * h), share=0.6)
    ruled_under = rule_rows(rules, int(left), int(right), int(bottom + 0.1 * h), int(hi), share=0.6)
    if ruled_over:
        lo = ruled_over[-1] + 1
    if ruled_under:
        hi = ruled_under[0] - 1
    return lo, hi


def _best_options(found: list[Found]) -> dict[str, Found]:
    """Each option word's best match on the page, by its key (``option:<field>.<option>``)."""
    best: dict[str, Found] = {}
    for f in found:
        if f.key.startswith("option:") and (f.key not in best or f.score > best[f.key].score):
            best[f.key] = f
    return best


def choice_words(found: list[Found], fld: str, print_lines: Sequence[Band] = (),
                 rules: np.ndarray | None = None) -> list[Found | None]:
    """Each option's printed word (None: not read), as the rows and the marks both take them.  A
    word found inside the one before it (ファミリーンション read as one: "ーンション" taken for
    マンション) has no known start: unread; so has a stray (:func:`_strays_away`).  In a list one
    option a line, an unread option's word is the line of print where the list puts it
    (:func:`_stacked_unread`)."""
    best = _best_options(found)
    out: list[Found | None] = []
    for key in (key for f_, key, _ in OPTION_WORDS if f_ == fld):
        w = best.get(f"option:{fld}.{key}")
        prev = next((b for b in reversed(out) if b is not None), None)
        inside = prev is not None and w is not None and w.box[0] < prev.box[2] - 0.2 * w.height and \
            abs(w.mid - prev.mid) <= 0.6 * w.height  # on the same line (not wrapped)
        out.append(None if w is None or inside else w)
    out = _strays_away(out, _label(found, fld))
    return _stacked_unread(out, fld, found, print_lines, rules) if print_lines else out


def option_words_of(found: list[Found], fld: str, print_lines: Sequence[Band] = (),
                    rules: np.ndarray | None = None) -> tuple[Box | None, ...]:
    """Each option's printed word's box (None: not read): :func:`choice_words`."""
    return tuple(w.box if w is not None else None for w in choice_words(found, fld, print_lines, rules))


def _stacked_unread(words: list[Found | None], fld: str, found: list[Found], print_lines: Sequence[Band],
                    rules: np.ndarray | None) -> list[Found | None]:
    """An unread option of a list printed one option a line (a mark over its word: the marked
    option is the one most often unread) placed on its line: the line of print under (or over)
    the words read, as many lines away as its place in the list, beginning where they begin.
    Believed only where the words read stand one a line at one left edge (or the one word read has
    no print after it on its line: its neighbour is not beside it), no ruling line parts the two
    lines (a table's next row is another question's), and the line found is no longer than the
    word and holds no word of the vocabulary; its word's box is the list's words' left edge to
    the line's end."""
    known = [(i, w) for i, w in enumerate(words) if w is not None]
    if not known or len(known) == len(words):
        return words
    h = max(w.height for _, w in known)
    x0 = min(w.box[0] for _, w in known)
    if any(abs(w.box[0] - x0) > 2 * h for _, w in known):
        return words  # not one left edge
    if len(known) >= 2:
        steps = [(b.mid - a.mid) / (j - i) for (i, a), (j, b) in zip(known, known[1:], strict=False)]
        if min(steps) < 1.2 * h or max(steps) - min(steps) > 0.6 * h:
            return words  # not one a line, evenly
        step: float | None = sum(steps) / len(steps)
    else:
        (_, w), = known
        line = [b for b in print_lines if abs(b.mid - w.mid) <= 0.6 * h]
        if any(b.x0 <= w.box[0] < b.x1 and b.x1 > w.box[2] + h for b in line):
            return words  # its line of print runs on after it: its neighbour may stand there
        beside = [b for b in line if w.box[2] + 0.3 * h < b.x0 < w.box[2] + 4.5 * h]
        others = [f.box for f in found if not f.key.startswith(f"option:{fld}.")]
        if any(not any(overlap(o, (b.x0, int(b.top), b.x1, int(b.bottom + 0.5))) > 0 for o in others) for b in beside):
            return words  # print right after it on its line (not another question's word): its neighbour?
        step = None
    options = [(k, t) for f_, k, t in OPTION_WORDS if f_ == fld]
    out = list(words)
    for j, w in enumerate(words):
        if w is not None:
            continue
        i, ref = min(known, key=lambda iw: abs(iw[0] - j))
        key, term = options[j]
        # its line begins where the word's read begins (at their □), or a little left (a cross),
        # and is no longer than the word
        own = [b for b in print_lines if abs(b.mid - ref.mid) <= 0.6 * h and b.x0 <= ref.box[0] < b.x1]
        lo, hi = (own[0].x0 - 2 * h, own[0].x0 + 2 * h) if len(own) == 1 else (x0 - 5 * h, x0 + 1.5 * h)
        column = [b for b in print_lines if lo <= b.x0 <= hi and x0 + 2 * h < b.x1 <= x0 + (1.5 * len(term) + 2) * h]
        if step is not None:
            want = ref.mid + (j - i) * step
            near = [b for b in column if abs(b.mid - want) <= 0.5 * h]
        elif abs(j - i) == 1:
            sign = 1 if j > i else -1
            apart = [(sign * (b.mid - ref.mid), b) for b in column]
            near = [b for d, b in sorted(((d, b) for d, b in apart if 1.2 * h <= d <= LINE_GAP * h),
                                         key=lambda db: db[0])[:1]]
        else:
            continue
        if len(near) != 1:
            continue
        b = near[0]
        box = (int(x0), int(b.top), int(b.x1), int(b.bottom + 0.5))
        ys = sorted((ref.mid, b.mid))
        if rules is not None and rule_rows(rules, int(x0 - h), int(x0 + 4 * h), int(ys[0] + 0.5 * h),
                                           int(ys[1] - 0.5 * h), share=0.6):
            continue  # a ruling line between them: the line under it is another row's
        there = [f for f in found if overlap(f.box, box) > 0]
        if any(f.key != f"option:{fld}.{key}" for f in there):
            continue  # another word of the form's stands there
        # a poorer reading of the word itself there (the best was elsewhere: a stray) is its word
        out[j] = max(there, key=lambda f: f.score) if there else \
            Found(f"option:{fld}.{key}", term, box, 0.0, int(h), b.mid)
    return out


def choice_rows(found: list[Found], print_lines: Sequence[Band] = (),
                rules: np.ndarray | None = None) -> list[tuple[str, Box | None, str | None]]:
    """(field, row box, why not trusted) of each choice, from its option words; a choice whose
    options wrap onto several lines gives one row per line, named as a part of it
    (see the module)."""
    out: list[tuple[str, Box | None, str | None]] = []
    for fld in dict.fromkeys(f for f, _, _ in OPTION_WORDS):
        terms = [t for f, _, t in OPTION_WORDS if f == fld]
        words = choice_words(found, fld, print_lines, rules)
        ws = [w for w in words if w is not None]
        if not ws:
            out.append((fld, None, "its option words not found"))
            continue
        h = max(w.height for w in ws)
        mids = [w.mid for w in ws]
        xs = [w.box[0] for w in ws]
        if max(mids) - min(mids) > 0.6 * h or xs != sorted(xs):
            lines = wrapped_lines(words)
            if lines is None:
                out.append((fld, None, "its options are not on one line in the printed order"))
            for a, b in lines or ():
                out.append(_row(part_name(fld, a, b), words[a:b], terms[a:b], found, print_lines, rules))
            continue
        out.append(_row(fld, words, terms, found, print_lines, rules))
    return out


def _misread(text: str, term: str) -> bool:
    """Whether a line of print reads like an option's word misread (half its characters in
    order, about its length): it is that word, not other print bounding the row."""
    if not text or len(text) > 1.6 * len(term) + 2:
        return False
    return SequenceMatcher(None, term.lower(), text.lower()).ratio() >= 0.5


def _label(found: list[Found], fld: str) -> Found | None:
    return max((f for f in found if f.key == fld), key=lambda f: f.score, default=None)


def _strays_away(words: list[Found | None], label: Found | None) -> list[Found | None]:
    """The option words with a stray one taken for unread: a word of the vocabulary far (three
    lines) from every other option word and from the choice's label is not on the row (the
    notes' 「回線種別がBフレッツの場合」 while the row's own Bフレッツ, circled, did not read:
    seed 20001).  Without the label, nothing says which of two far words is the row's."""
    if label is None:
        return words
    ws = [w for w in words if w is not None]
    out: list[Found | None] = []
    for w in words:
        if w is not None:
            h = max(w.height, label.height, 1)
            near = [o for o in (*ws, label) if o is not w and abs(o.mid - w.mid) <= 3 * h]
            # (or in the label's column under it: a header cell over its option's cell,
            # 「USEN SPOT Plus」 over 「○申し込む」 3.3 lines down: print_shop seed 20002 form 7)
            under = 0 < w.mid - label.mid <= 5 * h and label.box[0] - 4 * h < w.box[2] and w.box[0] < label.box[2]
            w = w if near or under else None
        out.append(w)
    return out


def _row(name: str, words: list[Found | None], terms: list[str], found: list[Found],
         print_lines: Sequence[Band], rules: np.ndarray | None) -> tuple[str, Box | None, str | None]:
    """One row of options on one printed line (some words maybe unread), bounded as the module says."""
    ws = [w for w in words if w is not None]
    h = max(w.height for w in ws)
    cores = [_core(w) for w in ws]
    xs = [w.box[0] for w in ws]
    # an option word not read (a mark over it, or read as garbage) is looked for beside the
    # others, as far as its letters reach: half as far again as their pitch from the words
    # read (a half-width letter half a character; a small ッ makes the characters' height a
    # poor measure of their width; a word's box often misses a letter at its ends) …
    end = max(w.box[2] for w in ws)
    left, right = min(xs) - 3.2 * h, end + 0.5 * h
    top, bottom = min(c[0] for c in cores), max(c[1] for c in cores)
    # a numbered option ("□1. ファミリー") has its box further out: an option's line of print
    # begins there (OCR reads the □ as 口 or 日), up to five characters before its word; the
    # first word's own line, or, where a mark broke it, as far before it as another option's
    leads = {i: w.box[0] - b.x0 for i, w in enumerate(ws) for b in print_lines
             if b.x0 <= w.box[0] < b.x1 and top <= b.mid <= bottom and 3.2 * h < w.box[0] - b.x0 <= 5 * h}
    if words[0] is not None and leads:
        left = min(xs) - (leads[0] + 0.3 * h if 0 in leads else max(leads.values()) + 0.8 * h)
    pitch = max(h, sorted((w.box[2] - w.box[0]) / max(1.0, sum(0.5 if c.isascii() else 1.0 for c in w.text))
                          for w in ws)[len(ws) // 2])
    # … and never past other print on the options' own line (not the question's label just
    # over it): a word the vocabulary knows, or print it does not (the next choice's option
    # read as garbage: its □ was taken for this row's unread last option, seed 7171).  Print
    # right beside the words read may be the unread word itself: it does not bound the row.
    known = [f.box for f in found if top <= _mid(f.box)[1] <= bottom and f not in ws]
    line = [b for b in print_lines if top <= b.mid <= bottom]
    # the unread first (last) word misread far from the others (an option a cell: a tick over
    # ○フレッツ光ネクスト read 「のクレッッルネクスト」) is no other print: the row reaches its start
    first = [b for b in line if b.x1 < min(xs) - 0.3 * h and words[0] is None and _misread(b.text, terms[0])]
    last = [b for b in line if b.x0 > end + 0.3 * h and words[-1] is None and _misread(b.text, terms[-1])]
    unknown = [(b.x0, b.x1) for b in line
               if (b.x1 < min(xs) - 4 * h or b.x0 > end + 4 * h) and b not in first and b not in last]
    if words[0] is None:
        left = max([min([min(xs) - 1.5 * len(terms[0]) * pitch - 4 * h, *(b.x0 - 2 * h for b in first)]),
                    *(b[2] + 0.3 * h for b in known if b[2] < min(xs)),
                    *(x1 + 0.3 * h for _, x1 in unknown if x1 < min(xs))])
    if words[-1] is None:
        right = min([max([right + 1.5 * len(terms[-1]) * pitch + 3 * h, *(b.x1 + 0.5 * h for b in last)]),
                     *(b[0] - 3.2 * h for b in known if b[0] > max(xs)),
                     *(x0 - 3.2 * h for x0, _ in unknown if x0 > end)])
    if rules is None:
        top, bottom = top - 0.6 * h, bottom + 0.6 * h
    else:
        top, bottom = _bounds(top, bottom, left, right, h, print_lines, rules)
    if right - left < 2 * h or bottom - top < 0.8 * h:
        # the print around the words leaves no row (a word read twice, a line read crooked)
        return name, None, "no room for its row between the print around it"
    return name, (max(0, int(left)), max(0, int(top)), int(right), int(bottom)), None
