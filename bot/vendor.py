"""The daily vendor batch (発注データ): one mail a day to ファイバーゲート社 carrying every vendor
row not sent yet (a CSV) and the ledger rows changed since the last batch (管理台帳 日次共有).

Exactly once, across crashes and restarts, rests on one transaction (:func:`build_batch`):

    lock → queue forced terminations → take the unsent rows → create the VendorBatch →
    stamp its id on the rows → render the mail → enqueue it in the outbox → outbox_id

Before the commit nothing happened (a crash rolls all of it back and the next run starts
over); after it, the rows carry the batch id so no later batch takes them again, and the one
outbox row is delivered by :mod:`bot.outbox` with retries. The outbox's own gap (the server
accepted, the process died before marking the row sent) resends *the same bytes with the same
Message-ID* after the claim lease: the vendor may see one batch twice, never a row in two
different batches. The mail names its batch number so the vendor can tell a resend.

Two processes: on PostgreSQL a transaction-scoped advisory lock serialises batch builders and
the rows are read with ``FOR UPDATE SKIP LOCKED`` (a row another transaction is changing, e.g.
a cancellation, waits for the next batch); on SQLite the first statement is a write, which
takes the database's write lock for the whole transaction. Whatever the back end, rows are
stamped with ``UPDATE … WHERE batch_id IS NULL AND cancelled_at IS NULL`` and the count must
match, so a row can never be stamped twice.
"""

from __future__ import annotations

import argparse
import codecs
import csv
import datetime as dt
import io
import logging
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot import db, outbox
from bot.calendar import BusinessCalendar
from bot.config import Config, OfficeConfig
from bot.csvsafe import neutralise
from bot.ledger import STATE_LABELS
from bot.models import (
    LedgerEntry,
    LedgerEvent,
    OutboxMessage,
    UnisOrder,
    VendorBatch,
    VendorRow,
)
from bot.template_samples import register_sample
from bot.templating import Templates
from bot.vendor_forms import FormPdf, form_pdfs, forms_context

log = logging.getLogger("bot.vendor")

TEMPLATE = "vendor_batch.txt.j2"
PURPOSE = "vendor_batch"
SENDER_NAME = "USEN SPOT 事務センター"

# 区分 (VendorRow.category), in the order the mail counts them.
NEW = "新規"
CHILD = "子機"
CANCEL = "キャンセル"
TERMINATE = "解約"
RELOCATE = "移設"
CHANGE = "変更"
FORCED_TERMINATION = "強制解約"
CATEGORIES = (NEW, CHILD, CANCEL, TERMINATE, RELOCATE, CHANGE, FORCED_TERMINATION)
ORDER_CATEGORIES = (NEW, CHILD)  # what a キャンセル申請 cancels
TERMINATION_CATEGORIES = (TERMINATE, FORCED_TERMINATION)

UNIS_TERMINATED = "解約"  # UnisOrder.status (契約状態)
FORCED_TERMINATION_BUSINESS_DAY = 5  # manual §VI: UNIS extracts all terminations on the 5th business day

# The vendor CSV: (header, payload key). 区分/顧客CD/受付日時/出荷予定日 come from the row itself.
PAYLOAD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("店舗名", "shop_name"),
    ("設置先住所", "shop_address"),
    ("電話番号", "shop_phone"),
    ("回線種別", "line_kind"),
    ("回線タイプ", "line_type"),
    ("メールアドレス", "mail_address"),
    ("SSID", "ssid"),
    ("Plus", "plus"),
    ("親機台数", "parent_units"),
    ("子機台数", "child_units"),
    ("送付支店", "branch"),
)
COLUMNS: tuple[str, ...] = ("区分", "顧客CD", *(h for h, _ in PAYLOAD_COLUMNS), "受付日時", "出荷予定日")

LEDGER_COLUMNS: tuple[str, ...] = (
    "顧客CD", "状態", "店舗名", "Plus", "SSID", "親機台数", "子機台数", "ルーター未撤去", "解約日", "最終更新", "最終イベント",
)

# LedgerEvent.event → what the vendor reads in 最終イベント.
EVENT_LABELS: Mapping[str, str] = {
    "order": "発注",
    "ship": "出荷",
    "install": "設置",
    "cancel": "キャンセル",
    "schedule_termination": "解約申請",
    "withdraw_termination": "解約キャンセル",
    "terminate": "解約",
    "child_unit": "子機",
    "change": "契約変更",
    "relocate": "移設",
    "router_not_removed": "ルーター未撤去",
    "seed_from_unis": "UNISから登録",
}

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

class VendorBatchError(Exception):
    """The batch cannot be built as configured; the message names the config key."""


class BatchConflict(Exception):
    """A row changed under the batch (stamped or cancelled by someone else): the transaction
    must roll back and the batch be built again. The locks make this a should-not-happen."""


