"""What the console's pages show, as plain values: thin views render these.

Reads only. The labels are those of the digest (:mod:`bot.digest`); the held-mail queue has
the predicate and order of :func:`bot.actions.queue.open_items` (``bot manual list``), with a limit
and a count (tests/test_web_pages.py checks that they agree).
"""

from __future__ import annotations

import datetime as dt
import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from bot.actions.queue import held_where, why
from bot.config import Config
from bot.db.models import QUARANTINED, STORED, Mail
from bot.digest import KIND_LABELS, UNKNOWN_KIND_LABEL, branch_of
from bot.domain import vocab
from bot.web.search import branch_condition, index_missing, keyword_condition

PAGE_SIZE = 50

# The decision filter: value → (label, CSS class). 隔離 and 未判定 are statuses, not decisions.
_DECISION_CLASSES = {"accepted": "ok", "rejected": "ng", "manual": "hold", "ignored": "muted", "quarantined": "bad",
                     "undecided": "muted"}
DECISIONS: dict[str, tuple[str, str]] = {k: (label, _DECISION_CLASSES[k]) for k, label in vocab.DECISIONS.items()}
KINDS: dict[str, str] = dict(vocab.KINDS)
UNKNOWN_BRANCH = "支店不明"
CORPORATE_BRANCH = "法人営業"
_WEEKDAYS = "月火水木金土日"


def decision_key(m: Mail) -> str:
    if m.status == QUARANTINED:
        return "quarantined"
    if m.status == STORED or not m.decision:
        return "undecided"
    return m.decision


def time_label(moment: dt.datetime | None, tz: dt.tzinfo, *, with_year: bool = True) -> str:
    if moment is None:
        return ""
    local = moment.astimezone(tz)
    return local.strftime("%Y/%m/%d %H:%M" if with_year else "%m/%d %H:%M")


def day_label(day: dt.date) -> str:
    return f"{day:%Y/%m/%d}（{_WEEKDAYS[day.weekday()]}）"


def branch_directory(cfg: Config) -> tuple[tuple[str, str], ...]:
    """(domain, 支店名) from ``[branches] file``, longest domain first (as the digest groups);
    法人営業's domains (``[corporate] senders``) after them."""
    corporate = tuple((s.lower().lstrip("."), CORPORATE_BRANCH) for s in cfg.corporate.senders if "@" not in s)
    if not cfg.branches.file:
        return corporate
    from bot.domain.branches import load_directory

    entries = load_directory(cfg.branches.file).values()
    return tuple(sorted(((b.domain.lower(), b.name) for b in entries), key=lambda item: -len(item[0]))) + corporate


def learned_branches(session: Session, directory: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """`directory` and, for a sender domain it does not know, the branch its mails name (the
    body's 送付支店名): aoyama.usen.co.jp → 青山支店, so a 差戻 from that domain without the line
    shows 青山支店 too (the most frequent name per domain)."""
    counts: dict[str, dict[str, int]] = {}
    for from_addr, name in session.execute(select(Mail.from_addr, Mail.facts["branch"].as_string())
                                           .where(Mail.facts["branch"].as_string().is_not(None))):
        domain = (from_addr or "").rpartition("@")[2].lower().strip()
        if domain and name and name.strip():
            counts.setdefault(domain, {}).setdefault(name.strip(), 0)
            counts[domain][name.strip()] += 1
    known = {d for d, _ in directory}
    learned = tuple((d, max(names, key=names.__getitem__)) for d, names in counts.items()
                    if not any(d == k or d.endswith("." + k) for k in known))
    return tuple(directory) + tuple(sorted(learned, key=lambda item: -len(item[0])))


def branch_label(name: str) -> tuple[str, str]:
    """(what the page shows, its title): a domain label nobody named (``mx``) is 支店不明."""
    if name and not name.isascii():
        return name, ""
    return UNKNOWN_BRANCH, name

def held_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Mail).where(held_where())) or 0


# -- the mail list (受信一覧) ---------------------------------------------------------------

