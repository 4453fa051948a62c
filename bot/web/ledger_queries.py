"""What the 管理台帳 and ベンダー pages show, as plain values (reads only).

管理台帳: one customer by code: the ledger row (state, flags, 解約日), its events newest first,
the UNIS lines, the vendor rows and the mails about it. ベンダー: the batches newest first with
their outbox row, one batch's rows, the CSV files exactly as the vendor mail carried them (the
attachment's bytes from the stored outbox message, never rebuilt), and the rows waiting for
the next batch, cells still 申込書参照 marked.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot.config import Config
from bot.db.models import (
    LedgerEntry,
    LedgerEvent,
    Mail,
    OutboxMessage,
    UnisOrder,
    VendorBatch,
    VendorRow,
)
from bot.digest import OUTBOX_STATUS_LABELS
from bot.domain import vocab
from bot.ledger import STATE_LABELS
from bot.vendor import PAYLOAD_COLUMNS, corporate_csv_name, csv_name, ledger_csv_name
from bot.vendor.forms import REFER
from bot.web.queries import MailRow, mail_row, time_label

CODE_LENGTH = 9
SEARCH_LIMIT = 50
RELATED_LIMIT = 200
BATCH_PAGE_SIZE = 50
OUTBOX_CLASSES = {"sent": "ok", "failed": "bad", "pending": "hold", "sending": "hold"}


def normalise_code(text: str) -> str:
    """A customer code as typed (全角数字, spaces, hyphens) → its digits (at most 20 kept)."""
    folded = unicodedata.normalize("NFKC", text or "")
    return "".join(c for c in folded if c.isdigit() and c.isascii())[:20]


def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _cell(value: Any) -> str:
    """A payload value as the vendor CSV writes it (bot.vendor.csvfiles.csv_text); a line code in its words."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "有" if value else "無"
    text = " ".join(str(value).splitlines())
    return vocab.LINE_KINDS.get(text) or vocab.LINE_TYPES.get(text) or text


def _date(value: dt.date | None) -> str:
    return f"{value:%Y/%m/%d}" if value else ""


# -- 管理台帳 -------------------------------------------------------------------------------

@dataclass(frozen=True)
class LedgerLine:
    customer_code: str
    state: str
    shop_name: str
    updated: str


def is_code(text: str) -> bool:
    """`text` is (part of) a customer code: digits, spaces and hyphens only (any width)."""
    folded = unicodedata.normalize("NFKC", text or "").replace(" ", "").replace("-", "")
    return bool(folded) and folded.isascii() and folded.isdigit()


def ledger_search(session: Session, text: str, *, cfg: Config) -> tuple[list[LedgerLine], int]:
    """Ledger rows whose code starts with `text`'s digits, or (words) whose shop name, or the
    UNIS lines' 店舗名 for the code, holds them (NFKC-folded both ways); all when empty. Most
    recently updated first, at most SEARCH_LIMIT, with the total count."""
    where: list[Any] = []
    if is_code(text):
        where = [LedgerEntry.customer_code.like(f"{_like(normalise_code(text))}%", escape="\\")]
    elif text.strip():
        words = [text.strip(), unicodedata.normalize("NFKC", text).strip()]
        shops = [LedgerEntry.shop_name.ilike(f"%{_like(w)}%", escape="\\") for w in words]
        unis = [UnisOrder.shop_name.ilike(f"%{_like(w)}%", escape="\\") for w in words]
        where = [or_(*shops, LedgerEntry.customer_code.in_(select(UnisOrder.customer_code).where(or_(*unis))))]
    total = session.scalar(select(func.count()).select_from(LedgerEntry).where(*where)) or 0
    rows = session.scalars(select(LedgerEntry).where(*where)
                           .order_by(LedgerEntry.updated_at.desc(), LedgerEntry.customer_code).limit(SEARCH_LIMIT))
    tz = cfg.office.tz
    return [LedgerLine(e.customer_code, STATE_LABELS.get(e.state, e.state), e.shop_name or "",
                       time_label(e.updated_at, tz)) for e in rows], total


@dataclass(frozen=True)
class HistoryLine:
    at: str
    event: str
    event_label: str
    from_state: str
    to_state: str
    mail_id: int | None
    detail: tuple[tuple[str, str, bool], ...]


@dataclass(frozen=True)
class UnisLine:
    contract_no: str
    line_no: str
    item: str
    status: str
    shop_name: str
    branch: str
    contract_type: str
    planned: str
    confirmed: str
    cancelled: str
    terminated: str
    serial: str
    remarks: str
    source: str


@dataclass(frozen=True)
class Cell:
    header: str
    value: str
    refer: bool  # still 申込書参照 (the vendor reads it off the attached form)


@dataclass(frozen=True)
class RowLine:
    id: int
    category: str
    customer_code: str
    cells: tuple[Cell, ...]
    received: str
    batch_date: str
    ship_date: str
    batch_id: int | None
    state: str
    state_class: str
    mail_id: int | None
    note: str
    refer_count: int