@dataclass(frozen=True)
class Replacement:
    """A cell whose characters the CSV encoding cannot hold, replaced by :data:`REPLACEMENT_CHAR`."""

    file: str
    line: int  # line in the CSV file, header = line 1 (the row number a spreadsheet shows)
    row_id: int | None  # VendorRow.id; None for ledger rows and unsaved (preview) rows
    customer_code: str
    column: str
    original: str  # the characters that were replaced

    @property
    def codepoints(self) -> str:
        return " ".join(f"U+{ord(c):04X}" for c in self.original)


@dataclass(frozen=True)
class BatchResult:
    """One vendor batch: what the mail says and carries, and where it stands."""

    batch_date: dt.date
    batch_id: int | None  # None for a preview (nothing was written)
    outbox_id: int | None
    message_id: str
    subject: str
    recipients: tuple[str, ...]
    body: str
    csv_name: str
    csv_bytes: bytes
    ledger_name: str
    ledger_bytes: bytes
    row_ids: tuple[int, ...]  # the VendorRows carried (preview: the saved ones only)
    row_count: int
    counts: tuple[tuple[str, int], ...]  # (区分, rows) for every 区分, in CATEGORIES order
    ledger_count: int
    forced_terminations: int  # 強制解約 rows queued by this batch (preview: that would be)
    replacements: tuple[Replacement, ...]
    raw: bytes  # the whole mail as sent
    delivered: bool | None = None  # after run_vendor_batch(send=True): did the outbox send it now?
    form_names: tuple[str, ...] = ()  # scanned forms attached (申込書_<顧客CD>.pdf, encrypted)
    held_back: tuple[tuple[int, str, str], ...] = ()  # (row id, 顧客CD, why): form pages unreadable, row waits

    @property
    def sent(self) -> bool:
        """The batch is committed (the outbox owns its delivery from here on)."""
        return self.batch_id is not None


REMOVED = "removed"
COST = "cost"
NONE = "none"


@dataclass(frozen=True)
class CancelOutcome:
    """What a キャンセル申請 did to the vendor queue.

    ``removed``: the order had not left; its rows are cancelled and nothing goes out (free).
    ``cost``: the order already went out in a batch; a キャンセル row goes in the next one
    (the caller adds the CANCEL_COSTS warning, manual §VII). ``none``: no open order.
    """

    outcome: str
    removed_row_ids: tuple[int, ...] = ()
    cancel_row_id: int | None = None
    sent_batch_ids: tuple[int, ...] = ()

    def __str__(self) -> str:
        return self.outcome


# -- calendar ---------------------------------------------------------------------------------

def _calendar(office: OfficeConfig) -> BusinessCalendar:
    # Same as bot.pipeline.calendar_from; built here because the pipeline imports this module.
    return BusinessCalendar(tz=office.tz, cutoff=office.cutoff_time, company_holidays=office.company_holiday_dates)


def forced_termination_day(calendar: BusinessCalendar, year: int, month: int) -> dt.date:
    """The 5th business day of the month, when UNIS terminations go to the vendor (manual §VI)."""
    return calendar.nth_business_day_of_month(year, month, FORCED_TERMINATION_BUSINESS_DAY)


# -- locking ----------------------------------------------------------------------------------

def _lock_batch(session: Session) -> None:
    """Serialise batch builders until the caller's transaction ends: the second waits, then
    sees the first one's committed rows as sent."""
    db.serialise(session, "vendor-batch")


# -- forced terminations (強制解約) -------------------------------------------------------------

def _forced_termination_rows(session: Session, *, cfg: Config, day: dt.date, now: dt.datetime) -> list[VendorRow]:
    """The 強制解約 rows `day` would queue (unsaved): none before the month's 5th business day,
    nor once a batch on or after it has run."""
    calendar = _calendar(cfg.office)
    fifth = forced_termination_day(calendar, day.year, day.month)
    if day < fifth:
        return []
    # The first batch on or after the 5th business day carries them: if the daemon was down on
    # that day, the next batch catches up instead of losing the month's forced terminations.
    if day > fifth and session.scalar(
        select(VendorBatch.id).where(VendorBatch.batch_date >= fifth, VendorBatch.batch_date < day).limit(1)
    ) is not None:
        return []
    lines = session.scalars(
        select(UnisOrder).where(UnisOrder.status == UNIS_TERMINATED)
        .order_by(UnisOrder.customer_code, UnisOrder.termination_date, UnisOrder.id)
    ).all()
    if not lines:
        return []
    # A termination already told to the vendor (by a 解約申請 or an earlier month) is keyed by
    # customer and 解約日. A withdrawn (cancelled) 解約 row does not count: UNIS still says 解約.
    known: dict[str, list[str | None]] = {}
    for row in session.scalars(
        select(VendorRow).where(VendorRow.category.in_(TERMINATION_CATEGORIES), VendorRow.cancelled_at.is_(None))
    ):
        known.setdefault(row.customer_code, []).append((row.payload or {}).get("termination_date"))
    groups: dict[tuple[str, str | None], list[UnisOrder]] = {}
    for line in lines:
        key = (line.customer_code, line.termination_date.isoformat() if line.termination_date else None)
        groups.setdefault(key, []).append(line)
    rows: list[VendorRow] = []
    for (code, termination), group in groups.items():
        if _already_told(known.get(code, []), termination):
            continue
        rows.append(VendorRow(
            mail_id=None, customer_code=code, category=FORCED_TERMINATION,
            payload=_forced_payload(session, code, termination, group), received_at=now, batch_date=day,
            ship_date=None, created_at=now,
        ))
    return rows


