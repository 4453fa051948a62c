"""Building the day's batch (:func:`build_batch`, one transaction; see the package docstring
for why that makes it exactly once), previewing it, sending it, and the scheduler's job."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.actions import outbox
from bot.config import Config
from bot.db.models import (
    LedgerEntry,
    LedgerEvent,
    OutboxMessage,
    VendorBatch,
    VendorRow,
)
from bot.templating import Templates
from bot.vendor.csvfiles import (
    CORPORATE_EXTRA,
    REPLACEMENT_CHAR,
    LedgerLine,
    corporate_csv_name,
    csv_name,
    csv_text,
    encodable,
    encoding_label,
    is_corporate,
    ledger_csv_name,
    ledger_line,
    mime_charset,
    vendor_line,
    with_corporate_cells,
    write_csv,
)
from bot.vendor.forms import FormPdf, form_pdfs, forms_context
from bot.vendor.model import (
    CATEGORIES,
    COLUMNS,
    LEDGER_COLUMNS,
    PURPOSE,
    SENDER_NAME,
    TEMPLATE,
    BatchConflict,
    BatchResult,
    VendorBatchError,
    lock_batch,
    vendor_calendar,
)
from bot.vendor.terminations import forced_termination_rows, queue_forced_terminations

log = logging.getLogger("bot.vendor")


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


def _ledger_changes(session: Session, since: dt.datetime | None) -> list[LedgerLine]:
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
    return [LedgerLine(e, last.get(e.customer_code)) for e in entries]



# -- the mail ---------------------------------------------------------------------------------

def _compose(
    *, cfg: Config, day: dt.date, now: dt.datetime, templates: Templates, rows: Sequence[VendorRow],
    ledger_lines: Sequence[LedgerLine], ledger_since: dt.datetime | None, batch_id: int | None, forced: int,
    forms: Sequence[FormPdf] = (),
) -> tuple[EmailMessage, BatchResult]:
    tz = cfg.office.tz
    encoding = cfg.vendor.encoding
    name, lname = csv_name(day), ledger_csv_name(day)
    calendar = vendor_calendar(cfg.office)
    # Corporate rows are kept apart (manual §IX ⑤ 分別): their own CSV, or after the district rows.
    corporate = [r for r in rows if is_corporate(r)]
    separate = cfg.corporate.vendor_separate == "csv"
    if corporate:
        rows = [r for r in rows if not is_corporate(r)] + corporate
    main_rows = [r for r in rows if not (separate and is_corporate(r))]
    vendor_lines = [vendor_line(r, tz, day=day, calendar=calendar) for r in main_rows]
    header = COLUMNS
    if corporate and not separate:
        header = (*COLUMNS, *(h for h, _k in CORPORATE_EXTRA))
        vendor_lines = [with_corporate_cells(line, r) for line, r in zip(vendor_lines, main_rows, strict=True)]
    csv_bytes, replaced = write_csv(name, header, vendor_lines, encoding)
    corporate_file: tuple[str, bytes] | None = None
    if corporate and separate:
        cname = corporate_csv_name(day)
        clines = [with_corporate_cells(vendor_line(r, tz, day=day, calendar=calendar), r) for r in corporate]
        cbytes, creplaced = write_csv(cname, (*COLUMNS, *(h for h, _k in CORPORATE_EXTRA)), clines, encoding)
        replaced = [*replaced, *creplaced]
        corporate_file = (cname, cbytes)
    ledger_bytes, ledger_replaced = write_csv(lname, LEDGER_COLUMNS, (ledger_line(ln, tz) for ln in ledger_lines),
                                               encoding)
    replacements = (*replaced, *ledger_replaced)
    counts = tuple((c, sum(1 for r in rows if r.category == c)) for c in CATEGORIES)
    # A 区分 the bot does not know yet still counts (and shows), rather than vanishing from the total.
    others = sorted({r.category for r in rows} - set(CATEGORIES))
    counts += tuple((c, sum(1 for r in rows if r.category == c)) for c in others)
    notes = [
        {"line": number, "customer_code": r.customer_code, "category": r.category, "note": csv_text(r.payload.get("note"))}
        for number, r in enumerate(main_rows, start=2)
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
        "replacement_char": REPLACEMENT_CHAR if encodable(REPLACEMENT_CHAR, encoding) else "?",
        "encoding": encoding_label(encoding),
        "forced_count": forced,
        "forms": forms_context(forms, main_rows),
        # 法人営業 rows (manual §IX): how many, and the file that carries them.
        "corporate": {"count": len(corporate), "file": corporate_file[0] if corporate_file else name,
                      "separate": corporate_file is not None},
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
    charset = mime_charset(encoding)
    msg.add_attachment(csv_bytes, maintype="text", subtype="csv", filename=name, params={"charset": charset})
    msg.add_attachment(ledger_bytes, maintype="text", subtype="csv", filename=lname, params={"charset": charset})
    if corporate_file is not None:
        msg.add_attachment(corporate_file[1], maintype="text", subtype="csv", filename=corporate_file[0],
                           params={"charset": charset})
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
    lock_batch(session)
    forced = queue_forced_terminations(session, cfg=cfg, day=day, now=now)
    rows = _unsent_rows(session, day, lock=True)
    since = _previous_batch_at(session)
    if not rows and not _ledger_changes(session, since):
        log.info("vendor batch %s: no rows and no ledger changes, nothing to send", day)
        return None
    # a missing recipient matters once there is something to send (a day with nothing is no
    # failure: a bot started after the batch time on a new install reported one)
    if not cfg.vendor.to:
        raise VendorBatchError(f"{cfg.source}: [vendor] to: no recipient configured for the vendor batch")
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
    forced_rows = forced_termination_rows(session, cfg=cfg, day=day, now=now)
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
        outbox.flush(factory, cfg.smtp, now=now, oauth2=cfg.oauth2)
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
        calendar = vendor_calendar(cfg.office)
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

