"""The office digest (日次レポート): one mail a day to 事務センター 開業支援G, HTML with a
plain-text alternative, built from the database.

What it shows, for one office-local day (``[office] timezone``):

* counts of the day's mails by kind and decision;
* every rejection with its reasons, grouped by branch;
* the ``manual`` queue: what a person must look at, including mails left from earlier days;
* warnings: the day's mail warnings, routers not removed, terminations due within 5 business
  days;
* the vendor batch of the day and its mail's outbox status;
* quarantined mails, outbox problems, and broken admin templates;
* when the mailbox was last fetched.

Collecting (:func:`collect`) only reads; the words are in ``templates/digest.txt.j2`` and
``templates/digest.html.j2`` (the text template also sets the subject), so admins can edit
them like every other mail.

Which branch a rejection belongs to (first that applies):
1. the branch directory (``[branches] file``) entry whose domain is the sender's domain or a
   parent of it → its 支店名;
2. a branch stored in the mail's facts (``branch`` or ``送付支店名``, when the pipeline keeps
   the body's 送付支店名);
3. the first label of the sender's domain when that domain is a subdomain of an allowed
   domain (``uchida@aoyama.usen.co.jp`` → ``aoyama``);
4. the sender's domain itself (head office writing from ``usen.co.jp``), else 送信者不明.
The sender's address is shown next to every mail, so the grouping can always be checked.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import logging
import sys
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot import classify, db, ledger
from bot.calendar import BusinessCalendar
from bot.config import Config
from bot.models import QUARANTINED, STORED, LedgerEntry, Mail, OutboxMessage, VendorBatch, VendorRow
from bot.outbox import enqueue, new_message_id
from bot.templating import Breakage, Templates

log = logging.getLogger("bot.digest")

PURPOSE = "digest"  # OutboxMessage.purpose

# The order of DESIGN.md's request table; labels are the subject prefixes branches write.
KIND_ORDER = (
    classify.EQUIPMENT_ORDER, classify.CONTRACT_CHANGE, classify.CANCELLATION, classify.TERMINATION,
    classify.ROUTER_NOT_REMOVED, classify.RELOCATION, classify.TERMINATION_WITHDRAWAL,
)
KIND_LABELS = {kind: prefix for prefix, kind in classify.PREFIXES}
UNKNOWN_KIND_LABEL = "種別不明"

# How far back the manual queue lists mails one by one; older unresolved ones are counted, not
# listed. A person closes an item with `bot manual resolve ID`, and it leaves the queue.
MANUAL_QUEUE_DAYS = 30
# Terminations due: 解約日 within this many business days from the digest's day.
TERMINATION_HORIZON_BUSINESS_DAYS = 5
# Long lists are cut (a phone screen, and a mail size): the rest is counted.
LIST_LIMIT = 50

OUTBOX_STATUS_LABELS = {"pending": "送信待ち", "sending": "送信中", "sent": "送信済", "failed": "送信失敗"}
PURPOSE_LABELS = {"reply": "差戻返信", "vendor_batch": "業者便", "digest": "日次レポート"}


class DigestError(Exception):
    """The digest cannot be sent (e.g. no recipients configured); the message names the key."""


# -- values the templates see ---------------------------------------------------------------

class _Detail(dict[str, Any]):
    """A defect's details; a key an older row lacks reads as 不明 instead of failing the
    whole digest under StrictUndefined."""

    def __missing__(self, key: str) -> str:
        return "不明"


@dataclass(frozen=True)
class DefectLine:
    """A stored defect or warning: what templates/_defects.j2's ``explain`` macro takes."""

    code: str
    detail: Mapping[str, Any]


@dataclass(frozen=True)
class KindCount:
    kind: str
    label: str
    accepted: int = 0
    rejected: int = 0
    manual: int = 0
    ignored: int = 0

    @property
    def total(self) -> int:
        return self.accepted + self.rejected + self.manual + self.ignored


@dataclass(frozen=True)
class MailLine:
    """One inbound mail as the digest lists it."""

    id: int
    message_id: str
    subject: str
    from_addr: str
    received_label: str  # office time, e.g. 2026/11/24 10:15
    age_days: int  # whole days between the mail's day and the digest's day
    kind_label: str
    customer_code: str
    reason: str
    defects: tuple[DefectLine, ...] = ()
    warnings: tuple[DefectLine, ...] = ()
    reply_status: str = ""  # the rejection reply's outbox status label, when there is one


@dataclass(frozen=True)
class BranchGroup:
    branch: str
    mails: tuple[MailLine, ...]


