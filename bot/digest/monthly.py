"""Fewer defects at the source (issue 23 point 6): on the first business day of each month, every
branch manager of the branch directory gets one mail on the month before: the branch's mails by
kind, its 差戻 rate beside the company's, its three most frequent defects each with the manual's
own fix, and its UNIS findings still open. The same figures rank the branches in the digest and
fill the console's 支店 page.

Sent once: the job runs once per month across processes and restarts (bot/jobs/__init__.py), a
bot down on that morning sends it when it is back (any later day of the month), and each branch's
mail carries its month and branch as its outbox ref, checked under a lock where it is queued.
Rendered from ``monthly_report.txt.j2`` (admin-editable), through the outbox.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import db, jobs
from bot.config import Config
from bot.db.models import Mail, OutboxMessage
from bot.digest.senders import branch_domains, branch_of
from bot.domain import vocab
from bot.domain.calendar import BusinessCalendar
from bot.templating import Templates
from bot.templating.samples import register_sample
from bot.unis.audit import digest_findings

log = logging.getLogger("bot.digest.monthly")

TEMPLATE = "monthly_report.txt.j2"
PURPOSE = "monthly_report"
DECIDED = ("accepted", "rejected", "manual")  # what counts as a branch's request (ignored mails do not)


@dataclass
class BranchMonth:
    """One branch's month: its requests by kind, its 差戻, its defects by code."""

    branch: str
    kinds: Counter[str] = field(default_factory=Counter)
    rejected: int = 0
    defects: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.kinds.values())

    @property
    def rate(self) -> float:
        return self.rejected / self.total if self.total else 0.0


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def previous_month(day: dt.date) -> dt.date:
    return month_start(month_start(day) - dt.timedelta(days=1))


def month_figures(session: Session, *, cfg: Config, month: dt.date) -> dict[str, BranchMonth]:
    """Every branch's figures for the month starting `month` (office time), by the digest's
    reading of who sent a mail (bot/digest/collect.py branch_of)."""
    tz = cfg.office.tz
    start = dt.datetime.combine(month, dt.time(), tz)
    end = dt.datetime.combine((month + dt.timedelta(days=32)).replace(day=1), dt.time(), tz)
    directory = branch_domains(cfg)
    figures: dict[str, BranchMonth] = {}
    rows = session.execute(select(Mail.from_addr, Mail.facts, Mail.kind, Mail.decision, Mail.defects).where(
        Mail.received_at >= start, Mail.received_at < end, Mail.decision.in_(DECIDED)))
    for from_addr, facts, kind, decision, defects in rows:
        name = branch_of(from_addr, facts, directory=directory, allowed_domains=cfg.senders.allowed_domains)
        month_of = figures.setdefault(name, BranchMonth(name))
        month_of.kinds[vocab.KINDS.get(kind or "unknown", vocab.KINDS["unknown"])] += 1
        if decision == "rejected":
            month_of.rejected += 1
            month_of.defects.update(list(dict.fromkeys(str(d.get("code")) for d in (defects or []))))
    return figures


def company_rate(figures: Mapping[str, BranchMonth]) -> float:
    total = sum(f.total for f in figures.values())
    return sum(f.rejected for f in figures.values()) / total if total else 0.0


def ranked(figures: Mapping[str, BranchMonth]) -> list[BranchMonth]:
    """Branches by 差戻 rate, highest first (then by their number of 差戻, then by name)."""
    return sorted((f for f in figures.values() if f.total), key=lambda f: (-f.rate, -f.rejected, f.branch))


def percent(rate: float) -> str:
    return f"{rate * 100:.1f}%"


def context(branch: str, figures: Mapping[str, BranchMonth], *, month: dt.date, company: float,
            findings: list[dict[str, str]]) -> dict[str, Any]:
    """The template's values for one branch (plain values, as the sample has them)."""
    mine = figures.get(branch) or BranchMonth(branch)
    top = [{"name": vocab.code_name(code), "count": n, "fix": vocab.DEFECT_FIXES.get(code, vocab.DEFAULT_FIX)}
           for code, n in mine.defects.most_common(3)]
    return {"branch": branch, "month": f"{month:%Y年%m月}", "total": mine.total,
            "kinds": [{"label": k, "count": n} for k, n in sorted(mine.kinds.items(), key=lambda kv: -kv[1])],
            "rejected": mine.rejected, "rate": percent(mine.rate), "company_rate": percent(company),
            "top_defects": top, "unis_findings": findings}


def _findings(session: Session, branch: str, today: dt.date, tz: dt.tzinfo) -> list[dict[str, str]]:
    return [{"line": f.unis_line, "shop_name": f.shop_name or "", "problem": f.problem, "fix": f.fix}
            for g in digest_findings(session, day=today, tz=tz, branch=branch) for f in g.findings]


