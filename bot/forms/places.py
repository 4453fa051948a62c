"""Where each field's value stands, from the printed words around it (issue 19).

No layout's coordinates are known here: the fields come from the labels found by
:mod:`bot.forms.words`, wherever they stand, and each value's place from its label and its
neighbours.

1. **Which label is which field.**  A label printed once (店舗/施設名, ご希望のメールアドレス …)
   names its field.  フリガナ, 住所 and 電話番号 are printed in several blocks: each goes with
   the nearest *anchor*, a label of its block (名称 and the 【ご契約者】 heading for the
   contractor, 店舗/施設名 and 【設置先】 for the shop, ご希望のメールアドレス above a フリガナ for
   the mail address's reading, ご担当者名 below one for the contact's).
2. **Which side the values are on**, for the whole page: to the right of their labels (a table,
   or 「店舗/施設名：」 over an underline), below them (sections, boxes), or above them (a frame
   with its label printed small under it).  Between two labels of one column there is writing
   in the two last cases and none in the first; the writing sits nearer the label it belongs to.
3. **The value's place**: on that side of its label, up to the next label (or the page's
   edge) across, and to the neighbouring label in the column along.
4. **A choice's row** is where its option words stand (:mod:`bot.forms.choice_rows`; the boxes
   or circles are judged beside them by :mod:`bot.forms.marks`).
5. **姓 and 名** of the contact: split where 名 is printed inside its place ("姓 ____ 名 ____"),
   or, when 名 stands beside the contact's label outside it (a frame each, "(名)" under the
   second), each half placed from its own print.

Every place is a :class:`~bot.forms.table.Row`, so the cell readers of :mod:`bot.forms.cells`
read it as they read a table's cell; a place that cannot be trusted is named with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from bot.forms import frames
from bot.forms.choice_lines import choice_rows, option_words_of, part_of
from bot.forms.choice_rows import Residue, band_residue, uncut_left
from bot.forms.contact_places import contact_parts
from bot.forms.table import Row
from bot.forms.value_lines import writing_line
from bot.forms.value_place import ABOVE, BELOW, RIGHT, place
from bot.forms.words import Box, Found, Line, band

GOOD = 0.75  # a label matched at least this well can be trusted
# Marks in a choice row found by its words are sure only when exactly one option is marked and
# the others are clean (Places.one_mark): trusted in full, they sent forms back for a line kind
# they had (seeds 781 and 7171: a ring of □ and a letter's stem read as a mark, a circle outside
# the bounded row read as none; after those fixes, 1 of 480 forms on unseen seeds 9191–9494, a
# tick on the held-out family read as none).  Every such case was "no option marked": that
# answer, and two marks, go to a person.  True: every judged mark sure (bench --word-marks sure).
WORD_MARKS_SURE = False
# The labels printed once, and the field each names.
UNIQUE = {"customer_code": "customer_code", "shop_name": "shop_name", "mail_local": "mail_local",
          "contact": "contact", "units": "units", "ssid": "ssid", "remarks": "remarks", "name": "contractor_name",
          "line_kind": "line_kind", "line_type": "line_type", "check_method": "check_method", "plus": "plus"}
# Anchors of the shared labels: (anchor key, field it gives, where the anchor stands: "below",
# "above" or "before" = above or on the same line; "line": on its line, left of it).
_SHARED = {
    "kana": (("name", "contractor_kana", "below"), ("block:contractor", "contractor_kana", "before"),
             ("shop_name", "shop_kana", "below"), ("block:shop", "shop_kana", "before"),
             ("contact", "contact_kana", "below"), ("block:contact", "contact_kana", "before"),
             ("mail_local", "mail_reading", "above")),
    "address": (("name", "contractor_address", "before"), ("block:contractor", "contractor_address", "before"),
                ("shop_name", "shop_address", "before"), ("block:shop", "shop_address", "before")),
    "phone": (("contractor_kana", "contractor_phone", "line"), ("shop_kana", "shop_phone", "line"),
              ("name", "contractor_phone", "before"), ("block:contractor", "contractor_phone", "before"),
              ("shop_name", "shop_phone", "before"), ("block:shop", "shop_phone", "before")),
}
# Fields whose value is writing or print to read (choices are found by their words).
TEXT_FIELDS = ("customer_code", "contractor_name", "contractor_phone", "shop_name", "shop_phone", "mail_local",
               "mail_reading", "contact", "ssid", "units")


@dataclass(frozen=True)
class Places:
    rows: dict[str, Row]
    untrusted: dict[str, str]  # field → why its place is not trusted
    # choice field → each option's printed word (None: not read), page pixels
    option_words: dict[str, tuple[Box | None, ...]]
    side: str  # RIGHT | BELOW | ABOVE
    labels: dict[str, Found]
    # choices found by their words whose marks are sure only as one option marked and the others
    # clean (a mark read as none, or none read as a mark, then leaves the row to a person)
    one_mark: frozenset[str] = frozenset()
    # each choice's band and its ink that is not print (choice_rows.band_residue): "none marked"
    # is sure only where it holds nothing but the row's check boxes
    residue: dict[str, Residue | None] = field(default_factory=dict)
    # a choice whose options wrap onto several lines → its parts, a row each (choice_lines)
    parts: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _mid(b: Box) -> tuple[float, float]:
    return (b[0] + b[2]) / 2, (b[1] + b[3]) / 2


def _gap(a: Box, b: Box) -> float:
    """Reading distance between two boxes: the vertical gap, plus a quarter of the horizontal."""
    dy = max(0, max(a[1], b[1]) - min(a[3], b[3]))
    dx = max(0, max(a[0], b[0]) - min(a[2], b[2]))
    return dy + 0.25 * dx


def name_fields(found: list[Found]) -> dict[str, Found]:
    """Each field's label: the unique ones by their words, the shared ones by their anchors."""
    out: dict[str, Found] = {}
    for f in sorted(found, key=lambda f: -f.score):
        field_ = UNIQUE.get(f.key)
        if field_ and field_ not in out:
            out[field_] = f
    # anchors only where read well: a poor match may be other print (「店舗・施設」 of the note
    # 「※Wi-Fiを設置する店舗・施設」 taken for 店舗/施設名 made the contractor's フリガナ the shop's,
    # and the contractor's phone the shop's, read sure: corner_captions seed 20002 form 5)
    anchors = {f.key: f for f in found if f.key.startswith("block:") and f.score >= GOOD}
    anchors.update({k: v for k, v in out.items() if k in ("shop_name", "mail_local", "contact") and v.score >= GOOD})
    if "contractor_name" in out and out["contractor_name"].score >= GOOD:
        anchors["name"] = out["contractor_name"]
    # the phones last: a 電話番号 printed on a block's フリガナ line (an Excel grid's two pairs in
    # a row, the block names 縦書き) is that block's, whatever 名称 below it would claim
    _claim(found, anchors, out, lambda k: k != "phone")
    anchors.update({k: out[k] for k in ("contractor_kana", "shop_kana") if k in out})
    _claim(found, anchors, out, lambda k: k == "phone")
    return out


