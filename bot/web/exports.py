"""The console's lists as CSV files (受信一覧, 保留): the rows a page shows with the same
filters, every match rather than one page, for a spreadsheet.

UTF-8 with a BOM (Excel opens it as UTF-8 only with one), CRLF line ends, every cell passed
through :func:`bot.domain.csvsafe.neutralise` (a cell a spreadsheet would run as a formula gets a
leading ``'``). The words are the page's: decisions, kinds and defects by their Japanese
names; the defect codes ride in a column of their own for the admins who script against them.

Pure: rows in, bytes out (the views in :mod:`bot.web.views.exports` read and audit).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterable, Sequence
from urllib.parse import quote

from bot.domain.csvsafe import neutralise
from bot.web.queries import HOLD_REASONS, HeldRow, MailRow

BOM = "\ufeff"
MAX_ROWS = 10_000  # rows in one file; the file says when more matched (a last row)

MAIL_HEADER = ("受信日時", "メール番号", "差出人", "支店", "件名", "種別", "顧客コード", "判定", "対応済",
               "不備", "注意", "不備・注意のコード")
HELD_HEADER = ("受信日時", "メール番号", "状態", "待ち時間", "理由の分類", "理由", "読み取りが不確かな項目",
               "対応中の人", "対応開始", "差出人", "支店", "件名", "種別", "顧客コード", "不備・注意", "不備・注意のコード")


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """A CSV file: BOM, CRLF, every cell formula-safe (None as an empty cell)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in header])
    for row in rows:
        writer.writerow([neutralise("" if cell is None else str(cell)) for cell in row])
    return (BOM + out.getvalue()).encode("utf-8")


def _names(row: MailRow) -> tuple[str, str, str]:
    defects = "、".join(name for _c, name in row.defect_names)
    warnings = "、".join(name for _c, name in row.warning_names)
    codes = " ".join(c for c, _n in (*row.defect_names, *row.warning_names))
    return defects, warnings, codes


def mail_lines(rows: Iterable[MailRow]) -> Iterable[tuple[object, ...]]:
    for r in rows:
        defects, warnings, codes = _names(r)
        yield (r.received, r.id, r.from_addr, r.branch, r.subject, r.kind_label, r.customer_code, r.decision_label,
               "済" if r.resolved else "", defects, warnings, codes)


def held_lines(rows: Iterable[HeldRow], person: Callable[[str], str]) -> Iterable[tuple[object, ...]]:
    """`person`: login name → the name the office knows them by (Page.person)."""
    for h in rows:
        r = h.row
        defects, warnings, codes = _names(r)
        yield (r.received, r.id, h.status_label, h.waiting, HOLD_REASONS.get(h.reason_key, ""), h.reason,
               "、".join(h.unsure), person(h.claimed_by) if h.claimed_by else "",
               h.claimed_since, r.from_addr, r.branch, r.subject, r.kind_label, r.customer_code,
               "、".join(x for x in (defects, warnings) if x), codes)


def more_line(width: int, shown: int, total: int) -> tuple[str, ...]:
    """The last row of a file cut at MAX_ROWS: it says so (a spreadsheet shows no header note)."""
    return (f"（ほかに {total - shown:,} 件あります。条件を絞って書き出してください）",) + ("",) * (width - 1)


def disposition(stem: str, ascii_stem: str, day: dt.date) -> str:
    """Content-Disposition of a download named in Japanese (with an ASCII fallback)."""
    name = f"{stem}_{day:%Y%m%d}.csv"
    return f"attachment; filename=\"{ascii_stem}_{day:%Y%m%d}.csv\"; filename*=UTF-8''{quote(name, safe='')}"