@dataclass(frozen=True)
class Customer:
    code: str
    entry: LedgerEntry | None
    state: str
    termination: str
    updated: str
    history: tuple[HistoryLine, ...]
    unis: tuple[UnisLine, ...]
    vendor_rows: tuple[RowLine, ...]
    mails: tuple[MailRow, ...]
    mail_total: int

    @property
    def found(self) -> bool:
        return self.entry is not None or bool(self.unis) or bool(self.mails) or bool(self.vendor_rows)


def row_line(r: VendorRow, tz: dt.tzinfo) -> RowLine:
    payload = r.payload or {}
    cells = tuple(Cell(header, _cell(payload.get(key)), payload.get(key) == REFER) for header, key in PAYLOAD_COLUMNS)
    if r.cancelled_at is not None:
        state, css = "取消", "muted"
    elif r.batch_id is not None:
        state, css = "送付済", "ok"
    else:
        state, css = "次の便を待つ", "hold"
    return RowLine(
        id=r.id, category=r.category, customer_code=r.customer_code, cells=cells,
        received=time_label(r.received_at, tz), batch_date=_date(r.batch_date), ship_date=_date(r.ship_date),
        batch_id=r.batch_id, state=state, state_class=css, mail_id=r.mail_id, note=_cell(payload.get("note")),
        refer_count=sum(1 for c in cells if c.refer),
    )


def customer(session: Session, code: str, *, cfg: Config, directory: Sequence[tuple[str, str]] = ()) -> Customer:
    tz = cfg.office.tz
    entry = session.get(LedgerEntry, code)
    events = session.scalars(select(LedgerEvent).where(LedgerEvent.customer_code == code)
                             .order_by(LedgerEvent.at.desc(), LedgerEvent.id.desc()).limit(RELATED_LIMIT)).all()
    history = tuple(HistoryLine(
        at=time_label(e.at, tz), event=e.event, event_label=vocab.LEDGER_EVENTS.get(e.event, "その他"),
        from_state=STATE_LABELS.get(e.from_state, e.from_state) if e.from_state else "（なし）",
        to_state=STATE_LABELS.get(e.to_state, e.to_state), mail_id=e.mail_id, detail=vocab.detail_lines(e.detail))
        for e in events)
    unis = tuple(UnisLine(
        contract_no=u.contract_no, line_no=u.line_no, item=" ".join(x for x in (u.item_code, u.item_name) if x),
        status=u.status, shop_name=u.shop_name or "", branch=u.branch or "", contract_type=u.contract_type or "",
        planned=_date(u.planned_date), confirmed=_date(u.confirmed_date), cancelled=_date(u.cancel_date),
        terminated=_date(u.termination_date), serial=u.serial or "", remarks=u.remarks or "",
        source=f"{u.source_file or ''}{f':{u.source_line}' if u.source_line else ''}")
        for u in session.scalars(select(UnisOrder).where(UnisOrder.customer_code == code)
                                 .order_by(UnisOrder.contract_no, UnisOrder.line_no, UnisOrder.id)))
    vrows = tuple(row_line(r, tz) for r in session.scalars(
        select(VendorRow).where(VendorRow.customer_code == code).order_by(VendorRow.id.desc()).limit(RELATED_LIMIT)))
    mail_total = session.scalar(select(func.count()).select_from(Mail).where(Mail.customer_code == code)) or 0
    mails = tuple(mail_row(m, cfg, directory) for m in session.scalars(
        select(Mail).where(Mail.customer_code == code).order_by(Mail.received_at.desc(), Mail.id.desc())
        .limit(RELATED_LIMIT)))
    return Customer(
        code=code, entry=entry, state=STATE_LABELS.get(entry.state, entry.state) if entry else "",
        termination=_date(entry.termination_date) if entry else "",
        updated=time_label(entry.updated_at, tz) if entry else "",
        history=history, unis=unis, vendor_rows=vrows, mails=mails, mail_total=mail_total)


# -- ベンダー ------------------------------------------------------------------------------

@dataclass(frozen=True)
class BatchLine:
    id: int
    day: str
    rows: int
    created: str
    outbox_id: int | None
    status: str
    status_class: str
    sent: str
    attempts: int
    last_error: str
    subject: str
    recipients: str
    message_id: str


def _batch_line(b: VendorBatch, o: OutboxMessage | None, tz: dt.tzinfo) -> BatchLine:
    if o is None:
        status, css = "メール未作成", "bad"
    else:
        status, css = OUTBOX_STATUS_LABELS.get(o.status, o.status), OUTBOX_CLASSES.get(o.status, "muted")
    return BatchLine(
        id=b.id, day=_date(b.batch_date), rows=b.row_count, created=time_label(b.created_at, tz),
        outbox_id=b.outbox_id, status=status, status_class=css, sent=time_label(o.sent_at, tz) if o else "",
        attempts=o.attempts if o else 0,
        last_error=(o.last_error or "").strip().splitlines()[0] if o is not None and o.last_error else "",
        subject=o.subject if o else "", recipients=", ".join(o.rcpt_to or []) if o else "",
        message_id=o.message_id if o else "")


