"""Several routers need 親〇台 子〇台 (manual §II ①): UNIT_COUNT_MISSING.

The counts come from the form's 親機/子機 fields, its 備考, or the body. When none gives a
count, the order is one parent router; but a mail or form that speaks of 子機 or 複数台 without
counts is exactly the case the manual sends back.
"""

from __future__ import annotations

import re
import unicodedata

from bot.body import parse_units
from bot.checks.base import Defect, Facts

UNIT_COUNT_MISSING = "UNIT_COUNT_MISSING"
_SEVERAL = re.compile(r"子機|複数台|複数設置|親機\s*\d|[2-9]\s*台")


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
    if value is None:
        return None
    text = unicodedata.normalize("NFKC", value).strip()
    return int(text) if text.isdigit() else None


def count_given(f: Facts) -> list[Defect]:
    parent, child = unit_counts(f)
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
    return [] if child else [Defect(UNIT_COUNT_MISSING)]
