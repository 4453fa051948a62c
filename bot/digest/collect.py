"""Reading what the digest shows for one office day (:func:`collect`), and which branch a
mail came from (:func:`branch_of`; the rules are in the package docstring). Reads only."""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot import ledger
from bot.actions.tasks import TaskLine, open_tasks
from bot.config import Config
from bot.daemon.health import collect as collect_health
from bot.db.models import (
    QUARANTINED,
    STORED,
    LedgerEntry,
    Mail,
    OutboxMessage,
    VendorBatch,
    VendorRow,
)
from bot.digest.model import (
    KIND_LABELS,
    KIND_ORDER,
    LIST_LIMIT,
    MANUAL_QUEUE_DAYS,
    OUTBOX_STATUS_LABELS,
    PURPOSE_LABELS,
    TERMINATION_HORIZON_BUSINESS_DAYS,
    UNKNOWN_KIND_LABEL,
    BatchLine,
    BranchGroup,
    BreakageLine,
    DefectLine,
    Detail,
    DigestData,
    KindCount,
    LedgerLine,
    MailLine,
    OutboxProblem,
    QuarantineLine,
    ScanRowLine,
)
from bot.digest.monthly import rates_by_branch
from bot.digest.senders import branch_domains, branch_of  # noqa: F401 - branch_of: bot.digest's
from bot.domain import vocab
from bot.domain.calendar import BusinessCalendar
from bot.templating import Templates
from bot.templating import errors as template_errors
from bot.templating.samples import check_admin
from bot.unis.audit import digest_findings, historic_open

log = logging.getLogger("bot.digest")

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


def first_line(text: str | None) -> str:
    """The line that says what went wrong: a traceback's last line, else the first line."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return ""
    return lines[-1] if lines[0].startswith("Traceback") else lines[0]


def _error_words(text: str | None) -> str:
    """An error (an exception, a server's refusal) as staff read it (bot/domain/vocab.py): the digest
    goes to the office, so the exception itself stays in the console's records for admins."""
    line = first_line(text)
    return vocab.technical(line) if line else ""


def _defect_lines(items: Sequence[Mapping[str, Any]] | None) -> tuple[DefectLine, ...]:
    return tuple(
        DefectLine(str(item.get("code", "")), Detail(item.get("detail") or {}))
        for item in items or () if isinstance(item, Mapping)
    )


def _calendar(cfg: Config) -> BusinessCalendar:
    return BusinessCalendar(tz=cfg.office.tz, cutoff=cfg.office.cutoff_time,
                            company_holidays=cfg.office.company_holiday_dates)


def collect(
    session: Session, *, cfg: Config, day: dt.date, now: dt.datetime, templates: Templates,
    last_fetch_at: dt.datetime | None = None, health: bool = False,
) -> DigestData:
    """Read what the digest for `day` shows. Reads only. `health`: add what makes the bot
    unhealthy now (the daemon's own digest job; a digest rendered by hand leaves it out)."""
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
    # Corporate bulk orders (manual §IX) come from 法人営業, rarely: a row only on days with one.
    kinds = list(KIND_ORDER) + [k for k in per_kind if k and k not in KIND_ORDER] + ([""] if "" in per_kind else [])
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
            customer_code=m.customer_code or "", reason=vocab.plain(str(facts.get("reason") or "")),
            defects=_defect_lines(m.defects), warnings=_defect_lines(m.warnings), **extra,
        )

    # Rejections, grouped by branch; the reply's outbox status tells whether the branch got it.
    directory = branch_domains(cfg)
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
            last_error=_error_words(out.last_error) if out else "",
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
                       error_line=_error_words(m.error))
        for m in session.scalars(select(Mail).where(q_where).order_by(Mail.received_at, Mail.id).limit(LIST_LIMIT))
    )

    # Outbox problems: given up, or still retrying.
    o_where = (OutboxMessage.status == "failed") | ((OutboxMessage.status == "pending") & (OutboxMessage.attempts > 0))
    o_total = session.scalar(select(func.count()).select_from(OutboxMessage).where(o_where)) or 0
    problems = tuple(
        OutboxProblem(
            id=o.id, purpose_label=PURPOSE_LABELS.get(o.purpose, o.purpose), subject=o.subject,
            recipients=", ".join(o.rcpt_to or []), status_label=OUTBOX_STATUS_LABELS.get(o.status, o.status),
            attempts=o.attempts, last_error=_error_words(o.last_error),
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
        health_problems=tuple(collect_health(session, now=now, tz=tz).problems) if health else (),
        unis_findings=tuple(digest_findings(session, day=day, tz=tz)),
        unis_historic=historic_open(session), unis_window_days=cfg.unis.audit_window_days,
        office_tasks=tuple(_task_line(t, tz) for t in open_tasks(session)),
        branch_rates=tuple(rates_by_branch(session, cfg=cfg, day=day)),
    )


def _task_line(task: TaskLine, tz: dt.tzinfo) -> dict[str, Any]:
    """An open office task as the digest lists it (plain values for the template)."""
    return {"id": task.id, "label": task.label, "customer_code": task.customer_code, "shop_name": task.shop_name,
            "ssid": str(task.detail.get("ssid", "")), "mail_id": task.mail_id,
            "created_label": f"{task.created_at.astimezone(tz):%m/%d %H:%M}"}


def _scan_rows(session: Session, today: dt.date) -> tuple[ScanRowLine, ...]:
    from bot.vendor.forms import HEADERS, REFER, open_rows, refer_keys

    out = []
    for row in open_rows(session)[:LIST_LIMIT]:
        payload = row.payload or {}
        out.append(ScanRowLine(
            row_id=row.id, customer_code=row.customer_code, category=row.category,
            shop_name="" if payload.get("shop_name") == REFER else str(payload.get("shop_name") or ""),
            batch_label=_day_label(max(row.batch_date, today)),
            cells=tuple(HEADERS[k] for k in refer_keys(row) if k in HEADERS),
            typed=tuple(HEADERS[k] for k in payload.get("typed", {}) if k in HEADERS), mail_id=row.mail_id,
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
    # Jinja's English message becomes the sentence the template editor shows (its names as written)
    lines = [BreakageLine(b.where, _words(b.message), b.count, _time_label(b.last_at, tz)) for b in templates.breakages]
    seen = {(b.where, b.message) for b in lines}
    for p in check_admin(templates):
        if (p.where, _words(p.message)) not in seen:
            seen.add((p.where, _words(p.message)))
            lines.append(BreakageLine(p.where, _words(p.message), 0, ""))
    return tuple(lines)


def _words(message: str) -> str:
    """The editor's sentence for Jinja's message, its first sentence only (the rest points at
    the editor's own panels)."""
    text = "".join(part for part, _code in template_errors.sentence(message))
    head, dot, _ = text.partition("。")
    return head + dot