# A branch's 解約申請 may give a 解約日 a little off the one UNIS ends with (the form vs the
# registered date): within this window it is the same termination, already told to the vendor.
SAME_TERMINATION_WINDOW = dt.timedelta(days=62)


def _already_told(told: list[str | None], termination: str | None) -> bool:
    if termination in told:
        return True
    if termination is None:
        return False
    day = dt.date.fromisoformat(termination)
    return any(t is not None and abs(dt.date.fromisoformat(t) - day) <= SAME_TERMINATION_WINDOW for t in told)


def _forced_payload(session: Session, code: str, termination: str | None, lines: Sequence[UnisOrder]) -> dict[str, Any]:
    # The vendor finds the customer by 顧客CD; the ledger's details (when the bot knows the
    # customer) make the row readable on its own, as a 解約申請's row is.
    entry = session.get(LedgerEntry, code)
    data = (entry.data or {}) if entry is not None else {}
    shop = (entry.shop_name if entry is not None else None) or next((ln.shop_name for ln in lines if ln.shop_name), "")
    day = dt.date.fromisoformat(termination) if termination else None
    payload: dict[str, Any] = {
        "shop_name": shop or "",
        "shop_address": data.get("shop_address", ""),
        "shop_phone": data.get("shop_phone", ""),
        "line_kind": data.get("line_kind", ""),
        "line_type": data.get("line_type", ""),
        "mail_address": data.get("mail_address", ""),
        "ssid": (entry.ssid if entry is not None else None) or "",
        "plus": entry.plus if entry is not None else "",
        "parent_units": entry.parent_units if entry is not None and entry.parent_units is not None else "",
        "child_units": entry.child_units if entry is not None and entry.child_units is not None else "",
        "branch": next((ln.branch for ln in lines if ln.branch), ""),
        "termination_date": termination,
        "note": f"UNIS強制解約 解約日 {day:%Y/%m/%d}" if day else "UNIS強制解約（解約日なし）",
        "unis_lines": [f"{ln.contract_no}-{ln.line_no}" for ln in lines],
    }
    return payload


def queue_forced_terminations(session: Session, *, cfg: Config, day: dt.date, now: dt.datetime) -> int:
    """On the 5th business day of the month, queue a 強制解約 row (batch_date = `day`) for every
    UNIS 解約 line not yet told to the vendor; any other day, nothing. Idempotent."""
    _lock_batch(session)  # two callers must not both see a termination as new
    rows = _forced_termination_rows(session, cfg=cfg, day=day, now=now)
    if rows:
        session.add_all(rows)
        session.flush()
        log.info("forced terminations for %s: %d row(s) queued (%s)", day, len(rows),
                 ", ".join(r.customer_code for r in rows))
    return len(rows)


# -- reading the batch ------------------------------------------------------------------------

def _unsent_rows(session: Session, day: dt.date, *, lock: bool) -> list[VendorRow]:
    stmt = (
        select(VendorRow)
        .where(VendorRow.batch_id.is_(None), VendorRow.cancelled_at.is_(None), VendorRow.batch_date <= day)
        .order_by(VendorRow.batch_date, VendorRow.received_at, VendorRow.id)
        .execution_options(populate_existing=True)  # the caller's session may hold older copies
    )
    if lock:
        # PostgreSQL: a row another transaction holds (a cancellation deciding on it) is left
        # for the next batch instead of blocking this one. SQLite ignores the clause.
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt))


def _batch_order(row: VendorRow) -> tuple[dt.date, dt.datetime, float]:
    # The ORDER BY of _unsent_rows, for a preview that mixes in unsaved rows (id None: last).
    return row.batch_date, row.received_at, float(row.id) if row.id is not None else float("inf")


def _previous_batch_at(session: Session) -> dt.datetime | None:
    return session.scalar(select(func.max(VendorBatch.created_at)))


# A ledger event is stamped when its mail's transaction starts and becomes visible when it
# commits, seconds later: the share looks back a little before the previous batch so an event
# committed just after it is not missed by both. A line shared twice is harmless (a snapshot).
LEDGER_SHARE_OVERLAP = dt.timedelta(minutes=10)


