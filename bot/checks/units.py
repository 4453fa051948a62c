"""Several routers need 親〇台 子〇台 (manual §II ①): UNIT_COUNT_MISSING.

The counts come from the form's 親機/子機 fields, its 備考, or the body. When none gives a
count, the order is one parent router; but a mail or form that speaks of 子機 or 複数台 without
counts is exactly the case the manual sends back, and so is a 親機/子機 box that holds something
the bot cannot read as a count (数台, 未定): it is sent back rather than read as one router.
"""

from __future__ import annotations

import re
import unicodedata

from bot.checks.base import Defect, Facts
from bot.mail.body import parse_count, parse_units

UNIT_COUNT_MISSING = "UNIT_COUNT_MISSING"
_SEVERAL = re.compile(r"子機|複数台|複数設置|親機\s*\d|[2-9]\s*台")
_EMPTY = re.compile(r"^[\s台〇○_]*$")


def unit_counts(f: Facts) -> tuple[int | None, int | None]:
    """(parent, child) from the form fields, else 備考, else the body."""
    parent: int | None = None
    child: int | None = None
    form = f.form
    if form is not None and form.fields is not None:
        parent = _int(form.fields.parent_units)
        child = _int(form.fields.child_units)
        if parent is None and child is None and form.fields.remarks:
            parent, child = parse_units(form.fields.remarks)
    if parent is None and child is None:
        parent, child = parse_units("\n".join(f.body.lines))
    return parent, child


def _int(value: str | None) -> int | None:
    """A 親機/子機 box: '1', '１台', '二' → the count; empty or unreadable → None."""
    return parse_count(value)


def unreadable_boxes(f: Facts) -> dict[str, str]:
    """The form's 親機/子機 boxes that hold something which is no count: label → text."""
    form = f.form
    if form is None or form.fields is None:
        return {}
    boxes = {"親機": form.fields.parent_units, "子機": form.fields.child_units}
    return {
        label: value.strip() for label, value in boxes.items()
        if value is not None and _int(value) is None and not _EMPTY.match(unicodedata.normalize("NFKC", value))
    }


def count_given(f: Facts) -> list[Defect]:
    parent, child = unit_counts(f)
    unreadable = unreadable_boxes(f)
    # A box written but not readable, whose count no other place (備考, 本文) gives.
    missed = {label: v for label, v in unreadable.items() if (parent if label == "親機" else child) is None}
    if missed:
        return [Defect(UNIT_COUNT_MISSING, {"unreadable": "、".join(f"{k}「{v}」" for k, v in missed.items())})]
    if parent is not None or child is not None:
        return []
    texts = ["\n".join(f.body.lines)]
    if f.form is not None and f.form.fields is not None and f.form.fields.remarks:
        texts.append(f.form.fields.remarks)
    mentioned = any(_SEVERAL.search(unicodedata.normalize("NFKC", t)) for t in texts)
    return [Defect(UNIT_COUNT_MISSING)] if mentioned else []


def child_count_given(f: Facts) -> list[Defect]:
    """子機 追加/交換: how many child units (子機〇台) must be written."""
    _parent, child = unit_counts(f)
    return [] if child else [Defect(UNIT_COUNT_MISSING, {"child_order": "1"})]
