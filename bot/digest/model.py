"""The digest's values: what the templates see (plain frozen dataclasses), and the labels
and limits the collecting uses. No database, no templates here."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.domain import classify, vocab
from bot.templating import Breakage

PURPOSE = "digest"  # OutboxMessage.purpose

# The order of DESIGN.md's request table; labels are the subject prefixes branches write.
KIND_ORDER = (
    classify.EQUIPMENT_ORDER, classify.CONTRACT_CHANGE, classify.CANCELLATION, classify.TERMINATION,
    classify.ROUTER_NOT_REMOVED, classify.RELOCATION, classify.TERMINATION_WITHDRAWAL,
)
KIND_LABELS = classify.LABELS
UNKNOWN_KIND_LABEL = vocab.UNKNOWN_KIND

# How far back the manual queue lists mails one by one; older unresolved ones are counted, not
# listed. A person closes an item with `bot manual resolve ID`, and it leaves the queue.
MANUAL_QUEUE_DAYS = 30
# Terminations due: 解約日 within this many business days from the digest's day.
TERMINATION_HORIZON_BUSINESS_DAYS = 5
# Long lists are cut (a phone screen, and a mail size): the rest is counted.
LIST_LIMIT = 50

OUTBOX_STATUS_LABELS = vocab.OUTBOX_STATUSES
PURPOSE_LABELS = vocab.OUTBOX_PURPOSES


class DigestError(Exception):
    """The digest cannot be sent (e.g. no recipients configured); the message names the key."""


# -- values the templates see ---------------------------------------------------------------

class Detail(dict[str, Any]):
    """A defect's details; a key an older row lacks reads as 不明 instead of failing the
    whole digest under StrictUndefined."""

    def __missing__(self, key: str) -> str:
        return "不明"


@dataclass(frozen=True)
class DefectLine:
    """A stored defect or warning: what templates/_defects.j2's ``explain`` macro takes."""

    code: str
    detail: Mapping[str, Any]

    @property
    def name(self) -> str:
        """The code as staff read it (bot/domain/vocab.py): the digest shows this, never the code."""
        return vocab.code_name(self.code)


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
    mail_id: int | None = None  # the mail whose scan review (/manual/ID) takes the values


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
    # What makes `bot status` unhealthy, as the daemon sees it when it sends the digest (issue 12).
    health_problems: tuple[str, ...] = ()
    # UNIS registration findings per branch (manual §VIII; bot/unis/audit.py), new ones first.
    unis_findings: tuple[Any, ...] = ()
    # Open findings on lines done long before the audit saw them ([unis] audit_window_days):
    # one figure, never listed to the branches (a first import of a full extract).
    unis_historic: int = 0
    unis_window_days: int = 30
    # The office's own tasks not done yet (bot/actions/tasks.py): Original SSID to confirm in
    # UNIS, 登録通知書 to send; listed until a person marks them done in the console.
    office_tasks: tuple[Any, ...] = ()
    # The month so far, branches by 差戻 rate, highest first (bot/digest/monthly.py).
    branch_rates: tuple[Any, ...] = ()

    @property
    def attention(self) -> int:
        """What a person must act on: the manual queue, quarantine, outbox, templates."""
        return (len(self.manual) + self.manual_not_listed + self.quarantined_total + self.outbox_problems_total
                + len(self.breakages) + len(self.health_problems) + sum(g.new_count for g in self.unis_findings))

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