def _share_since(since: dt.datetime | None) -> dt.datetime | None:
    return since - LEDGER_SHARE_OVERLAP if since is not None else None


@dataclass(frozen=True)
class _LedgerLine:
    entry: LedgerEntry
    last_event: LedgerEvent | None


def _ledger_changes(session: Session, since: dt.datetime | None) -> list[_LedgerLine]:
    """Ledger rows with an event after `since` (every row for the first batch)."""
    entries_q = select(LedgerEntry).order_by(LedgerEntry.customer_code)
    if since is not None:
        changed = select(LedgerEvent.customer_code).where(LedgerEvent.at > since).distinct()
        entries_q = entries_q.where(LedgerEntry.customer_code.in_(changed))
    entries = list(session.scalars(entries_q))
    if not entries:
        return []
    last_ids = select(func.max(LedgerEvent.id)).group_by(LedgerEvent.customer_code)
    if since is not None:
        last_ids = last_ids.where(LedgerEvent.customer_code.in_([e.customer_code for e in entries]))
    last = {ev.customer_code: ev for ev in session.scalars(select(LedgerEvent).where(LedgerEvent.id.in_(last_ids)))}
    return [_LedgerLine(e, last.get(e.customer_code)) for e in entries]


# -- the CSV files ----------------------------------------------------------------------------

def _text(value: Any) -> str:
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
    substitute = REPLACEMENT_CHAR if _encodable(REPLACEMENT_CHAR, encoding) else "?"
    out: list[str] = []
    lost: list[str] = []
    for ch in value:
        if _encodable(ch, encoding):
            out.append(ch)
        elif ch in _EQUIVALENTS and _encodable(_EQUIVALENTS[ch], encoding):
            out.append(_EQUIVALENTS[ch])
        else:
            out.append(substitute)
            lost.append(ch)
    return "".join(out), "".join(lost)


def _encodable(ch: str, encoding: str) -> bool:
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


def _write_csv(name: str, header: Sequence[str], lines: Iterable[_CsvLine], encoding: str) -> tuple[bytes, list[Replacement]]:
    """Header row + lines, CRLF, in `encoding`; an unencodable character is replaced and reported,
    a cell a spreadsheet would take as a formula is neutralised (bot/csvsafe.py)."""
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


def _vendor_line(row: VendorRow, tz: dt.tzinfo, *, day: dt.date, calendar: BusinessCalendar) -> _CsvLine:
    payload = row.payload or {}
    ship = row.ship_date
    if ship is not None and row.batch_date < day:
        # The row missed its own day's batch (the daemon was down at the cutoff): the vendor
        # registers it N+1 and ships N+2 counted from the batch that really carries it.
        ship = calendar.add_business_days(day, 2)
    cells = (
        row.category,
        row.customer_code,
        *(_text(payload.get(key)) for _header, key in PAYLOAD_COLUMNS),
        row.received_at.astimezone(tz).strftime("%Y/%m/%d %H:%M"),
        ship.strftime("%Y/%m/%d") if ship else "",
    )
    return _CsvLine(row.id, row.customer_code, cells)


def _ledger_line(line: _LedgerLine, tz: dt.tzinfo) -> _CsvLine:
    e = line.entry
    event = line.last_event.event if line.last_event is not None else ""
    cells = (
        e.customer_code,
        STATE_LABELS.get(e.state, e.state),
        _text(e.shop_name),
        _text(bool(e.plus)),
        _text(e.ssid),
        _text(e.parent_units),
        _text(e.child_units),
        _text(bool(e.router_not_removed)),
        e.termination_date.strftime("%Y/%m/%d") if e.termination_date else "",
        e.updated_at.astimezone(tz).strftime("%Y/%m/%d %H:%M"),
        EVENT_LABELS.get(event, event),
    )
    return _CsvLine(None, e.customer_code, cells)


def csv_name(day: dt.date) -> str:
    return f"usen_spot_{day:%Y%m%d}.csv"


def ledger_csv_name(day: dt.date) -> str:
    return f"usen_spot_ledger_{day:%Y%m%d}.csv"


def _mime_charset(encoding: str) -> str:
    name = codecs.lookup(encoding).name
    # Windows-31J (CP932) is announced as Shift_JIS, the label Japanese mail clients and Excel know.
    return {"cp932": "Shift_JIS", "shift_jis": "Shift_JIS", "utf-8": "UTF-8", "utf-8-sig": "UTF-8",
            "euc_jp": "EUC-JP"}.get(name, name)


def _encoding_label(encoding: str) -> str:
    name = codecs.lookup(encoding).name
    return {"cp932": "Shift_JIS・CP932", "utf-8": "UTF-8", "utf-8-sig": "UTF-8（BOM付き）"}.get(name, name)