@dataclass(frozen=True)
class MailFilter:
    """The list's filters, from the query string; a value that does not parse is dropped and
    named in ``problems`` (shown above the list), never a 500."""

    day: dt.date | None = None
    kind: str = ""
    decision: str = ""
    branch: str = ""
    code: str = ""
    q: str = ""
    page: int = 1
    problems: tuple[str, ...] = ()

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> MailFilter:
        problems: list[str] = []
        day = None
        if params.get("day", "").strip():
            try:
                day = dt.date.fromisoformat(params["day"].strip())
            except ValueError:
                problems.append(f"日付「{params['day'][:20]}」が読めません（YYYY-MM-DD）")
        kind = params.get("kind", "").strip()
        if kind and kind not in KINDS:
            problems.append("種別の指定が不正です")
            kind = ""
        decision = params.get("decision", "").strip()
        if decision and decision not in DECISIONS:
            problems.append("判定の指定が不正です")
            decision = ""
        try:
            page = max(1, min(int(params.get("page", "1") or 1), 100_000))
        except ValueError:
            page = 1
        return cls(day=day, kind=kind, decision=decision, branch=params.get("branch", "").strip()[:100],
                   code=_digits(params.get("code", ""))[:9], q=params.get("q", "").strip()[:200], page=page,
                   problems=tuple(problems))

    def query(self, **changes: Any) -> dict[str, str]:
        """These filters as query parameters (for links to other pages or days)."""
        values = {"day": self.day.isoformat() if self.day else "", "kind": self.kind, "decision": self.decision,
                  "branch": self.branch, "code": self.code, "q": self.q, "page": str(self.page)}
        values.update({k: str(v) for k, v in changes.items()})
        return {k: v for k, v in values.items() if v and not (k == "page" and v == "1")}


def _digits(text: str) -> str:
    """A customer code as typed (全角数字, spaces, hyphens) → its digits."""
    folded = unicodedata.normalize("NFKC", text or "")
    return "".join(c for c in folded if c.isascii() and c.isdigit())


@dataclass(frozen=True)
class MailRow:
    id: int
    received: str
    from_addr: str
    subject: str
    decision: str
    decision_label: str
    decision_class: str
    defects: tuple[str, ...]
    warnings: tuple[str, ...]
    kind_label: str
    customer_code: str
    branch: str
    resolved: bool
    branch_title: str = ""  # the domain label when the branch is not known by name
    defect_names: tuple[tuple[str, str], ...] = ()  # (code, its name), for the title and the text
    warning_names: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class MailPage:
    rows: tuple[MailRow, ...]
    total: int
    page: int
    pages: int
    filters: MailFilter
    branches: tuple[str, ...] = field(default=())


def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _branch_condition(branch: str, cfg: Config, directory: Sequence[tuple[str, str]]) -> ColumnElement[bool]:
    """The mails :func:`bot.digest.branch_of` puts in `branch`, as SQL (same order of rules)."""
    conds: list[ColumnElement[bool]] = [Mail.facts["branch"].as_string() == branch]
    for domain, name in directory:
        if name == branch:
            conds += [Mail.from_addr.ilike(f"%@{_like(domain)}", escape="\\"),
                      Mail.from_addr.ilike(f"%.{_like(domain)}", escape="\\")]
    label = branch.lower()
    if label and "." not in label and "@" not in label:
        for allowed in cfg.senders.allowed_domains:
            conds.append(and_(Mail.from_addr.ilike(f"%@{_like(label)}.%", escape="\\"),
                              Mail.from_addr.ilike(f"%.{_like(allowed.lower().lstrip('.'))}", escape="\\")))
    elif "." in label:
        conds.append(Mail.from_addr.ilike(f"%@{_like(label)}", escape="\\"))
    return or_(*conds) if conds else false()