def _claim(found: list[Found], anchors: dict[str, Found], out: dict[str, Found], keys: Callable[[str], bool]) -> None:
    """Each shared label of ``keys`` named by its nearest anchor that stands where it should."""
    claims: list[tuple[float, str, Found]] = []
    for f in found:
        if not keys(f.key):
            continue
        for akey, field_, where in _SHARED.get(f.key, ()):
            a = anchors.get(akey)
            if a is None:
                continue
            (_, fy), (_, ay) = _mid(f.box), _mid(a.box)
            h = max(f.height, 1)
            if where == "below" and ay <= fy + 0.3 * h:
                continue
            if where == "above" and ay >= fy - 0.3 * h:
                continue
            if where == "before" and ay > fy + 0.5 * h:
                continue
            if where == "line" and (abs(ay - fy) > 0.5 * h or a.box[2] > f.box[0]):
                continue
            # a heading is a weaker anchor than a label of the block
            claims.append((_gap(f.box, a.box) * (1.5 if akey.startswith("block:") else 1.0), field_, f))
    used = {id(f) for f in out.values()}
    for _, field_, f in sorted(claims, key=lambda c: c[0]):
        if field_ in out or id(f) in used:
            continue
        out[field_] = f
        used.add(id(f))


def _column_pairs(labels: list[Found]) -> list[tuple[Found, Found]]:
    """Pairs of labels one right under the other in a column (no label between them)."""
    pairs = []
    for a in labels:
        h = max(a.height, 1)
        below = [b for b in labels if b is not a and abs(b.box[0] - a.box[0]) <= 1.5 * h and b.box[1] > a.box[3]]
        if below:
            pairs.append((a, min(below, key=lambda b: b.box[1])))
    return pairs