# -- the mail ---------------------------------------------------------------------------------

def _compose(
    *, cfg: Config, day: dt.date, now: dt.datetime, templates: Templates, rows: Sequence[VendorRow],
    ledger_lines: Sequence[_LedgerLine], ledger_since: dt.datetime | None, batch_id: int | None, forced: int,
    forms: Sequence[FormPdf] = (),
) -> tuple[EmailMessage, BatchResult]:
    tz = cfg.office.tz
    encoding = cfg.vendor.encoding
    name, lname = csv_name(day), ledger_csv_name(day)
    calendar = _calendar(cfg.office)
    vendor_lines = [_vendor_line(r, tz, day=day, calendar=calendar) for r in rows]
    csv_bytes, replaced = _write_csv(name, COLUMNS, vendor_lines, encoding)
    ledger_bytes, ledger_replaced = _write_csv(lname, LEDGER_COLUMNS, (_ledger_line(ln, tz) for ln in ledger_lines),
                                               encoding)
    replacements = (*replaced, *ledger_replaced)
    counts = tuple((c, sum(1 for r in rows if r.category == c)) for c in CATEGORIES)
    # A 区分 the bot does not know yet still counts (and shows), rather than vanishing from the total.
    others = sorted({r.category for r in rows} - set(CATEGORIES))
    counts += tuple((c, sum(1 for r in rows if r.category == c)) for c in others)
    notes = [
        {"line": number, "customer_code": r.customer_code, "category": r.category, "note": _text(r.payload.get("note"))}
        for number, r in enumerate(rows, start=2)
        if (r.payload or {}).get("note")
    ]
    context = {
        "batch_date": f"{day:%Y/%m/%d}",
        "batch_id": batch_id,
        "total": len(rows),
        "counts": [{"category": c, "count": n} for c, n in counts],
        "csv_name": name,
        "ledger_name": lname,
        "ledger_count": len(ledger_lines),
        "ledger_since": ledger_since.astimezone(tz).strftime("%Y/%m/%d %H:%M") if ledger_since else None,
        "notes": notes,
        "replacements": [
            {"file": r.file, "line": r.line, "customer_code": r.customer_code, "column": r.column,
             "original": r.original, "codepoints": r.codepoints}
            for r in replacements
        ],
        "replacement_char": REPLACEMENT_CHAR if _encodable(REPLACEMENT_CHAR, encoding) else "?",
        "encoding": _encoding_label(encoding),
        "forced_count": forced,
        "forms": forms_context(forms, rows),
    }
    rendered = templates.render_mail(TEMPLATE, context, required=("subject",))
    subject = " ".join(str(rendered.exports["subject"]).split())  # one header line, whatever the admin wrote
    from_addr = cfg.smtp.from_addr
    msg = EmailMessage()
    msg["From"] = formataddr((SENDER_NAME, from_addr))
    if cfg.vendor.to:
        msg["To"] = ", ".join(cfg.vendor.to)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now.astimezone(tz))
    msg["Message-ID"] = outbox.new_message_id(from_addr)
    if batch_id is not None:
        msg["X-USEN-SPOT-Batch"] = str(batch_id)
    # RFC 3834: a machine-made mail, so the vendor's auto-responders leave it alone.
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(rendered.text, charset="utf-8")
    charset = _mime_charset(encoding)
    msg.add_attachment(csv_bytes, maintype="text", subtype="csv", filename=name, params={"charset": charset})
    msg.add_attachment(ledger_bytes, maintype="text", subtype="csv", filename=lname, params={"charset": charset})
    for form in forms:
        msg.add_attachment(form.data, maintype="application", subtype="pdf", filename=form.name)
    result = BatchResult(
        batch_date=day, batch_id=batch_id, outbox_id=None, message_id=str(msg["Message-ID"]), subject=subject,
        recipients=tuple(cfg.vendor.to), body=rendered.text, csv_name=name, csv_bytes=csv_bytes, ledger_name=lname,
        ledger_bytes=ledger_bytes, row_ids=tuple(r.id for r in rows if r.id is not None), row_count=len(rows),
        counts=counts, ledger_count=len(ledger_lines), forced_terminations=forced, replacements=replacements,
        raw=msg.as_bytes(), form_names=tuple(p.name for p in forms),
    )
    return msg, result


# -- the batch --------------------------------------------------------------------------------