def batches(session: Session, *, cfg: Config, page: int = 1) -> tuple[list[BatchLine], int, int, int]:
    """(lines, total, page, pages): newest first (batch day, then number)."""
    total = session.scalar(select(func.count()).select_from(VendorBatch)) or 0
    pages = max(1, math.ceil(total / BATCH_PAGE_SIZE))
    page = max(1, min(page, pages))
    found = session.execute(
        select(VendorBatch, OutboxMessage).outerjoin(OutboxMessage, OutboxMessage.id == VendorBatch.outbox_id)
        .order_by(VendorBatch.batch_date.desc(), VendorBatch.id.desc())
        .limit(BATCH_PAGE_SIZE).offset((page - 1) * BATCH_PAGE_SIZE)).all()
    tz = cfg.office.tz
    return [_batch_line(b, o, tz) for b, o in found], total, page, pages


@dataclass(frozen=True)
class BatchFile:
    kind: str  # "csv" (発注データ) | "ledger" (管理台帳 日次共有) | "corporate" (法人一括発注データ)
    filename: str
    charset: str
    data: bytes

    @property
    def content_type(self) -> str:
        return f"text/csv; charset={self.charset}"


@dataclass(frozen=True)
class BatchView:
    line: BatchLine
    rows: tuple[RowLine, ...]
    files: tuple[BatchFile, ...]
    others: tuple[str, ...]  # other attachments (the scanned forms, encrypted): names only


def _attachments(raw: bytes) -> list[tuple[str, str, str, bytes]]:
    """(filename, content type, charset parameter, decoded bytes) of each attachment of a stored mail."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    out = []
    for part in msg.iter_attachments():  # type: ignore[attr-defined]
        data = part.get_payload(decode=True)
        out.append((part.get_filename() or "", part.get_content_type(), str(part.get_param("charset") or ""),
                    data if isinstance(data, bytes) else b""))
    return out


def _charset(announced: str, cfg: Config) -> str:
    if announced:
        return announced
    from bot.vendor import mime_charset

    return mime_charset(cfg.vendor.encoding)


def batch_files(b: VendorBatch, o: OutboxMessage | None, cfg: Config) -> tuple[tuple[BatchFile, ...], tuple[str, ...]]:
    """The two CSV files as the vendor mail carried them, and the other attachments' names."""
    if o is None:
        return (), ()
    wanted = {csv_name(b.batch_date): "csv", ledger_csv_name(b.batch_date): "ledger",
              corporate_csv_name(b.batch_date): "corporate"}
    files: list[BatchFile] = []
    others: list[str] = []
    for name, ctype, charset, data in _attachments(o.raw):
        kind = wanted.get(name) if ctype == "text/csv" else None
        if kind is None:
            others.append(name or ctype)
        else:
            files.append(BatchFile(kind, name, _charset(charset, cfg), data))
    order = {"csv": 0, "corporate": 1, "ledger": 2}
    return tuple(sorted(files, key=lambda f: order[f.kind])), tuple(others)


def batch_view(session: Session, batch_id: int, *, cfg: Config) -> BatchView | None:
    b = session.get(VendorBatch, batch_id)
    if b is None:
        return None
    o = session.get(OutboxMessage, b.outbox_id) if b.outbox_id is not None else None
    tz = cfg.office.tz
    rows = tuple(row_line(r, tz) for r in session.scalars(
        select(VendorRow).where(VendorRow.batch_id == b.id)
        .order_by(VendorRow.batch_date, VendorRow.received_at, VendorRow.id)))
    files, others = batch_files(b, o, cfg)
    return BatchView(_batch_line(b, o, tz), rows, files, others)


def batch_file(session: Session, batch_id: int, kind: str, *, cfg: Config) -> BatchFile | None:
    b = session.get(VendorBatch, batch_id)
    if b is None or b.outbox_id is None:
        return None
    files, _others = batch_files(b, session.get(OutboxMessage, b.outbox_id), cfg)
    return next((f for f in files if f.kind == kind), None)


def pending_rows(session: Session, *, cfg: Config) -> tuple[RowLine, ...]:
    """Rows not sent and not cancelled, in the order the next batch takes them (bot.vendor._unsent_rows);
    a row whose batch day is still ahead waits for that day's batch."""
    tz = cfg.office.tz
    return tuple(row_line(r, tz) for r in session.scalars(
        select(VendorRow).where(VendorRow.batch_id.is_(None), VendorRow.cancelled_at.is_(None))
        .order_by(VendorRow.batch_date, VendorRow.received_at, VendorRow.id)))