def _where(f: MailFilter, cfg: Config, directory: Sequence[tuple[str, str]]) -> list[ColumnElement[bool]]:
    tz = cfg.office.tz
    where: list[ColumnElement[bool]] = []
    if f.day is not None:
        start = dt.datetime.combine(f.day, dt.time(0), tzinfo=tz)
        where += [Mail.received_at >= start, Mail.received_at < start + dt.timedelta(days=1)]
    if f.kind == "unknown":
        where.append(or_(Mail.kind.is_(None), Mail.kind.not_in(list(KIND_LABELS))))
    elif f.kind:
        where.append(Mail.kind == f.kind)
    if f.decision == "quarantined":
        where.append(Mail.status == QUARANTINED)
    elif f.decision == "undecided":
        where.append(Mail.status == STORED)
    elif f.decision:
        where += [Mail.decision == f.decision, Mail.status != QUARANTINED]
    if f.code:
        where.append(Mail.customer_code == f.code if len(f.code) == 9
                     else Mail.customer_code.like(f"{_like(f.code)}%", escape="\\"))
    if f.q:
        where.append(or_(keyword_condition(f.q), Mail.from_addr.icontains(f.q, autoescape=True),
                         Mail.message_id.icontains(f.q, autoescape=True)))
    if f.branch:
        where.append(or_(_branch_condition(f.branch, cfg, directory), branch_condition(f.branch, cfg, directory)))
    return where