def build_batch(
    session: Session, *, cfg: Config, day: dt.date, now: dt.datetime, templates: Templates
) -> BatchResult | None:
    """Build `day`'s batch in the caller's transaction: forced terminations, the VendorBatch,
    the rows stamped with it, the mail in the outbox. The caller commits (or rolls back: then
    nothing happened). None when there is nothing to send: no rows and no ledger changes."""
    if not cfg.vendor.to:
        raise VendorBatchError(f"{cfg.source}: [vendor] to: no recipient configured for the vendor batch")
    _lock_batch(session)
    forced = queue_forced_terminations(session, cfg=cfg, day=day, now=now)
    rows = _unsent_rows(session, day, lock=True)
    since = _previous_batch_at(session)
    if not rows and not _ledger_changes(session, since):
        log.info("vendor batch %s: no rows and no ledger changes, nothing to send", day)
        return None
    # Scanned forms travel with their rows (encrypted), made here under the lock, before the
    # stamp: a row whose pages cannot be made waits for a later batch instead of going without.
    forms, failed = form_pdfs(session, cfg, rows)
    held = {r.id for r, _why in failed}
    rows = [r for r in rows if r.id not in held]
    if not rows and not _ledger_changes(session, since):
        log.info("vendor batch %s: only rows whose form pages are unreadable, nothing to send", day)
        return None
    ledger_lines = _ledger_changes(session, _share_since(since))
    batch = VendorBatch(batch_date=day, created_at=now, row_count=len(rows), outbox_id=None)
    session.add(batch)
    session.flush()
    if rows:
        ids = [r.id for r in rows]
        stamped = session.execute(
            update(VendorRow)
            .where(VendorRow.id.in_(ids), VendorRow.batch_id.is_(None), VendorRow.cancelled_at.is_(None))
            .values(batch_id=batch.id)
        ).rowcount  # type: ignore[attr-defined]
        if stamped != len(ids):
            raise BatchConflict(f"vendor batch {day}: {len(ids)} rows taken but {stamped} stamped; retry the batch")
    msg, result = _compose(cfg=cfg, day=day, now=now, templates=templates, rows=rows, ledger_lines=ledger_lines,
                           ledger_since=since, batch_id=batch.id, forced=forced, forms=forms)
    queued = outbox.enqueue(session, msg, purpose=PURPOSE, now=now)
    batch.outbox_id = queued.id
    session.flush()
    log.info("vendor batch %s (#%d): %d row(s), %d ledger row(s), outbox %d %s", day, batch.id, len(rows),
             len(ledger_lines), queued.id, queued.message_id)
    return replace(result, outbox_id=queued.id,
                   held_back=tuple((r.id, r.customer_code, why) for r, why in failed))


def preview_batch(
    session: Session, *, cfg: Config, day: dt.date, now: dt.datetime, templates: Templates
) -> BatchResult | None:
    """What :func:`build_batch` would send now, read only (no lock, nothing written)."""
    forced_rows = _forced_termination_rows(session, cfg=cfg, day=day, now=now)
    rows = sorted(_unsent_rows(session, day, lock=False) + forced_rows, key=_batch_order)
    since = _previous_batch_at(session)
    if not rows and not _ledger_changes(session, since):
        return None
    forms, failed = form_pdfs(session, cfg, rows)
    held = {r.id for r, _why in failed}
    rows = [r for r in rows if r.id is None or r.id not in held]
    ledger_lines = _ledger_changes(session, _share_since(since))
    _msg, result = _compose(cfg=cfg, day=day, now=now, templates=templates, rows=rows, ledger_lines=ledger_lines,
                            ledger_since=since, batch_id=None, forced=len(forced_rows), forms=forms)
    return replace(result, held_back=tuple((r.id, r.customer_code, why) for r, why in failed))


def run_vendor_batch(
    factory: sessionmaker[Session], *, cfg: Config, day: dt.date, now: dt.datetime, templates: Templates, send: bool
) -> BatchResult | None:
    """send=False: a preview, nothing written. send=True: commit the batch with its outbox row,
    then flush the outbox, which also delivers an earlier batch a crash left unsent."""
    if not send:
        with factory() as session:
            try:
                return preview_batch(session, cfg=cfg, day=day, now=now, templates=templates)
            finally:
                session.rollback()
    with factory() as session, session.begin():
        result = build_batch(session, cfg=cfg, day=day, now=now, templates=templates)
    try:
        outbox.flush(factory, cfg.smtp, now=now)
    except Exception:  # noqa: BLE001 - the batch is committed; the outbox job retries the mail
        log.exception("vendor batch %s: committed, but sending failed; the outbox will retry", day)
    if result is None:
        return None
    with factory() as session:
        row = session.get(OutboxMessage, result.outbox_id)
        delivered = row is not None and row.status == outbox.SENT
    if not delivered:
        log.warning("vendor batch %s (#%s) not delivered yet: outbox %s will retry", day, result.batch_id,
                    result.outbox_id)
    return replace(result, delivered=delivered)


