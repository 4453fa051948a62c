"""The two CSV files of a batch (the vendor rows, and the ledger rows changed since the last
batch) in the vendor's encoding: CRLF, a character the encoding lacks replaced and reported,
a cell a spreadsheet would take as a formula neutralised."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.db.models import LedgerEntry, LedgerEvent, VendorRow
from bot.domain.calendar import BusinessCalendar
from bot.domain.csvsafe import neutralise
from bot.ledger import STATE_LABELS
from bot.vendor.model import EVENT_LABELS, PAYLOAD_COLUMNS, Replacement

log = logging.getLogger("bot.vendor")

# What a cell shows for a character the CSV encoding cannot hold (〓, the traditional 代替文字).
REPLACEMENT_CHAR = "〓"
# Characters with an exact CP932 twin that Python's codec does not map by itself: the EM DASH
# that Mac/Unicode text uses where Windows text has the HORIZONTAL BAR (JIS 1-1-29 ダッシュ).
_EQUIVALENTS: Mapping[str, str] = {
    "\u2014": "\u2015",  # EM DASH → HORIZONTAL BAR
    "\u2013": "\uff0d",  # EN DASH → FULLWIDTH HYPHEN-MINUS
    "\u2011": "-",  # NON-BREAKING HYPHEN
    "\u00a5": "\uffe5",  # YEN SIGN → FULLWIDTH YEN SIGN
    "\u00a0": " ",  # NO-BREAK SPACE
    "\u203e": "\uffe3",  # OVERLINE → FULLWIDTH MACRON
    "\u00b7": "\u30fb",  # MIDDLE DOT → KATAKANA MIDDLE DOT
}


@dataclass(frozen=True)
class LedgerLine:
    entry: LedgerEntry
    last_event: LedgerEvent | None


def csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "有" if value else "無"
    # A line break inside a cell breaks the vendor's line-by-line import; addresses never need one.
    return " ".join(str(value).splitlines())


def _fit(value: str, encoding: str) -> tuple[str, str]:
    """`value` made encodable: (text to write, the characters that had to be replaced)."""
    try:
        value.encode(encoding)
        return value, ""
    except UnicodeEncodeError:
        pass
    substitute = REPLACEMENT_CHAR if encodable(REPLACEMENT_CHAR, encoding) else "?"
    out: list[str] = []
    lost: list[str] = []
    for ch in value:
        if encodable(ch, encoding):
            out.append(ch)
        elif ch in _EQUIVALENTS and encodable(_EQUIVALENTS[ch], encoding):
            out.append(_EQUIVALENTS[ch])
        else:
            out.append(substitute)
            lost.append(ch)
    return "".join(out), "".join(lost)


def encodable(ch: str, encoding: str) -> bool:
    try:
        ch.encode(encoding)
        return True
    except UnicodeEncodeError:
        return False


@dataclass(frozen=True)
class _CsvLine:
    row_id: int | None
    customer_code: str
    cells: tuple[str, ...]


def write_csv(name: str, header: Sequence[str], lines: Iterable[_CsvLine], encoding: str) -> tuple[bytes, list[Replacement]]:
    """Header row + lines, CRLF, in `encoding`; an unencodable character is replaced and reported,
    a cell a spreadsheet would take as a formula is neutralised (bot/domain/csvsafe.py)."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    replacements: list[Replacement] = []
    for number, line in enumerate(lines, start=2):
        cells: list[str] = []
        for column, cell in zip(header, line.cells, strict=True):
            fitted, lost = _fit(cell, encoding)
            if lost:
                r = Replacement(name, number, line.row_id, line.customer_code, column, lost)
                replacements.append(r)
                log.warning("vendor CSV %s line %d (vendor row %s, 顧客CD %s) column %s: %s (%s) not in %s, replaced",
                            name, number, line.row_id, line.customer_code, column, lost, r.codepoints, encoding)
            cells.append(neutralise(fitted))
        writer.writerow(cells)
    return buf.getvalue().encode(encoding), replacements


def vendor_line(row: VendorRow, tz: dt.tzinfo, *, day: dt.date, calendar: BusinessCalendar) -> _CsvLine:
    payload = row.payload or {}
    ship = row.ship_date
    if ship is not None and row.batch_date < day:
        # The row missed its own day's batch (the daemon was down at the cutoff): the vendor
        # registers it N+1 and ships N+2 counted from the batch that really carries it.
        ship = calendar.add_business_days(day, 2)
    cells = (
        row.category,
        row.customer_code,
        *(csv_text(payload.get(key)) for _header, key in PAYLOAD_COLUMNS),
        row.received_at.astimezone(tz).strftime("%Y/%m/%d %H:%M"),
        ship.strftime("%Y/%m/%d") if ship else "",
    )
    return _CsvLine(row.id, row.customer_code, cells)


def ledger_line(line: LedgerLine, tz: dt.tzinfo) -> _CsvLine:
    e = line.entry
    event = line.last_event.event if line.last_event is not None else ""
    cells = (
        e.customer_code,
        STATE_LABELS.get(e.state, e.state),
        csv_text(e.shop_name),
        csv_text(bool(e.plus)),
        csv_text(e.ssid),
        csv_text(e.parent_units),
        csv_text(e.child_units),
        csv_text(bool(e.router_not_removed)),
        e.termination_date.strftime("%Y/%m/%d") if e.termination_date else "",
        e.updated_at.astimezone(tz).strftime("%Y/%m/%d %H:%M"),
        EVENT_LABELS.get(event, event),
    )
    return _CsvLine(None, e.customer_code, cells)


# Corporate orders (法人営業, manual §IX ⑤: 地区営業の依頼と分別) carry three more columns: in
# their own file ([corporate] vendor_separate = "csv") or after the district rows of the one
# file ("section"). A batch without corporate rows is written exactly as before.
CORPORATE_EXTRA: tuple[tuple[str, str], ...] = (("管理番号", "management_no"), ("親機/子機", "role"),
                                                 ("Enterprise", "enterprise"))


def is_corporate(row: VendorRow) -> bool:
    return bool((row.payload or {}).get("corporate"))


def with_corporate_cells(line: _CsvLine, row: VendorRow) -> _CsvLine:
    """The line with the corporate columns (empty for a district row)."""
    payload = row.payload or {}
    extra = tuple(csv_text(payload.get(key)) if is_corporate(row) else "" for _h, key in CORPORATE_EXTRA)
    return _CsvLine(line.row_id, line.customer_code, (*line.cells, *extra))


def corporate_csv_name(day: dt.date) -> str:
    return f"usen_spot_houjin_{day:%Y%m%d}.csv"


def csv_name(day: dt.date) -> str:
    return f"usen_spot_{day:%Y%m%d}.csv"


def ledger_csv_name(day: dt.date) -> str:
    return f"usen_spot_ledger_{day:%Y%m%d}.csv"


def mime_charset(encoding: str) -> str:
    name = codecs.lookup(encoding).name
    # Windows-31J (CP932) is announced as Shift_JIS, the label Japanese mail clients and Excel know.
    return {"cp932": "Shift_JIS", "shift_jis": "Shift_JIS", "utf-8": "UTF-8", "utf-8-sig": "UTF-8",
            "euc_jp": "EUC-JP"}.get(name, name)


def encoding_label(encoding: str) -> str:
    name = codecs.lookup(encoding).name
    return {"cp932": "Shift_JIS・CP932", "utf-8": "UTF-8", "utf-8-sig": "UTF-8（BOM付き）"}.get(name, name)