def mail_page(session: Session, f: MailFilter, *, cfg: Config, directory: Sequence[tuple[str, str]] = (),
              write: sessionmaker[Session] | None = None) -> MailPage:
    """One page of mails, newest first, with the filters applied (index ix_mails_received).
    With a keyword, mails not yet in the search's text table are added to it first (`write`)."""
    if f.q and write is not None:
        index_missing(write, session, cfg)
    where = _where(f, cfg, directory)
    total = session.scalar(select(func.count()).select_from(Mail).where(*where)) or 0
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(f.page, pages)
    mails = session.scalars(select(Mail).where(*where).order_by(Mail.received_at.desc(), Mail.id.desc())
                            .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
    return MailPage(tuple(mail_row(m, cfg, directory) for m in mails), total, page, pages, f)


def mail_rows(session: Session, f: MailFilter, *, cfg: Config, directory: Sequence[tuple[str, str]] = (),
              write: sessionmaker[Session] | None = None, limit: int) -> tuple[list[MailRow], int]:
    """Every mail the filters find (not one page: the CSV export), newest first, at most
    `limit`; with the count of all that match."""
    if f.q and write is not None:
        index_missing(write, session, cfg)
    where = _where(f, cfg, directory)
    total = session.scalar(select(func.count()).select_from(Mail).where(*where)) or 0
    mails = session.scalars(select(Mail).where(*where).order_by(Mail.received_at.desc(), Mail.id.desc()).limit(limit))
    return [mail_row(m, cfg, directory) for m in mails], total


def mail_row(m: Mail, cfg: Config, directory: Sequence[tuple[str, str]] = ()) -> MailRow:
    key = decision_key(m)
    label, css = DECISIONS[key]
    branch, branch_title = branch_label(branch_of(m.from_addr, m.facts, directory=directory,
                                                  allowed_domains=cfg.senders.allowed_domains))
    defects = tuple(str(d.get("code", "")) for d in m.defects or [])
    warnings = tuple(str(w.get("code", "")) for w in m.warnings or [])
    return MailRow(
        id=m.id, received=time_label(m.received_at, cfg.office.tz), from_addr=m.from_addr or "（不明）",
        subject=m.subject or "（件名なし）", decision=key, decision_label=label, decision_class=css,
        defects=defects, warnings=warnings,
        defect_names=tuple((c, vocab.code_name(c)) for c in defects),
        warning_names=tuple((c, vocab.code_name(c)) for c in warnings),
        kind_label=KIND_LABELS.get(m.kind or "", UNKNOWN_KIND_LABEL) if m.kind or m.decision else "",
        customer_code=m.customer_code or "",
        branch=branch, branch_title=branch_title, resolved=m.resolved_at is not None,
    )


# -- the manual queue (保留) ---------------------------------------------------------------

@dataclass(frozen=True)
class HeldRow:
    row: MailRow
    status_label: str  # 保留 / 隔離
    reason: str
    waiting: str  # how long it has waited, e.g. 3日
    unsure: tuple[str, ...]
    reason_key: str = "other"  # its group in HOLD_REASONS
    claimed_by: str = ""  # 対応中: the person's login name
    claimed_since: str = ""  # how long they have had it, e.g. 15分


QUEUE_LIMIT = 200  # rows the queue page lists; the header's count is always the whole queue

# Why a mail was held, in groups a person filters by (the reasons themselves are sentences
# of bot.decide, bot.pipeline and the scan reader). Checked top to bottom; the first match wins.
HOLD_REASONS: Mapping[str, str] = {
    "quarantined": "隔離（処理エラー）", "scan": "スキャンの確認", "auth": "送信者の確認",
    "unread": "添付を読み取れない", "ledger": "管理台帳・発注の確認", "scope": "自動判定の対象外", "other": "その他",
}


def hold_reason(status: str | None, reason: str | None, shape: str | None, oversize: object) -> str:
    text = reason or ""
    if status == QUARANTINED:
        return "quarantined"
    if shape == "scanned" or "スキャン" in text:
        return "scan"
    if "認証" in text:
        return "auth"
    if oversize or "読み取れません" in text or "上限" in text:
        return "unread"
    if "管理台帳" in text or "発注" in text:
        return "ledger"
    if "対象外" in text or "法人" in text:
        return "scope"
    return "other"


def _reason_keys(session: Session) -> dict[int, str]:
    """Every held mail's reason group, oldest first, from four small columns (no row's whole facts)."""
    rows = session.execute(select(Mail.id, Mail.status, Mail.facts["reason"].as_string(),
                                  Mail.facts["form_shape"].as_string(), Mail.facts["oversize"].as_string())
                           .where(held_where()).order_by(Mail.received_at, Mail.id))  # oldest first
    return {mail_id: hold_reason(status, reason, shape, oversize) for mail_id, status, reason, shape, oversize in rows}


def held_rows(session: Session, *, cfg: Config, now: dt.datetime,
              directory: Sequence[tuple[str, str]] = (), ids: Sequence[int] | None = None,
              reasons: Mapping[int, str] | None = None, limit: int = QUEUE_LIMIT) -> list[HeldRow]:
    """The held mails, oldest first, as :func:`bot.actions.queue.open_items` orders them (at most
    `limit`, QUEUE_LIMIT on the page: a person works from the top); `ids`: only these."""
    out = []
    query = select(Mail).where(held_where())
    if ids is not None:
        query = query.where(Mail.id.in_(list(ids)[:limit]))
    for m in session.scalars(query.order_by(Mail.received_at, Mail.id).limit(limit)):
        facts = m.facts or {}
        out.append(HeldRow(mail_row(m, cfg, directory), vocab.DECISIONS["quarantined" if m.status == QUARANTINED else "manual"],
                           vocab.plain(why(m)), waiting_label(now - m.received_at),
                           tuple(vocab.field_name(n) for n in facts.get("form_unsure") or ()),
                           (reasons or {}).get(m.id) or hold_reason(m.status, facts.get("reason"), facts.get("form_shape"),
                                                                    facts.get("oversize")),
                           m.claimed_by or "", _since(now, m.claimed_at)))
    return out


def held_page(session: Session, *, cfg: Config, now: dt.datetime, directory: Sequence[tuple[str, str]] = (),
              reason: str = "", limit: int = QUEUE_LIMIT) -> tuple[list[HeldRow], dict[str, int]]:
    """The queue filtered by a reason group (oldest first), with the count of every group."""
    keys = _reason_keys(session)
    counts = {key: 0 for key in HOLD_REASONS}
    for key in keys.values():
        counts[key] += 1
    ids = [i for i, key in keys.items() if key == reason] if reason else None
    return held_rows(session, cfg=cfg, now=now, directory=directory, ids=ids, reasons=keys, limit=limit), counts


def _since(now: dt.datetime, at: dt.datetime | None) -> str:
    """How long ago someone took a mail: たった今, 15分前, 2時間前."""
    if at is None:
        return ""
    return "たった今" if now - at < dt.timedelta(minutes=1) else waiting_label(now - at) + "前"


def waiting_label(waited: dt.timedelta) -> str:
    """How long a mail has waited, as a person says it: 10分, 3時間, 2日."""
    minutes = max(0, int(waited.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes}分"
    if minutes < 24 * 60:
        return f"{minutes // 60}時間"
    return f"{minutes // (24 * 60)}日"