def vendor_batch_job(factory: sessionmaker[Session], cfg: Config, templates: Templates,
                     now_fn: Callable[[], dt.datetime]) -> None:
    """The scheduler's daily job (at the [office] cutoff): the batch on business days. Never raises."""
    try:
        now = now_fn()
        calendar = _calendar(cfg.office)
        day = calendar.local(now).date()
        if not calendar.is_business_day(day):
            log.info("vendor batch: %s is not a business day, nothing sent", day)
            return
        result = run_vendor_batch(factory, cfg=cfg, day=day, now=now, templates=templates, send=True)
        if result is not None:
            log.info("vendor batch %s (#%s): %d row(s), %d ledger row(s), delivered=%s", day, result.batch_id,
                     result.row_count, result.ledger_count, result.delivered)
    except VendorBatchError as err:
        log.error("vendor batch not built: %s", err)
    except Exception:  # noqa: BLE001 - a scheduled job logs and lets the daemon go on
        log.exception("vendor batch job failed")


# -- cancellation rule (manual §VII) ----------------------------------------------------------

def cancel_order(
    session: Session, *, customer_code: str, now: dt.datetime, mail_id: int | None,
    calendar: BusinessCalendar | None = None,
) -> CancelOutcome:
    """Cancel the customer's open order (新規/子機 rows after its last キャンセル/解約) in the
    caller's transaction. Unsent rows are cancelled for free; if any row already went out, one
    キャンセル row (same payload, batch_date = intake day of `now`) goes in the next batch.

    `calendar` decides that intake day; without it, the default office calendar (Japan, 17:00,
    no company holidays) is used, which only ever makes the row due earlier, never lost.
    """
    calendar = calendar or _calendar(OfficeConfig())
    closed = session.scalar(
        select(func.max(VendorRow.id)).where(
            VendorRow.customer_code == customer_code,
            VendorRow.category.in_((CANCEL, *TERMINATION_CATEGORIES)),
            VendorRow.cancelled_at.is_(None),
        )
    )
    rows = list(session.scalars(
        select(VendorRow)
        .where(VendorRow.customer_code == customer_code, VendorRow.category.in_(ORDER_CATEGORIES),
               VendorRow.cancelled_at.is_(None), VendorRow.id > (closed or 0))
        .order_by(VendorRow.id)
        .execution_options(populate_existing=True)
    ))
    if not rows:
        return CancelOutcome(NONE)
    removed: list[int] = []
    for row in rows:
        if row.batch_id is not None:
            continue
        # Conditional: a batch committing meanwhile wins, and then this row counts as sent.
        done = session.execute(
            update(VendorRow)
            .where(VendorRow.id == row.id, VendorRow.batch_id.is_(None), VendorRow.cancelled_at.is_(None))
            .values(cancelled_at=now)
        ).rowcount  # type: ignore[attr-defined]
        if done == 1:
            removed.append(row.id)
        else:
            session.refresh(row)
    sent = [r for r in rows if r.batch_id is not None]
    if not sent:
        log.info("cancellation %s: %d unsent row(s) removed, nothing goes to the vendor", customer_code, len(removed))
        return CancelOutcome(REMOVED, removed_row_ids=tuple(removed))
    # The vendor knows the order by its 新規 row; a 子機-only order by its 子機 row.
    source = next((r for r in reversed(sent) if r.category == NEW), sent[-1])
    batch_date = calendar.intake_day(now)
    cancel = VendorRow(
        mail_id=mail_id, customer_code=customer_code, category=CANCEL,
        payload={**(source.payload or {}), "cancels_row": source.id},
        received_at=now, batch_date=batch_date, ship_date=None, created_at=now,
    )
    session.add(cancel)
    session.flush()
    batches = tuple(sorted({r.batch_id for r in sent if r.batch_id is not None}))
    log.info("cancellation %s: order already sent (batch %s): キャンセル row %d for %s", customer_code, batches,
             cancel.id, batch_date)
    return CancelOutcome(COST, removed_row_ids=tuple(removed), cancel_row_id=cancel.id, sent_batch_ids=batches)


