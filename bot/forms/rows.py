"""Which row of the form's table holds which field, and whether that row can be trusted.

A row is assigned to a field by its printed label and block (:func:`assign`).  A reading
resting on a row is only ever *sure* when the row is **trusted** (:func:`untrusted` names
the rows that are not, with the reason): a ruling line missed by the scan merges two rows,
which shifts every cell below the label, and a cell read from the wrong place is worse than
a cell not read.  A row is trusted when

* its label read well (the vocabulary matched with score >= :data:`GOOD_LABEL`);
* its label cell holds exactly ONE line of print, centred in the row (two rows merged by a
  missed rule hold two labels, one above and one below the middle);
* its field comes in the form's order (:data:`ORDER`) between the fields found around it,
  and the field printed just before it was found too (or a block header / an unread row
  stands there: a row that vanished has merged with a neighbour).
"""

from __future__ import annotations

from bot.forms.raster import PT, Upright
from bot.forms.table import Row, Table, clean_crop

GOOD_LABEL = 0.75
# The fields of the form in printed order (FORM-SPEC.md; contact_kana is on Ver.3/Ver.4 only).
ORDER = ("customer_code", "contractor_kana", "contractor_name", "contractor_address", "contractor_phone",
         "shop_kana", "shop_name", "shop_address", "shop_phone", "line_kind", "line_type", "check_method",
         "mail_local", "mail_reading", "contact_kana", "contact", "plus", "ssid", "units", "remarks")
# Rows a version of the form may leave out (the sample form has no contact kana row).
_OPTIONAL = frozenset({"contact_kana"})


def assign(rows: tuple[Row, ...]) -> dict[str, Row]:
    """Which row holds which field: by label, and by block for the labels both blocks share
    (a 【block】 line of Ver.3, else the order: the first フリガナ/名称/住所/電話番号 are the
    contractor's, the next ones the shop's; フリガナ after the mail address is its reading,
    the next one the contact person's)."""
    out: dict[str, Row] = {}
    block: str | None = None

    def put(name: str, row: Row) -> None:
        out.setdefault(name, row)

    for row in rows:
        key = row.key
        if key is None:
            continue
        if key.startswith("block:"):
            block = key[6:]
            continue
        if key == "kana":
            if block == "contact" or "mail_reading" in out:
                put("contact_kana", row)
            elif block == "mail" or "mail_local" in out:
                put("mail_reading", row)
            else:
                b = block if block in ("contractor", "shop") else "contractor"
                if b == "contractor" and "contractor_kana" in out:
                    b = "shop"
                block = b
                put(f"{b}_kana", row)
        elif key in ("name", "address", "phone"):
            b = block if block in ("contractor", "shop") else "contractor"
            if b == "contractor" and f"contractor_{key}" in out:
                b = "shop"
            block = b
            put("shop_name" if (key == "name" and b == "shop") else f"{b}_{key}", row)
        elif key == "shop_name":
            block = "shop"
            put("shop_name", row)
        else:
            block = {"mail_local": "mail", "contact": "contact", "line_kind": "line", "line_type": "line",
                     "check_method": "line", "plus": "service", "ssid": "service"}.get(key, block)
            put(key, row)
    return out


def label_lines(up: Upright, table: Table, row: Row) -> list[tuple[int, int]]:
    """The lines of print in a row's label cell: [y0, y1) in upright pixels, each at least 3 pt
    high, separated by at least 1.5 pt of paper."""
    x0, y0, x1, y1 = row.label_box
    if x1 - x0 < 8 or y1 - y0 < 8:
        return []
    crop = clean_crop(up, table, (x0 + 2, y0 + 2, x1 - 2, y1 - 2))
    ink = crop < 140
    # a speck or the stub of a rule is no print: keep rows with a few ink pixels
    prof = ink.sum(axis=1) >= max(2, int(0.4 * PT))
    out: list[tuple[int, int]] = []
    start = None
    gap = 0
    for y, has in enumerate(prof.tolist()):
        if has:
            if start is None:
                start = y
            gap = 0
            end = y + 1
        elif start is not None:
            gap += 1
            if gap >= 1.5 * PT:
                out.append((start, end))
                start = None
    if start is not None:
        out.append((start, end))
    return [(a + y0 + 2, b + y0 + 2) for a, b in out if b - a >= 3 * PT]


_BY_ORDER = frozenset({"kana", "name", "address", "phone"})  # labels the form prints more than once


def _merged(up: Upright, table: Table, row: Row) -> str | None:
    """Why a row looks like two rows merged (a missed rule), or None."""
    lines = label_lines(up, table, row)
    if len(lines) != 1:
        return f"its label cell holds {len(lines)} lines of print (rows merged?)"
    mid = (row.top + row.bottom) / 2
    a, b = lines[0]
    if abs((a + b) / 2 - mid) > 0.2 * (row.bottom - row.top) + 2 * PT:
        return "its label is not in the middle of the row (rows merged?)"
    return None


def untrusted(up: Upright, table: Table, assigned: dict[str, Row]) -> dict[str, str]:
    """Field → why its row is not trusted (see the module's doc); trusted rows are absent."""
    out: dict[str, str] = {}
    rows = list(table.rows)
    field_of = {id(r): n for n, r in assigned.items()}
    merged_above = False
    for row in rows:
        if row.key is not None and row.key.startswith("block:"):
            merged_above = False
            continue
        name = field_of.get(id(row))
        merged = _merged(up, table, row)
        if name is None:
            merged_above = merged_above or merged is not None
            continue
        if row.score < GOOD_LABEL:
            out[name] = f"its label read poorly ({row.text!r})"
        elif merged is not None:
            out[name] = merged
        elif merged_above and row.key in _BY_ORDER:
            # which フリガナ / 住所 … a row is comes from its place: after a merged row, not known
            out[name] = "a row above it in its block merged with another, so its place is not known"
        merged_above = merged_above or merged is not None
    # order: the fields found must come in the form's order
    found = sorted(((r.top, n) for n, r in assigned.items() if n in ORDER))
    idx = [ORDER.index(n) for _, n in found]
    for i, (_, name) in enumerate(found):
        before_ok = i == 0 or idx[i - 1] < idx[i]
        after_ok = i + 1 == len(found) or idx[i + 1] > idx[i]
        if not (before_ok and after_ok):
            out.setdefault(name, "its label is out of the form's order")
            continue
        k = ORDER.index(name)
        while k > 0 and ORDER[k - 1] in _OPTIONAL and ORDER[k - 1] not in assigned:
            k -= 1
        if k == 0:
            continue
        expected_before = ORDER[k - 1]
        if expected_before in assigned:
            continue
        # the printed predecessor was not found: fine only when a block header or an unread
        # row stands right before this one (the predecessor's row is there, its label unread)
        pos = rows.index(assigned[name])
        prev = rows[pos - 1] if pos > 0 else None
        if prev is None or (prev.key is not None and not prev.key.startswith("block:")):
            out.setdefault(name, f"the row of {expected_before} before it is missing (rows merged?)")
    return out