def value_side(labels: list[Found], ink: np.ndarray) -> tuple[str, float]:
    """(side, share of the votes): where the page prints values (see the module's note).  A
    label with writing on its line votes for the right; two labels of a column with writing
    between them vote for the side nearer the writing.  An empty field votes for nothing."""
    votes = {RIGHT: 0, BELOW: 0, ABOVE: 0}
    for a in labels:
        h = max(a.height, 1)
        y0, y1 = a.box[1] + h // 5, a.box[3] - h // 5
        x0, x1 = int(a.box[2] + 0.6 * h), min(ink.shape[1], int(a.box[2] + 12 * h))
        if y1 > y0 and x1 > x0 and np.count_nonzero(ink[y0:y1, x0:x1].sum(axis=0) >= 2) >= 0.5 * h:
            votes[RIGHT] += 1
    for a, b in _column_pairs(labels):
        h = max(a.height, 1)
        x0, x1 = a.box[0], min(ink.shape[1], a.box[0] + 6 * h)
        y0, y1 = a.box[3] + 2, b.box[1] - 2
        if y1 - y0 < 4:
            continue
        rows = np.flatnonzero(ink[y0:y1, x0:x1].sum(axis=1) >= 3)
        if rows.size < 0.3 * h:
            continue
        first, last = int(rows[0]), int(rows[-1])
        after = (y1 - y0) - 1 - last
        if abs(first - after) < 0.25 * h:
            continue  # writing half way between the two labels says nothing of its side
        votes[BELOW if first < after else ABOVE] += 1
    ranked = sorted(votes, key=lambda k: -votes[k])
    side, second = ranked[0], votes[ranked[1]]
    # sure of the side: at least three votes for it and from three labels in ten, half as many
    # again as for any other (3 of 13 labels, all for the right, on a page that prints its values
    # under their labels: the right of three labels held print, and the mail address was read
    # from there; seed 11212 form 42, a missed MAIL_ADDRESS_MISSING)
    enough = votes[side] >= max(3.0, 0.3 * len(labels))
    return side, (1.0 if enough and votes[side] >= 1.5 * second else 0.0)