@dataclass(frozen=True)
class LedgerLine:
    customer_code: str
    shop_name: str
    state_label: str
    termination_label: str  # 2026/11/25 (水)
    days_left: int | None  # business days until the 解約日; negative when overdue
    note: str


@dataclass(frozen=True)
class BatchLine:
    id: int
    created_label: str
    row_count: int
    categories: tuple[tuple[str, int], ...]  # (区分, rows)
    outbox_status: str  # label; 未作成 when the batch has no mail yet
    outbox_ok: bool
    sent_label: str
    last_error: str


@dataclass(frozen=True)
class ScanRowLine:
    """A vendor row of a scanned form waiting for its batch, with cells still 申込書参照."""

    row_id: int
    customer_code: str
    category: str
    shop_name: str
    batch_label: str  # the batch that will carry it: 2026/11/24 (火)
    cells: tuple[str, ...]  # CSV headers still 申込書参照
    typed: tuple[str, ...]  # CSV headers staff typed in


@dataclass(frozen=True)
class QuarantineLine:
    id: int
    message_id: str
    subject: str
    from_addr: str
    received_label: str
    error_line: str


@dataclass(frozen=True)
class OutboxProblem:
    id: int
    purpose_label: str
    subject: str
    recipients: str
    status_label: str
    attempts: int
    last_error: str
    next_attempt_label: str


@dataclass(frozen=True)
class BreakageLine:
    where: str  # file:line
    message: str
    count: int  # 0 when found by the digest's own check rather than by a mail
    last_label: str


@dataclass(frozen=True)
class DigestData:
    """Everything the digest templates show, as plain values."""

    day: dt.date
    day_label: str  # 2026/11/24 (火)
    generated_label: str
    is_business_day: bool
    counts: tuple[KindCount, ...]
    totals: KindCount
    quarantined_today: int
    undecided_today: int
    rejections: tuple[BranchGroup, ...]
    manual: tuple[MailLine, ...]
    manual_not_listed: int  # manual mails beyond LIST_LIMIT or older than MANUAL_QUEUE_DAYS
    manual_days: int
    mail_warnings: tuple[MailLine, ...]
    router_not_removed: tuple[LedgerLine, ...]
    router_not_removed_total: int
    terminations_due: tuple[LedgerLine, ...]
    termination_horizon_label: str
    batches: tuple[BatchLine, ...]
    vendor_rows_waiting: int
    quarantined: tuple[QuarantineLine, ...]
    quarantined_total: int
    outbox_problems: tuple[OutboxProblem, ...]
    outbox_problems_total: int
    breakages: tuple[BreakageLine, ...]
    last_fetch_label: str
    latest_received_label: str
    scan_rows: tuple[ScanRowLine, ...] = ()  # 申込書参照: staff may type the values in before the cutoff
    cutoff_label: str = "17:00"

    @property
    def attention(self) -> int:
        """What a person must act on: the manual queue, quarantine, outbox, templates."""
        return (len(self.manual) + self.manual_not_listed + self.quarantined_total + self.outbox_problems_total
                + len(self.breakages))

    def context(self) -> dict[str, Any]:
        ctx = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        ctx["attention"] = self.attention
        return ctx


@dataclass(frozen=True)
class Digest:
    """A rendered digest, ready to become a mail."""

    day: dt.date
    generated_at: dt.datetime
    subject: str
    text: str
    html: str
    data: DigestData
    reported_breakages: tuple[Breakage, ...] = ()

    @property
    def counts(self) -> tuple[KindCount, ...]:
        return self.data.counts

    @property
    def totals(self) -> KindCount:
        return self.data.totals


# -- collecting -----------------------------------------------------------------------------

_WEEKDAYS = "月火水木金土日"


def _day_label(day: dt.date) -> str:
    return f"{day:%Y/%m/%d} ({_WEEKDAYS[day.weekday()]})"


def _time_label(moment: dt.datetime | None, tz: dt.tzinfo) -> str:
    return moment.astimezone(tz).strftime("%Y/%m/%d %H:%M") if moment is not None else ""