# -- command line (`bot vendor-batch [--send] [--date D]`; the lead wires it into bot/cli.py) --

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def cli_vendor_batch(args: argparse.Namespace, cfg: Config) -> int:
    """Render (or with --send, send) the vendor batch of --date (default: today, Japan time)."""
    from sqlalchemy import inspect

    from bot import db

    now = dt.datetime.now(dt.UTC)
    calendar = _calendar(cfg.office)
    if getattr(args, "date", None):
        try:
            day = dt.date.fromisoformat(args.date)
        except ValueError:
            print(f"bot vendor-batch: --date は YYYY-MM-DD で指定してください / --date: expected YYYY-MM-DD, "
                  f"got {args.date!r}", file=sys.stderr)
            return EXIT_USAGE
    else:
        day = calendar.local(now).date()
    send = bool(getattr(args, "send", False))
    if send and not cfg.vendor.to:
        print(f"bot vendor-batch: 設定エラー / config error: {cfg.source}: [vendor] to: 宛先がありません / "
              "no recipient configured", file=sys.stderr)
        return EXIT_USAGE
    if not calendar.is_business_day(day):
        print(f"注意: {day:%Y/%m/%d} は営業日ではありません / note: {day} is not a business day", file=sys.stderr)
    templates = Templates.from_config(cfg)
    engine = db.make_engine(cfg.database.url)
    try:
        if send:
            db.upgrade(cfg.database.url)
        elif not inspect(engine).has_table("vendor_rows"):
            print("bot vendor-batch: データベースが未作成です（bot db upgrade） / the database has no schema: "
                  "run `bot db upgrade`", file=sys.stderr)
            return EXIT_ERROR
        factory = db.session_factory(engine)
        result = run_vendor_batch(factory, cfg=cfg, day=day, now=now, templates=templates, send=send)
    except VendorBatchError as err:
        print(f"bot vendor-batch: 設定エラー / config error: {err}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        engine.dispose()
    print(_describe(result, day=day, send=send, encoding=cfg.vendor.encoding))
    return EXIT_OK


def _describe(result: BatchResult | None, *, day: dt.date, send: bool, encoding: str) -> str:
    if result is None:
        return (f"{day:%Y/%m/%d}: 送る行も台帳の更新もありません（メールは送りません） / "
                "nothing to send: no new rows and no ledger changes (no mail)")
    counts = "、".join(f"{c} {n}件" for c, n in result.counts if n)
    lines: list[str] = []
    if send:
        state = ("送信済 / sent" if result.delivered
                 else "送信待ち（自動で再送します） / queued, the outbox will retry")
        lines.append(f"送信しました / sent: バッチ #{result.batch_id} {day:%Y/%m/%d}, "
                     f"{result.row_count} 件 / rows, 台帳 {result.ledger_count} 件 / ledger rows")
        lines.append(f"配送 / delivery: {state}")
        lines.append(f"Message-ID: {result.message_id}")
    else:
        lines.append(f"プレビュー（送信していません） / preview (not sent): {day:%Y/%m/%d}, "
                     f"{result.row_count} 件 / rows, 台帳 {result.ledger_count} 件 / ledger rows")
    lines.append(f"内訳 / by 区分: {counts or '-'}")
    lines.append(f"宛先 / To: {', '.join(result.recipients) or '（未設定 / not configured: [vendor] to）'}")
    lines.append(f"件名 / Subject: {result.subject}")
    for name in result.form_names:
        lines.append(f"添付 申込書 / scanned form attached: {name}（暗号化 / encrypted: [vendor] pdf_password）")
    for row_id, code, why in result.held_back:
        lines.append(f"送らずに保留 / held back: 行 {row_id} 顧客CD {code}: 申込書PDFを添付できません / "
                     f"form pages not attachable: {why}")
    if result.replacements:
        lines.append(f"置換した文字 / replaced characters: {len(result.replacements)}")
        for r in result.replacements:
            lines.append(f"  {r.file}:{r.line} 顧客CD {r.customer_code} {r.column}: {r.original} ({r.codepoints})")
    if not send:
        lines.append("--- 本文 / body ---")
        lines.append(result.body.rstrip("\n"))
        for name, data in ((result.csv_name, result.csv_bytes), (result.ledger_name, result.ledger_bytes)):
            lines.append(f"--- {name} ({encoding}) ---")
            lines.append(data.decode(encoding).replace("\r\n", "\n").rstrip("\n"))
    return "\n".join(lines)


# Sample context for `bot templates check` / `bot templates preview`.
TEMPLATE_SAMPLE: Mapping[str, Any] = {
    "batch_date": "2026/11/24",
    "batch_id": 12,
    "total": 3,
    "counts": [{"category": c, "count": n} for c, n in zip(CATEGORIES, (1, 0, 1, 0, 0, 0, 1), strict=True)],
    "csv_name": "usen_spot_20261124.csv",
    "ledger_name": "usen_spot_ledger_20261124.csv",
    "ledger_count": 2,
    "ledger_since": "2026/11/20 17:00",
    "notes": [{"line": 4, "customer_code": "988776654", "category": FORCED_TERMINATION,
               "note": "UNIS強制解約 解約日 2026/11/30"}],
    "replacements": [{"file": "usen_spot_20261124.csv", "line": 2, "customer_code": "988776655", "column": "店舗名",
                      "original": "𠮷", "codepoints": "U+20BB7"}],
    "replacement_char": REPLACEMENT_CHAR,
    "encoding": "Shift_JIS・CP932",
    "forced_count": 1,
    "forms": [{"name": "申込書_988776656.pdf", "customer_code": "988776656", "line": 3,
               "cells": ["設置先住所", "メールアドレス"]}],
}

register_sample(TEMPLATE, TEMPLATE_SAMPLE)