def locate(found: list[Found], ink: np.ndarray, rules: np.ndarray, lines_: Sequence[Line] = ()) -> Places:
    """Every field's place on the page (``ink``: the page's ink at a lenient threshold, without
    its ruling lines: light pencil is writing too; ``lines_``: every line of text read on the
    page: they bound the choice rows and hold 姓 / 名)."""
    named = name_fields(found)
    labels = [f for f in found if not f.key.startswith("option:")]
    ink = ink.copy()
    for f in found:  # the printed words are no writing
        ink[f.box[1]:f.box[3], f.box[0]:f.box[2]] = False
    voting = ink.copy()
    for ln in lines_:  # nor are the form's notes (※半角英数字, （アドレスの読み方）) beside a label
        if ln.chars and ln.text[:1] in _NOTE_OPENERS:
            b = band(ln)
            voting[int(b.top):int(b.bottom) + 1, b.x0:b.x1] = False
    # a choice's label has its options beside it, not a value
    side, share = value_side([f for f in labels if not f.key.startswith("block:") and f.key not in _CHOICE_LABELS],
                             voting)
    rows: dict[str, Row] = {}
    bad: dict[str, str] = {}
    for field_ in TEXT_FIELDS:
        lab = named.get(field_)
        if lab is None:
            continue
        box = place(lab, side, labels, rules)
        if field_ == "customer_code" and side != RIGHT:
            box = _framed_right(lab, labels, ink, rules) or box
        if box is not None and field_ == "units":
            frames.frames_away(box, ink, rules)  # 親機 [ ] 台 子機 [ ] 台: two frames in one place
        elif box is not None:
            box = frames.within_frame(box, ink, rules, lab.height, digits=field_ == "customer_code",
                                      whole=side == BELOW)
            frames.rectangle_away(box, ink, rules, lab.height)  # a frame's sides are no writing
        if box is not None and side == BELOW and field_ != "customer_code":
            line_ = writing_line(ink, (box[0], int(box[1] + 0.5 * lab.height), box[2], box[3]), lab.height)
            if line_ is not None:  # the value stands on it: the place ends there
                box = (box[0], box[1], min(box[2], int(line_.x1 + lab.height)), line_.y - 2)
        if box is None:
            bad[field_] = "no room for a value beside its label"
            continue
        rows[field_] = Row(box[1], box[3], lab.box, box, lab.text, field_, lab.score)
        if lab.score < GOOD and not (field_ == "customer_code" and _nine_digits_beside(lab, lines_)):
            bad[field_] = f"its label read poorly ({lab.text!r})"
        elif share < 1.0:
            bad[field_] = f"the side of the values is not clear ({side}?)"
    for field_ in _unplaced_twins(found, named):
        if field_ in rows:
            bad.setdefault(field_, "another label of its words is in no block: which is whose is not known")
    if "contact" in rows and "contact" not in bad:
        parts = contact_parts(rows["contact"], named["contact"], side, labels, ink, rules, lines_)
        if parts is not None:
            for name, box in zip(("contact_last", "contact_first"), parts, strict=True):
                rows[name] = Row(box[1], box[3], named["contact"].box, box, name, name, named["contact"].score)
    option_words: dict[str, tuple[Box | None, ...]] = {}
    residue: dict[str, Residue | None] = {}
    parts: dict[str, tuple[str, ...]] = {}
    words_of: dict[str, tuple[Box | None, ...]] = {}  # each choice's option words (its parts share them)
    print_lines = [band(ln) for ln in lines_]
    for name, box, why in choice_rows(found, print_lines, rules):
        part = part_of(name)
        fld = part[0] if part else name
        if fld not in words_of:
            words_of[fld] = option_words_of(found, fld, print_lines, rules)
        option_words[name] = words_of[fld][part[1]] if part else words_of[fld]
        if part:
            parts[part[0]] = (*parts.get(part[0], ()), name)
        if box is not None:
            box = uncut_left(box, ink, (box[3] - box[1]) // 2)
            rows[name] = Row(box[1], box[3], box, box, name, name, 1.0)
            residue[name] = band_residue(box, option_words[name], ink & ~rules, lines_)
        if why:
            bad[name] = why
    for fld, names in parts.items():
        # the choice itself: every part placed, its row spanning them (for the reading's box)
        if any(n in bad or n not in rows for n in names):
            bad[fld] = "a line of its options has no row"
            continue
        boxes = [rows[n].value_box for n in names]
        box = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
        rows[fld] = Row(box[1], box[3], box, box, fld, fld, 1.0)
    one_mark = frozenset() if WORD_MARKS_SURE else frozenset([*option_words, *parts]) - set(bad)
    return Places(rows=rows, untrusted=bad, option_words=option_words, side=side, labels=named, one_mark=one_mark,
                  residue=residue, parts=parts)


def _unplaced_twins(found: list[Found], named: dict[str, Found]) -> set[str]:
    """The phones when a 電話番号 label was found that no block claims: each block's label is
    named by the block's name or heading before it, and a layout whose 電話番号 stands before its
    block's name (on the フリガナ line, headings printed 縦書き) can give the contractor's phone
    the 設置先's label while the contractor's own stays unnamed (a sure and wrong phone, seed 9696)."""
    used = {id(f) for f in named.values()}
    twins = [f for f in found if f.key == "phone" and id(f) not in used]
    return {"contractor_phone", "shop_phone"} if twins else set()


def _framed_right(lab: Found, labels: list[Found], ink: np.ndarray, rules: np.ndarray) -> Box | None:
    """The customer code's place in a frame right beside its label, on a page that prints its
    other values under (or over) their labels: the code at the top of the page, in a plain
    rectangle or digit boxes starting within two characters of the label's end (two_columns)."""
    box = place(lab, RIGHT, labels, rules)
    if box is None:
        return None
    sides = frames.uprights(ink, box)
    if len(sides) < 2 or sides[0] > lab.box[2] + 2 * lab.height:
        return None
    return box


def _nine_digits_beside(lab: Found, lines_: Sequence[Line]) -> bool:
    """Whether the page's text right of a poorly read code label, on its line, is nine digits
    (the code itself: the label is the code's, however its kanji read)."""
    h = lab.height
    mid = (lab.box[1] + lab.box[3]) / 2
    for ln in lines_:
        b = band(ln)
        if b.top <= mid <= b.bottom and lab.box[2] - h <= b.x0 <= lab.box[2] + 10 * h:
            text = "".join(c.text for c in ln.chars if c.box[0] >= lab.box[2] - 2)
            if len(text) == 9 and text.isdigit():
                return True
    return False


_NOTE_OPENERS = set("※(（")
_CHOICE_LABELS = {"line_kind", "line_type", "check_method", "plus"}


# USEN SPOT's own words: a page with the same 名称/住所/電話番号 but none of these is another form.
_OWN = ("customer_code", "line_kind", "line_type", "check_method", "plus", "ssid", "units")


def is_form(p: Places, found: list[Found]) -> bool:
    """Enough of the form's labels (8 fields), among them at least three of its own words."""
    options = {f.key.split(".")[0][7:] for f in found if f.key.startswith("option:")}
    own = sum(1 for k in _OWN if k in p.labels or k in options)
    return len(p.labels) >= 8 and own >= 3