def ref(month: dt.date, branch: str) -> str:
    return f"{PURPOSE}:{month:%Y-%m}:{branch}"


def send_reports(factory: sessionmaker[Session], *, cfg: Config, month: dt.date, now: dt.datetime,
                 templates: Templates) -> str:
    """Queue each branch manager's mail on `month` (once per branch); a note of what was done."""
    from bot.actions.outbox import enqueue, office_message
    from bot.domain.branches import load_directory

    branches = load_directory(cfg.branches.file) if cfg.branches.file else {}
    sent, skipped = 0, 0
    with factory() as session, session.begin():
        db.serialise(session, f"{PURPOSE}:{month:%Y-%m}")
        figures = month_figures(session, cfg=cfg, month=month)
        company = company_rate(figures)
        today = now.astimezone(cfg.office.tz).date()
        for name, entry in sorted(branches.items()):
            if not entry.manager:
                continue
            if session.scalar(select(OutboxMessage.id).where(OutboxMessage.ref == ref(month, name)).limit(1)):
                skipped += 1
                continue
            values = context(name, figures, month=month, company=company,
                             findings=_findings(session, name, today, cfg.office.tz))
            rendered = templates.render_mail(TEMPLATE, values, required=("subject",))
            msg = office_message(from_addr=cfg.smtp.from_addr, to=[entry.manager], text=rendered.text,
                                 subject=" ".join(str(rendered.exports["subject"]).split()),
                                 date=now.astimezone(cfg.office.tz))
            enqueue(session, msg, purpose=PURPOSE, now=now, ref=ref(month, name))
            sent += 1
    log.info("monthly report %s: %d branch manager(s) queued, %d already", f"{month:%Y-%m}", sent, skipped)
    return f"{month:%Y-%m}: {sent} queued, {skipped} already"


def due_month(calendar: BusinessCalendar, now: dt.datetime, at: dt.time) -> dt.date | None:
    """The month whose report is due at `now`: the month before, from the first business day of
    this month at `at` (office time) on; None before that."""
    local = calendar.local(now)
    first = calendar.next_business_day(month_start(local.date()))
    if local.date() < first or (local.date() == first and local.time() < at):
        return None
    return previous_month(local.date())


def run_due(factory: sessionmaker[Session], *, cfg: Config, calendar: BusinessCalendar, templates: Templates,
            now_fn: Callable[[], dt.datetime]) -> list[jobs.RunResult]:
    """The month's reports if due and not sent (a bot down on that morning sends them when back):
    its run, or none."""
    month = due_month(calendar, now_fn(), cfg.office.digest_time_of_day)
    if month is None:
        return []
    return [jobs.run_once(factory, jobs.MONTHLY_REPORT, f"{month:%Y-%m}", lambda: send_reports(
        factory, cfg=cfg, month=month, now=now_fn(), templates=templates), now_fn=now_fn)]


SAMPLE: Mapping[str, Any] = {
    "branch": "青山支店", "month": "2026年11月", "total": 42, "rejected": 9, "rate": "21.4%", "company_rate": "12.8%",
    "kinds": [{"label": "器材発注依頼", "count": 30}, {"label": "契約変更", "count": 7}, {"label": "解約申請", "count": 5}],
    "top_defects": [{"name": "回線タイプの選択なし", "count": 4, "fix": vocab.DEFECT_FIXES["LINE_TYPE_MISSING"]},
                    {"name": "CCに支店長なし", "count": 3, "fix": vocab.DEFECT_FIXES["CC_MANAGER_MISSING"]},
                    {"name": "PDFにパスワードなし", "count": 2, "fix": vocab.DEFECT_FIXES["PDF_NOT_ENCRYPTED"]}],
    "unis_findings": [{"line": "顧客番号 200000002 契約番号 1 明細番号 1", "shop_name": "居酒屋 道玄坂",
                       "problem": "シリアルNoの形式が正しくありません", "fix": "機器のシリアルナンバー（12桁）を入力してください"}],
}
register_sample(TEMPLATE, SAMPLE)


def rates_by_branch(session: Session, *, cfg: Config, day: dt.date) -> list[dict[str, Any]]:
    """The month so far (of `day`), branches by 差戻 rate: the digest's ranking and the console's."""
    figures = month_figures(session, cfg=cfg, month=month_start(day))
    company = company_rate(figures)
    return [{"branch": f.branch, "total": f.total, "rejected": f.rejected, "rate": percent(f.rate),
             "above": f.rate > company} for f in ranked(figures)]

