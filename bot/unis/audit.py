"""UNIS registration audit, stored and queried (the rules are bot/unis/rules.py):

- storage: :func:`refresh_findings` runs after every UNIS import (bot/unis/__init__.py), in the
  import's transaction, and upserts the ``unis_findings`` table: a finding first seen gets
  ``first_seen_at``; one still present gets ``last_seen_at``; one that a later extract no
  longer has gets ``resolved_at``; one that comes back is new again;
- queries: :func:`digest_findings` (per branch, new first) for the digest and for
  ``bot audit-unis``.
"""

from __future__ import annotations

import datetime as dt
import logging
import unicodedata
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot import db
from bot.db.models import UnisFinding, UnisOrder

from bot.unis.rules import PROBLEMS, ROW_FIELDS, UnisRow, audit, natural_order

log = logging.getLogger("bot.unis.audit")


# -- storage: refresh after each import ------------------------------------------------------

# [unis] audit_window_days' default (bot/config/sections.py UnisConfig).
WINDOW_DAYS = 30


@dataclass(frozen=True)
class RefreshReport:
    new: int  # first seen now (or seen again after it had been resolved), branches' work now
    seen_again: int  # still present
    resolved: int  # no longer present
    historic: int = 0  # first seen now on a line done long before (counted, never listed)


def is_historic(line_date: dt.date | None, first_seen: dt.datetime, window_days: int) -> bool:
    """A finding the audit first sees on a line confirmed (or due) more than `window_days` before:
    the branch registered it long ago (a first import of a full extract carries years of such
    lines), so it is not today's work to list to the branch. A line without dates is current."""
    return window_days > 0 and line_date is not None and line_date < first_seen.date() - dt.timedelta(days=window_days)


def load_rows(session: Session) -> list[UnisRow]:
    """The current UNIS lines (what the imports left in ``unis_orders``), as plain values."""
    columns = [getattr(UnisOrder, name) for name in ROW_FIELDS]
    return [UnisRow(*r) for r in session.execute(select(*columns))]


def refresh_findings(session: Session, now: dt.datetime, *, window_days: int = WINDOW_DAYS) -> RefreshReport:
    """Audit the current UNIS lines and bring ``unis_findings`` up to date, in the caller's
    transaction (the import's: the findings commit with the rows they describe, or not at all).

    Two processes importing at once take turns here (:func:`bot.db.serialise`), so a finding is
    inserted once and the second sees the first's rows."""
    db.serialise(session, "unis-audit")
    rows = load_rows(session)
    dates = {(r.customer_code, r.contract_no, r.line_no): r.line_date for r in rows}
    current = {f.key: f for f in audit(rows)}
    stored = {(s.rule, s.customer_code, s.contract_no, s.line_no): s for s in session.scalars(select(UnisFinding))}
    new = seen_again = resolved = historic = 0
    for key, finding in current.items():
        row = stored.get(key)
        line_date = dates.get((finding.customer_code, finding.contract_no, finding.line_no))
        if row is None or row.resolved_at is not None:
            if row is None:
                row = UnisFinding(rule=finding.rule, customer_code=finding.customer_code,
                                  contract_no=finding.contract_no, line_no=finding.line_no)
                session.add(row)
            row.first_seen_at, row.resolved_at = now, None  # new, or it came back: new again
            row.historic = is_historic(line_date, now, window_days)
            historic += row.historic
            new += not row.historic
        else:
            seen_again += 1
        row.last_seen_at = now
        row.branch, row.shop_name, row.status = finding.branch, finding.shop_name, finding.status
        row.item_code, row.item_name = finding.item_code, finding.item_name
        row.value, row.problem, row.fix = finding.value, finding.problem, finding.fix
    for key, row in stored.items():
        if key not in current and row.resolved_at is None:
            row.resolved_at = now
            resolved += 1
    session.flush()
    log.info("UNIS audit: %d new, %d still open, %d resolved, %d historic (not listed to the branches)",
             new, seen_again, resolved, historic)
    return RefreshReport(new=new, seen_again=seen_again, resolved=resolved, historic=historic)


def refresh_after_import(session: Session, now: dt.datetime, *,
                         window_days: int = WINDOW_DAYS) -> RefreshReport | None:
    """:func:`refresh_findings` as the UNIS import runs it, at the end of its transaction.

    The audit runs in a savepoint: if it fails (a bug in a rule), the failure is logged with its
    traceback, the findings stay as they were, and the day's rows still load. The database
    being away is not the audit's to hide: it goes up to the import's caller."""
    session.flush()  # the import's own rows: their errors are the import's, not the audit's
    try:
        with session.begin_nested():
            return refresh_findings(session, now, window_days=window_days)
    except db.UNAVAILABLE:
        raise
    except Exception:
        log.exception("UNIS audit failed; the import stands, the findings are as before")
        return None