def _ago(moment: dt.datetime, now: dt.datetime) -> str:
    minutes = int((now - moment).total_seconds() // 60)
    if minutes < 0:
        return "（未来の時刻）"
    if minutes < 60:
        return f"（{minutes}分前）"
    if minutes < 48 * 60:
        return f"（{minutes // 60}時間前）"
    return f"（{minutes // (24 * 60)}日前）"


def _day_bounds(day: dt.date, tz: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(0), tzinfo=tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def _first_line(text: str | None) -> str:
    """The line that says what went wrong: a traceback's last line, else the first line."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return ""
    return lines[-1] if lines[0].startswith("Traceback") else lines[0]


def _defect_lines(items: Sequence[Mapping[str, Any]] | None) -> tuple[DefectLine, ...]:
    return tuple(
        DefectLine(str(item.get("code", "")), _Detail(item.get("detail") or {}))
        for item in items or () if isinstance(item, Mapping)
    )


def _calendar(cfg: Config) -> BusinessCalendar:
    return BusinessCalendar(tz=cfg.office.tz, cutoff=cfg.office.cutoff_time,
                            company_holidays=cfg.office.company_holiday_dates)


def _branch_domains(cfg: Config) -> list[tuple[str, str]]:
    """(domain, 支店名) from the branch directory, longest domain first."""
    if not cfg.branches.file:
        return []
    from bot.branches import BranchDirectoryError, load_directory

    try:
        entries = load_directory(cfg.branches.file).values()
    except BranchDirectoryError as err:  # config validation normally catches this earlier
        log.warning("digest: branch directory unusable, grouping by sender domain: %s", err)
        return []
    return sorted(((b.domain.lower(), b.name) for b in entries), key=lambda item: -len(item[0]))


def branch_of(from_addr: str | None, facts: Mapping[str, Any] | None, *, directory: Sequence[tuple[str, str]],
              allowed_domains: Sequence[str]) -> str:
    """The branch a mail came from (see the module docstring for the order)."""
    domain = (from_addr or "").rpartition("@")[2].lower().strip()
    for known, name in directory:
        if domain == known or domain.endswith("." + known):
            return name
    for key in ("branch", "送付支店名"):
        value = (facts or {}).get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    if not domain:
        return "（送信者不明）"
    for allowed in allowed_domains:
        allowed = allowed.lower().lstrip(".")
        if domain.endswith("." + allowed):
            return domain[: -len(allowed) - 1].split(".")[0]
    return domain


def collect(
    session: Session, *, cfg: Config, day: dt.date, now: dt.datetime, templates: Templates,
    last_fetch_at: dt.datetime | None = None,
) -> DigestData:
    """Read what the digest for `day` shows. Reads only."""
    tz = cfg.office.tz
    cal = _calendar(cfg)
    start, end = _day_bounds(day, tz)
    in_day = (Mail.received_at >= start) & (Mail.received_at < end)

    # Counts by kind and decision of the mails received that day.
    per_kind: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for kind, decision, n in session.execute(
        select(Mail.kind, Mail.decision, func.count()).where(in_day, Mail.decision.is_not(None))
        .group_by(Mail.kind, Mail.decision)
    ):
        per_kind[kind if kind in KIND_LABELS else ""][str(decision)] += n
    kinds = list(KIND_ORDER) + ([""] if "" in per_kind else [])
    counts = tuple(
        KindCount(kind or "unknown", KIND_LABELS.get(kind, UNKNOWN_KIND_LABEL), *(
            per_kind[kind].get(d, 0) for d in ("accepted", "rejected", "manual", "ignored")))
        for kind in kinds
    )
    totals = KindCount("all", "合計", *(sum(getattr(c, d) for c in counts)
                                         for d in ("accepted", "rejected", "manual", "ignored")))
    quarantined_today = session.scalar(select(func.count()).where(in_day, Mail.status == QUARANTINED)) or 0
    undecided_today = session.scalar(select(func.count()).where(in_day, Mail.status == STORED)) or 0

    def line(m: Mail, **extra: Any) -> MailLine:
        local_day = m.received_at.astimezone(tz).date()
        facts = m.facts or {}
        return MailLine(
            id=m.id, message_id=m.message_id or "", subject=m.subject or "（件名なし）",
            from_addr=m.from_addr or "（不明）", received_label=_time_label(m.received_at, tz),
            age_days=(day - local_day).days, kind_label=KIND_LABELS.get(m.kind or "", UNKNOWN_KIND_LABEL),
            customer_code=m.customer_code or "", reason=str(facts.get("reason") or ""),
            defects=_defect_lines(m.defects), warnings=_defect_lines(m.warnings), **extra,
        )

    # Rejections, grouped by branch; the reply's outbox status tells whether the branch got it.
    directory = _branch_domains(cfg)
    rejected = session.scalars(
        select(Mail).where(in_day, Mail.decision == "rejected").order_by(Mail.received_at, Mail.id)
    ).all()
    reply_status: dict[int, str] = {}
    if rejected:
        for mail_id, status in session.execute(
            select(OutboxMessage.mail_id, OutboxMessage.status).where(
                OutboxMessage.mail_id.in_([m.id for m in rejected]), OutboxMessage.purpose == "reply")
        ):
            if mail_id is not None:
                reply_status[mail_id] = OUTBOX_STATUS_LABELS.get(status, status)
    groups: dict[str, list[MailLine]] = defaultdict(list)
    for m in rejected:
        branch = branch_of(m.from_addr, m.facts, directory=directory, allowed_domains=cfg.senders.allowed_domains)
        groups[branch].append(line(m, reply_status=reply_status.get(m.id, "返信なし")))
    rejections = tuple(BranchGroup(b, tuple(ms)) for b, ms in sorted(groups.items()))

    # The manual queue: everything still manual, oldest first (the longest waiting on top).
    horizon = _day_bounds(day - dt.timedelta(days=MANUAL_QUEUE_DAYS - 1), tz)[0]
    manual_where = (Mail.decision == "manual") & (Mail.received_at < end) & Mail.resolved_at.is_(None)
    manual_rows = session.scalars(
        select(Mail).where(manual_where, Mail.received_at >= horizon).order_by(Mail.received_at, Mail.id)
        .limit(LIST_LIMIT)
    ).all()
    manual_all = session.scalar(select(func.count()).where(manual_where)) or 0
    manual = tuple(line(m) for m in manual_rows)

    # Warnings riding on the day's mails.
    mail_warnings = tuple(
        line(m) for m in session.scalars(
            select(Mail).where(in_day, Mail.decision.is_not(None)).order_by(Mail.received_at, Mail.id)
        ) if m.warnings
    )

    # Ledger: routers not removed (a standing list) and terminations due soon (or overdue).
    router_where = LedgerEntry.router_not_removed.is_(True)
    router_total = session.scalar(select(func.count()).select_from(LedgerEntry).where(router_where)) or 0
    router_rows = session.scalars(
        select(LedgerEntry).where(router_where).order_by(LedgerEntry.updated_at.desc(), LedgerEntry.customer_code)
        .limit(LIST_LIMIT)
    ).all()
    router_lines = tuple(_ledger_line(e, day, cal) for e in router_rows)
    horizon_day = cal.add_business_days(day, TERMINATION_HORIZON_BUSINESS_DAYS)
    due_rows = session.scalars(
        select(LedgerEntry).where(
            LedgerEntry.state == ledger.TERMINATION_SCHEDULED, LedgerEntry.termination_date.is_not(None),
            LedgerEntry.termination_date <= horizon_day,
        ).order_by(LedgerEntry.termination_date, LedgerEntry.customer_code).limit(LIST_LIMIT)
    ).all()
    terminations_due = tuple(_ledger_line(e, day, cal) for e in due_rows)

    # The vendor batch of the day.
    batches = []
    for batch in session.scalars(select(VendorBatch).where(VendorBatch.batch_date == day).order_by(VendorBatch.id)):
        cats = tuple(
            (str(cat), int(n)) for cat, n in session.execute(
                select(VendorRow.category, func.count()).where(VendorRow.batch_id == batch.id)
                .group_by(VendorRow.category).order_by(VendorRow.category)
            )
        )
        out = session.get(OutboxMessage, batch.outbox_id) if batch.outbox_id is not None else None
        batches.append(BatchLine(
            id=batch.id, created_label=_time_label(batch.created_at, tz), row_count=batch.row_count,
            categories=cats,
            outbox_status=OUTBOX_STATUS_LABELS.get(out.status, out.status) if out else "メール未作成",
            # Sent, or on its way without a failed attempt yet.
            outbox_ok=out is not None
            and (out.status == "sent" or (out.status != "failed" and out.attempts == 0)),
            sent_label=_time_label(out.sent_at, tz) if out else "",
            last_error=_first_line(out.last_error) if out else "",
        ))
    scan_rows = _scan_rows(session, day)
    waiting = session.scalar(
        select(func.count()).select_from(VendorRow)
        .where(VendorRow.batch_id.is_(None), VendorRow.cancelled_at.is_(None))
    ) or 0

    # Quarantined mails: bugs held for a person, whatever day they came.
    q_where = (Mail.status == QUARANTINED) & Mail.resolved_at.is_(None)
    q_total = session.scalar(select(func.count()).where(q_where)) or 0
    quarantined = tuple(
        QuarantineLine(id=m.id, message_id=m.message_id or "", subject=m.subject or "（件名なし）",
                       from_addr=m.from_addr or "（不明）", received_label=_time_label(m.received_at, tz),
                       error_line=_first_line(m.error))
        for m in session.scalars(select(Mail).where(q_where).order_by(Mail.received_at, Mail.id).limit(LIST_LIMIT))
    )

    # Outbox problems: given up, or still retrying.
    o_where = (OutboxMessage.status == "failed") | ((OutboxMessage.status == "pending") & (OutboxMessage.attempts > 0))
    o_total = session.scalar(select(func.count()).select_from(OutboxMessage).where(o_where)) or 0
    problems = tuple(
        OutboxProblem(
            id=o.id, purpose_label=PURPOSE_LABELS.get(o.purpose, o.purpose), subject=o.subject,
            recipients=", ".join(o.rcpt_to or []), status_label=OUTBOX_STATUS_LABELS.get(o.status, o.status),
            attempts=o.attempts, last_error=_first_line(o.last_error),
            next_attempt_label=_time_label(o.next_attempt_at, tz) if o.status == "pending" else "",
        )
        for o in session.scalars(select(OutboxMessage).where(o_where).order_by(OutboxMessage.id).limit(LIST_LIMIT))
    )

    latest = session.scalar(select(func.max(Mail.received_at)))
    return DigestData(
        day=day, day_label=_day_label(day), generated_label=_time_label(now, tz),
        is_business_day=cal.is_business_day(day), counts=counts, totals=totals,
        quarantined_today=quarantined_today, undecided_today=undecided_today, rejections=rejections,
        manual=manual, manual_not_listed=manual_all - len(manual), manual_days=MANUAL_QUEUE_DAYS,
        mail_warnings=mail_warnings, router_not_removed=router_lines, router_not_removed_total=router_total,
        terminations_due=terminations_due, termination_horizon_label=_day_label(horizon_day),
        batches=tuple(batches), vendor_rows_waiting=waiting, scan_rows=scan_rows,
        cutoff_label=cfg.office.cutoff,
        quarantined=quarantined, quarantined_total=q_total, outbox_problems=problems, outbox_problems_total=o_total,
        breakages=_breakage_lines(templates, tz),
        last_fetch_label=(_time_label(last_fetch_at, tz) + _ago(last_fetch_at, now)) if last_fetch_at
        else "記録なし（このプロセスはメールボックスを読んでいません）",
        latest_received_label=(_time_label(latest, tz) + _ago(latest, now)) if latest else "受信記録なし",
    )


def _scan_rows(session: Session, today: dt.date) -> tuple[ScanRowLine, ...]:
    from bot.vendor_forms import HEADERS, REFER, open_rows, refer_keys

    out = []
    for row in open_rows(session)[:LIST_LIMIT]:
        payload = row.payload or {}
        out.append(ScanRowLine(
            row_id=row.id, customer_code=row.customer_code, category=row.category,
            shop_name="" if payload.get("shop_name") == REFER else str(payload.get("shop_name") or ""),
            batch_label=_day_label(max(row.batch_date, today)),
            cells=tuple(HEADERS[k] for k in refer_keys(row) if k in HEADERS),
            typed=tuple(HEADERS[k] for k in payload.get("typed", {}) if k in HEADERS),
        ))
    return tuple(out)


def _ledger_line(entry: LedgerEntry, day: dt.date, cal: BusinessCalendar) -> LedgerLine:
    td = entry.termination_date
    days_left: int | None = None
    if td is not None:
        days_left = _business_days_between(day, td, cal)
    data = entry.data or {}
    note = str(data.get("router_not_removed_reason") or "")
    if data.get("lost_router_fee"):
        note = (note + " " if note else "") + "［紛失手数料の対象］"
    return LedgerLine(
        customer_code=entry.customer_code, shop_name=entry.shop_name or "",
        state_label=ledger.STATE_LABELS.get(entry.state, entry.state),
        termination_label=_day_label(td) if td else "", days_left=days_left, note=note,
    )


def _business_days_between(start: dt.date, end: dt.date, cal: BusinessCalendar) -> int:
    """Business days from `start` to `end` (negative when `end` has passed; 0 on the day)."""
    step = 1 if end >= start else -1
    n, day = 0, start
    while day != end:
        day += dt.timedelta(days=step)
        if cal.is_business_day(day):
            n += step
    return n


def _breakage_lines(templates: Templates, tz: dt.tzinfo) -> tuple[BreakageLine, ...]:
    # Runtime breakages live in this process; the admin folder is also checked here so a
    # broken override shows up even in a digest sent by another process (`bot digest --send`).
    from bot.template_samples import check_admin

    lines = [BreakageLine(b.where, b.message, b.count, _time_label(b.last_at, tz)) for b in templates.breakages]
    seen = {(b.where, b.message) for b in lines}
    for p in check_admin(templates):
        if (p.where, p.message) not in seen:
            seen.add((p.where, p.message))
            lines.append(BreakageLine(p.where, p.message, 0, ""))
    return tuple(lines)


# -- rendering ------------------------------------------------------------------------------

def render(data: DigestData, templates: Templates) -> tuple[str, str, str]:
    """(subject, text, html) from the digest templates (the admin's when they work)."""
    ctx = data.context()
    text = templates.render_mail("digest.txt.j2", ctx, required=("subject",))
    # One header line whatever the template did: no line breaks can reach the Subject.
    subject = " ".join(str(text.exports["subject"]).split())
    html = templates.render("digest.html.j2", {**ctx, "subject": subject})
    return subject, text.text, html


def build_digest(
    session: Session, *, cfg: Config, day: dt.date, now: dt.datetime, templates: Templates,
    last_fetch_at: dt.datetime | None = None,
) -> Digest:
    """The digest for office-local `day`, rendered."""
    reported = tuple(templates.breakages)
    data = collect(session, cfg=cfg, day=day, now=now, templates=templates, last_fetch_at=last_fetch_at)
    subject, text, html = render(data, templates)
    return Digest(day=day, generated_at=now, subject=subject, text=text, html=html, data=data,
                  reported_breakages=reported)


def digest_message(digest: Digest, cfg: Config) -> EmailMessage:
    """multipart/alternative (text, then HTML), UTF-8, marked as automatic."""
    msg = EmailMessage()
    msg["From"] = formataddr(("USEN SPOT 事務センター", cfg.smtp.from_addr))
    msg["To"] = ", ".join(cfg.office.digest_to)
    msg["Subject"] = digest.subject
    msg["Date"] = format_datetime(digest.generated_at.astimezone(cfg.office.tz))
    msg["Message-ID"] = new_message_id(cfg.smtp.from_addr)
    # RFC 3834: generated, not a reply; nobody's auto-responder should answer it.
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(digest.text, charset="utf-8")
    msg.add_alternative(digest.html, subtype="html", charset="utf-8")
    return msg


def _require_recipients(cfg: Config) -> None:
    if not cfg.office.digest_to:
        raise DigestError(
            f"{cfg.source}: [office] digest_to is empty: set the office addresses "
            "(or $BOT_OFFICE_DIGEST_TO) before sending the digest"
        )


def digest_ref(day: dt.date) -> str:
    """The outbox `ref` of the digest that covers `day`."""
    return f"{PURPOSE}:{day.isoformat()}"


def send_digest(
    factory: sessionmaker[Session], *, cfg: Config, day: dt.date, now: dt.datetime, templates: Templates,
    last_fetch_at: dt.datetime | None = None, once: bool = False,
) -> int | None:
    """Build the digest of `day` and put it in the outbox in one transaction, then flush.
    Returns the outbox row id (None when `once` and that day's digest was already queued).
    A failed send stays in the outbox and is retried."""
    from bot import outbox

    _require_recipients(cfg)
    with factory() as session, session.begin():
        if once:
            # Several bot processes (PostgreSQL) run the same scheduled job: the lock makes the
            # check and the enqueue one step, so exactly one of them queues the day's digest.
            db.serialise(session, digest_ref(day))
            if already_sent(session, day=day):
                log.info("digest for %s already queued: not sent again", day)
                return None
        digest = build_digest(session, cfg=cfg, day=day, now=now, templates=templates, last_fetch_at=last_fetch_at)
        row_id = enqueue(session, digest_message(digest, cfg), purpose=PURPOSE, now=now, ref=digest_ref(day)).id
    # Reported once; a template still broken is recorded again when next used.
    templates.forget_breakages(digest.reported_breakages)
    log.info("digest for %s queued as outbox %s to %s", day, row_id, ", ".join(cfg.office.digest_to))
    outbox.flush(factory, cfg.smtp, now=now)
    return row_id


def already_sent(session: Session, *, day: dt.date) -> bool:
    """The digest covering `day` is already in the outbox (sent or on its way)."""
    return session.scalar(
        select(OutboxMessage.id).where(OutboxMessage.ref == digest_ref(day)).limit(1)
    ) is not None


# A digest job that finds earlier days unreported (the daemon was down) sends them too, but
# not further back than this: a week-old digest is history, not news.
CATCH_UP_DAYS = 7


def days_to_report(session: Session, *, today: dt.date) -> list[dt.date]:
    """The days a morning digest run owes: every day since the last digested one, up to
    yesterday (weekends and holidays included: mail arrives then too, and a rejection sent on
    a Saturday must reach the office on Monday)."""
    yesterday = today - dt.timedelta(days=1)
    refs = session.scalars(
        select(OutboxMessage.ref).where(OutboxMessage.purpose == PURPOSE, OutboxMessage.ref.is_not(None))
    ).all()
    covered = [dt.date.fromisoformat(r.split(":", 1)[1]) for r in refs if r and ":" in r]
    last = max((d for d in covered if d <= yesterday), default=None)
    start = yesterday if last is None else last + dt.timedelta(days=1)
    start = max(start, yesterday - dt.timedelta(days=CATCH_UP_DAYS - 1))
    return [start + dt.timedelta(days=i) for i in range((yesterday - start).days + 1)]


def digest_job(
    factory: sessionmaker[Session], cfg: Config, templates: Templates, now_fn: Callable[[], dt.datetime],
    last_fetch_fn: Callable[[], dt.datetime | None],
) -> None:
    """Scheduler job (business-day mornings): the digest of every office day not yet reported,
    up to yesterday, so evening and weekend mail is never left out. Never raises."""
    try:
        now = now_fn()
        today = now.astimezone(cfg.office.tz).date()
        if not cfg.office.digest_to:
            log.warning("digest not sent: [office] digest_to is empty")
            return
        with factory() as session:
            days = days_to_report(session, today=today)
        for day in days:
            row_id = send_digest(factory, cfg=cfg, day=day, now=now, templates=templates,
                                 last_fetch_at=last_fetch_fn(), once=True)
            if row_id is not None:
                log.info("digest for %s: outbox %s", day, row_id)
    except Exception:  # noqa: BLE001 - a failing digest must not take the scheduler down
        log.exception("digest job failed")


# -- command line (wired by bot/cli.py) -----------------------------------------------------

def cli_digest(args: argparse.Namespace, cfg: Config) -> int:
    """`bot digest [--send] [--date YYYY-MM-DD] [--out FILE.html]`.

    Without --send: the text part on stdout; the HTML part written to --out when given (its
    path on stderr). With --send: queued in the outbox and flushed; prints the outbox id.
    Exit 0 done, 2 bad usage/config (bad date, empty digest_to, no database), 1 otherwise.
    """
    now = dt.datetime.now(dt.UTC)
    if getattr(args, "date", None):
        try:
            day = dt.date.fromisoformat(str(args.date))
        except ValueError:
            print(f"bot digest: --date: YYYY-MM-DD で指定してください / expected YYYY-MM-DD, got {args.date!r}",
                  file=sys.stderr)
            return 2
    else:
        day = now.astimezone(cfg.office.tz).date()
    send = bool(getattr(args, "send", False))
    if send:
        try:
            _require_recipients(cfg)
        except DigestError as err:
            print(f"bot digest: 送信できません / cannot send: {err}", file=sys.stderr)
            return 2
    engine = db.make_engine(cfg.database.url)
    try:
        from sqlalchemy import inspect

        if not inspect(engine).has_table("mails"):
            print(f"bot digest: データベースが未作成です / no schema at {cfg.database.url}: run `bot db upgrade`",
                  file=sys.stderr)
            return 2
        factory = db.session_factory(engine)
        templates = Templates.from_config(cfg)
        if send:
            row_id = send_digest(factory, cfg=cfg, day=day, now=now, templates=templates)
            with factory() as session:
                row = session.get(OutboxMessage, row_id)
                status = OUTBOX_STATUS_LABELS.get(row.status, row.status) if row else "?"
                error = _first_line(row.last_error) if row else ""
            print(f"digest {day.isoformat()}: outbox {row_id} → {', '.join(cfg.office.digest_to)}: {status}"
                  + (f" ({error})" if error else ""))
            return 0
        with factory() as session:
            digest = build_digest(session, cfg=cfg, day=day, now=now, templates=templates)
    finally:
        engine.dispose()
    print(f"Subject: {digest.subject}\n")
    sys.stdout.write(digest.text)
    out = getattr(args, "out", None)
    if out:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(digest.html, encoding="utf-8")
        print(f"HTML: {path}", file=sys.stderr)
    else:
        print("（HTML版は --out FILE.html で保存できます / use --out FILE.html for the HTML part）", file=sys.stderr)
    return 0


# -- sample data for `bot templates check` / `preview` --------------------------------------

def sample_data() -> DigestData:
    """A digest with something in every section (fixed values, no database)."""
    d = _Detail

    def mail(i: int, subject: str, sender: str, kind: str, code: str, *, reason: str = "",
             defects: tuple[DefectLine, ...] = (), warnings: tuple[DefectLine, ...] = (), age: int = 0,
             reply: str = "") -> MailLine:
        return MailLine(id=i, message_id=f"<sample-{i}@aoyama.usen.co.jp>", subject=subject, from_addr=sender,
                        received_label=f"2026/11/{24 - age:02d} 10:{i:02d}", age_days=age,
                        kind_label=KIND_LABELS[kind], customer_code=code, reason=reason, defects=defects,
                        warnings=warnings, reply_status=reply)

    counts = tuple(KindCount(k, KIND_LABELS[k], *(3, 2, 1, 0) if k == classify.EQUIPMENT_ORDER else (1, 0, 0, 0))
                   for k in KIND_ORDER) + (KindCount("unknown", UNKNOWN_KIND_LABEL, 0, 0, 1, 2),)
    totals = KindCount("all", "合計", *(sum(getattr(c, a) for c in counts)
                                         for a in ("accepted", "rejected", "manual", "ignored")))
    rejected = mail(3, "USEN SPOT 器材発注依頼_988776654", "uchida@aoyama.usen.co.jp", classify.EQUIPMENT_ORDER,
                    "988776654", defects=(DefectLine("PDF_NOT_ENCRYPTED", d()),
                                          DefectLine("BODY_FIELD_MISSING", d(labels="店舗名、担当者名"))),
                    reply="送信済")
    return DigestData(
        day=dt.date(2026, 11, 24), day_label="2026/11/24 (火)", generated_label="2026/11/24 18:00",
        is_business_day=True, counts=counts, totals=totals, quarantined_today=1, undecided_today=0,
        rejections=(BranchGroup("aoyama", (rejected,)),),
        manual=(mail(4, "USEN SPOT 器材発注依頼_988776655", "sato@shibuya.usen.co.jp", classify.EQUIPMENT_ORDER,
                     "988776655", reason="application form is a scan with no text layer", age=2),),
        manual_not_listed=0, manual_days=MANUAL_QUEUE_DAYS,
        mail_warnings=(mail(5, "USEN SPOT キャンセル申請_988776656", "kato@aoyama.usen.co.jp", classify.CANCELLATION,
                            "988776656", warnings=(DefectLine("CANCEL_COSTS", d(code="988776656")),
                                                   DefectLine("ROUTER_RETURN_DUE", d(code="988776656")))),),
        router_not_removed=(LedgerLine("988776657", "カフェ青山", "解約済", "2026/11/02 (月)", -16,
                                       "店舗閉鎖のため回収不可 ［紛失手数料の対象］"),),
        router_not_removed_total=1,
        terminations_due=(LedgerLine("988776658", "ヘアサロン渋谷", "解約予定", "2026/11/27 (金)", 3, ""),),
        termination_horizon_label="2026/12/01 (火)",
        batches=(BatchLine(7, "2026/11/24 17:05", 4, (("新規", 3), ("解約", 1)), "送信済", True,
                           "2026/11/24 17:05", ""),),
        vendor_rows_waiting=2,
        scan_rows=(ScanRowLine(11, "988776660", "新規", "", "2026/11/25 (水)",
                               ("店舗名", "設置先住所", "電話番号", "SSID"), ("メールアドレス",)),),
        quarantined=(QuarantineLine(9, "<sample-9@aoyama.usen.co.jp>", "USEN SPOT 解約申請_988776659",
                                    "ito@aoyama.usen.co.jp", "2026/11/24 11:30", "ValueError: sample"),),
        quarantined_total=1,
        outbox_problems=(OutboxProblem(12, "差戻返信", "Re: USEN SPOT 器材発注依頼_988776654",
                                       "uchida@aoyama.usen.co.jp", "送信待ち", 2,
                                       "SMTPConnectError: connection refused", "2026/11/24 18:10"),),
        outbox_problems_total=1,
        breakages=(BreakageLine("/etc/usen-spot/templates/reject.txt.j2:3",
                                "UndefinedError: 'sender' is undefined", 4, "2026/11/24 15:20"),),
        last_fetch_label="2026/11/24 17:59（1分前）", latest_received_label="2026/11/24 16:42（1時間前）",
    )


def sample_context() -> dict[str, Any]:
    ctx = sample_data().context()
    ctx["subject"] = "【USEN SPOT】日次レポート 2026/11/24 (火)"  # what the HTML template gets
    return ctx