# -- queries: the digest and `bot audit-unis` --------------------------------------------------

UNKNOWN_BRANCH = "支店不明"


@dataclass(frozen=True)
class FindingLine:
    """One open finding as the digest and the CLI show it."""

    rule: str
    branch: str
    customer_code: str
    contract_no: str
    line_no: str
    shop_name: str | None
    item_code: str | None
    item_name: str | None
    status: str
    value: str
    problem: str
    fix: str
    is_new: bool  # first seen on the day asked for
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime

    @property
    def unis_line(self) -> str:
        return f"顧客番号 {self.customer_code} 契約番号 {self.contract_no} 明細番号 {self.line_no}"

    def as_json(self) -> dict[str, object]:
        return {
            "rule": self.rule, "branch": self.branch, "customer_code": self.customer_code,
            "contract_no": self.contract_no, "line_no": self.line_no, "shop_name": self.shop_name,
            "item_code": self.item_code, "item_name": self.item_name, "status": self.status,
            "value": self.value, "problem": self.problem, "fix": self.fix, "new": self.is_new,
            "first_seen_at": self.first_seen_at.isoformat(), "last_seen_at": self.last_seen_at.isoformat(),
        }


@dataclass(frozen=True)
class BranchFindings:
    """A branch's open findings, new ones first."""

    branch: str
    findings: tuple[FindingLine, ...]
    resolved_today: int  # findings of this branch resolved on the day asked for

    @property
    def new_count(self) -> int:
        return sum(1 for f in self.findings if f.is_new)


def _day_bounds(day: dt.date, tz: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(0), tzinfo=tz)
    return start, dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=tz)


def digest_findings(session: Session, *, day: dt.date, tz: dt.tzinfo, branch: str | None = None,
                    historic: bool = False) -> list[BranchFindings]:
    """The findings open at the end of office-local `day`, per branch (by name, 支店不明 last),
    new ones (first seen that day) first, then by customer code and line. Reads only.

    `branch` keeps one branch (its name as in UNIS 管轄支店, with or without 支店). `historic`: the
    findings on lines done long before the audit saw them instead (never the branches' list)."""
    start, end = _day_bounds(day, tz)
    open_at_end = (UnisFinding.first_seen_at < end) & or_(UnisFinding.resolved_at.is_(None),
                                                          UnisFinding.resolved_at >= end) & UnisFinding.historic.is_(historic)
    grouped: dict[str, list[FindingLine]] = defaultdict(list)
    for s in session.scalars(select(UnisFinding).where(open_at_end)):
        grouped[s.branch or UNKNOWN_BRANCH].append(FindingLine(
            rule=s.rule, branch=s.branch or UNKNOWN_BRANCH, customer_code=s.customer_code,
            contract_no=s.contract_no, line_no=s.line_no, shop_name=s.shop_name, item_code=s.item_code,
            item_name=s.item_name, status=s.status, value=s.value, problem=s.problem, fix=s.fix,
            is_new=start <= s.first_seen_at < end, first_seen_at=s.first_seen_at, last_seen_at=s.last_seen_at))
    resolved: dict[str, int] = defaultdict(int)
    for name in session.scalars(select(UnisFinding.branch).where(UnisFinding.resolved_at >= start,
                                                                 UnisFinding.resolved_at < end,
                                                                 UnisFinding.historic.is_(historic))):
        resolved[name or UNKNOWN_BRANCH] += 1
    rule_order = {rule: i for i, rule in enumerate(PROBLEMS)}
    result = []
    for name in sorted(set(grouped) | set(resolved), key=lambda n: (n == UNKNOWN_BRANCH, n)):
        if branch is not None and not branch_matches(name, branch):
            continue
        lines = sorted(grouped.get(name, []), key=lambda f: (
            not f.is_new, f.customer_code, natural_order(f.contract_no), natural_order(f.line_no), rule_order.get(f.rule, 99)))
        result.append(BranchFindings(branch=name, findings=tuple(lines), resolved_today=resolved.get(name, 0)))
    return result


def historic_open(session: Session) -> int:
    """Open findings on lines done long before the audit saw them: one figure for the digest and
    `bot audit-unis`, never a list to the branches (a first import of a full extract)."""
    return session.scalar(select(func.count()).select_from(UnisFinding).where(
        UnisFinding.historic.is_(True), UnisFinding.resolved_at.is_(None))) or 0


def branch_matches(name: str, wanted: str) -> bool:
    """渋谷 finds 渋谷支店; full-width and spacing do not matter."""

    def norm(text: str) -> str:
        return "".join(unicodedata.normalize("NFKC", text).split())

    name, wanted = norm(name), norm(wanted)
    return bool(wanted) and (name == wanted or name == wanted + "支店" or name.removesuffix("支店") == wanted)
