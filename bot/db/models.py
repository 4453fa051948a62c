"""Database tables (SQLAlchemy 2 typed models). Alembic migrations in ``migrations/`` mirror these.

One row per inbound mail (:class:`Mail`), the outbox of every mail the bot sends
(:class:`OutboxMessage`), the UNIS order extract (:class:`UnisOrder`), the vendor work queue
(:class:`VendorRow`, :class:`VendorBatch`) and the management ledger (管理台帳:
:class:`LedgerEntry` + :class:`LedgerEvent`).
The console's and the daemon's own tables are in bot/db/console_models.py (re-exported here);
the base and the statuses in bot/db/base.py.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column


from bot.db.base import DECIDED, FILED, QUARANTINED, STORED, Base, UtcDateTime
from bot.db.console_models import (  # re-exported: every table is importable from here
    ADMIN,
    STAFF,
    AuditEntry,
    Heartbeat,
    JobRun,
    TemplateVersion,
    User,
    WebSession,
)

__all__ = [
    "ADMIN", "DECIDED", "FILED", "QUARANTINED", "STAFF", "STORED", "AuditEntry", "Base", "CorporateNumber",
    "CorporateSite", "Heartbeat", "JobRun", "LedgerEntry", "LedgerEvent", "Mail", "MailText", "OfficeTask", "OutboxMessage",
    "ReplyCount", "ScanShadow", "TemplateVersion", "UnisFinding", "UnisOrder", "User", "UtcDateTime", "VendorBatch",
    "VendorRow", "WebSession",
]


class Mail(Base):
    """One inbound mail. Keyed by its IMAP location and by a hash of its Message-ID."""

    __tablename__ = "mails"
    __table_args__ = (
        UniqueConstraint("folder", "uidvalidity", "uid", name="uq_mails_location"),
        Index("ix_mails_decision", "decision"),
        # The runner's restart query (unfinished rows of a folder, by status) reads this index
        # instead of walking every row's raw mail (overflow pages in SQLite).
        Index("ix_mails_folder_status", "folder", "uidvalidity", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    folder: Mapped[str] = mapped_column(String(200))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    # sha256 of the normalised Message-ID, or of the raw bytes when there is none.
    msgid_hash: Mapped[str] = mapped_column(String(64), unique=True)
    message_id: Mapped[str | None] = mapped_column(Text)
    # Deferred: listings (digest, manual queue, runner) never drag every PDF into memory;
    # the pipeline loads it when it reads the mail.
    raw: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    subject: Mapped[str | None] = mapped_column(Text)
    from_addr: Mapped[str | None] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(20), default=STORED)
    kind: Mapped[str | None] = mapped_column(String(40))
    customer_code: Mapped[str | None] = mapped_column(String(9), index=True)
    decision: Mapped[str | None] = mapped_column(String(20))
    defects: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    warnings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    filed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    filed_folder: Mapped[str | None] = mapped_column(String(200))
    # A person closed a held (manual/quarantined) mail: it leaves the digest's queue.
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(100))
    resolution: Mapped[str | None] = mapped_column(Text)
    # 対応中: the person who took this held mail in the console, and since when (migration 0015);
    # only they act on it until they or an admin release it.
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # Times this mail's reader process crashed or ran over its limits (ReaderFailed), committed
    # after each failure: at `[limits] reader_attempts` it is quarantined (bot/pipeline/claim.py).
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Times a bot process died while this mail was the ONLY one in its hands (claimed, not
    # decided): at `[limits] solo_deaths` it is quarantined. Deaths while it was one of a block
    # in hand count nothing (block_deaths, a record) and only make it a suspect, decided alone.
    solo_deaths: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    block_deaths: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The claim on this mail's IMAP MOVE (host:pid:start, when): of several bot processes on one
    # mailbox, only the holder moves it (migration 0008; bot/daemon/runner.py).
    filing_by: Mapped[str | None] = mapped_column(String(200))
    filing_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # The claim on reading and deciding it (bot/db/claims.py): the mail is in its holder's hands;
    # a holder found dead with it still stored is a death (bot/pipeline/claim.py).
    reading_by: Mapped[str | None] = mapped_column(String(200))
    reading_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class OutboxMessage(Base):
    """A mail to send, written in the same transaction as the decision that caused it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mail_id: Mapped[int | None] = mapped_column(ForeignKey("mails.id"))
    purpose: Mapped[str] = mapped_column(String(30))  # reply | vendor_batch | digest
    # What the mail is the one of, for once-only mails: e.g. "digest:2026-11-24".
    ref: Mapped[str | None] = mapped_column(String(100), index=True)
    message_id: Mapped[str] = mapped_column(String(300), unique=True)
    mail_from: Mapped[str] = mapped_column(String(320))
    rcpt_to: Mapped[list[str]] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(Text)
    raw: Mapped[bytes] = mapped_column(LargeBinary)  # the exact bytes to send
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|sending|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # host:pid:start-time of the process holding the claim: a dead holder's claim is taken
    # over at once by a process on the same host (bot.actions.outbox.owner_alive).
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    # When the claim's holder began handing the row to the SMTP server (committed just before
    # MAIL FROM; cleared by each claim): a holder that died after it may have delivered it.
    handed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # Claims taken over from such a holder: each may have left one copy at the server. Sent
    # again after one; after two it is not sent a third time (failed, for a person: bot/actions/outbox.py).
    takeovers: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class UnisOrder(Base):
    """One contract line (契約明細) of the daily UNIS order extract."""

    __tablename__ = "unis_orders"
    __table_args__ = (UniqueConstraint("customer_code", "contract_no", "line_no", name="uq_unis_line"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_code: Mapped[str] = mapped_column(String(9), index=True)  # 顧客番号
    contract_no: Mapped[str] = mapped_column(String(20))  # 契約番号
    line_no: Mapped[str] = mapped_column(String(20))  # 明細番号
    item_code: Mapped[str | None] = mapped_column(String(20))  # 契約品目
    item_name: Mapped[str | None] = mapped_column(Text)  # 品目名
    status: Mapped[str] = mapped_column(String(10))  # 契約状態: 受注/確定/キャンセル/解約
    shop_name: Mapped[str | None] = mapped_column(Text)  # 店舗名
    branch: Mapped[str | None] = mapped_column(Text)  # 管轄支店
    contract_type: Mapped[str | None] = mapped_column(Text)  # 契約種類
    acquisition: Mapped[str | None] = mapped_column(String(10))  # 獲得区分: 地区/法人
    planned_date: Mapped[dt.date | None] = mapped_column(Date)  # 完成予定日
    confirmed_date: Mapped[dt.date | None] = mapped_column(Date)  # 確定日
    serial: Mapped[str | None] = mapped_column(String(40))  # シリアルNo
    remarks: Mapped[str | None] = mapped_column(Text)  # 明細備考
    cancel_date: Mapped[dt.date | None] = mapped_column(Date)  # キャンセル日
    termination_date: Mapped[dt.date | None] = mapped_column(Date)  # 解約日
    source_file: Mapped[str | None] = mapped_column(Text)
    source_line: Mapped[int | None] = mapped_column(Integer)
    imported_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class VendorBatch(Base):
    """One daily batch mail to the vendor; its id is stamped on every row it carries."""

    __tablename__ = "vendor_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_date: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))
    row_count: Mapped[int] = mapped_column(Integer, default=0)


class VendorRow(Base):
    """One line of work for the vendor (新規/子機/キャンセル/解約/移設/変更/強制解約)."""

    __tablename__ = "vendor_rows"
    __table_args__ = (Index("ix_vendor_rows_unsent", "batch_id", "cancelled_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mail_id: Mapped[int | None] = mapped_column(ForeignKey("mails.id"))
    customer_code: Mapped[str] = mapped_column(String(9), index=True)
    category: Mapped[str] = mapped_column(String(10))  # 区分
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)  # 受付日時
    batch_date: Mapped[dt.date] = mapped_column(Date)  # the business day whose batch should carry it
    ship_date: Mapped[dt.date | None] = mapped_column(Date)  # 出荷予定日
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("vendor_batches.id"))
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class LedgerEntry(Base):
    """管理台帳: one row per customer code, with its state machine."""

    __tablename__ = "ledger"

    customer_code: Mapped[str] = mapped_column(String(9), primary_key=True)
    state: Mapped[str] = mapped_column(String(30))
    shop_name: Mapped[str | None] = mapped_column(Text)
    plus: Mapped[bool] = mapped_column(Boolean, default=False)
    ssid: Mapped[str | None] = mapped_column(Text)
    parent_units: Mapped[int | None] = mapped_column(Integer)
    child_units: Mapped[int | None] = mapped_column(Integer)
    router_not_removed: Mapped[bool] = mapped_column(Boolean, default=False)
    termination_date: Mapped[dt.date | None] = mapped_column(Date)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class LedgerEvent(Base):
    """The history behind a ledger row: what moved it, from which mail, when."""

    __tablename__ = "ledger_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_code: Mapped[str] = mapped_column(ForeignKey("ledger.customer_code"), index=True)
    mail_id: Mapped[int | None] = mapped_column(ForeignKey("mails.id"))
    event: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str | None] = mapped_column(String(30))
    to_state: Mapped[str] = mapped_column(String(30))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class ReplyCount(Base):
    """Replies sent per sender per hour, to cap a runaway exchange with one address."""

    __tablename__ = "reply_counts"
    __table_args__ = (UniqueConstraint("address", "hour", name="uq_reply_counts"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(String(320))
    hour: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    count: Mapped[int] = mapped_column(Integer, default=0)


# The console's mail list pages newest first over every mail (migration 0005).
Index("ix_mails_received", Mail.received_at, Mail.id)


class UnisFinding(Base):
    """One UNIS registration finding (bot/unis/audit.py, manual §VIII and FAQ 4–8) on one UNIS
    line: open while the extracts still show it; ``resolved_at`` once a later import no longer
    does; ``first_seen_at`` starts again if it comes back. Migration 0009."""

    __tablename__ = "unis_findings"
    __table_args__ = (
        UniqueConstraint("rule", "customer_code", "contract_no", "line_no", name="uq_unis_findings_line"),
        Index("ix_unis_findings_open", "resolved_at", "branch"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule: Mapped[str] = mapped_column(String(40))  # e.g. UNIS_SERIAL_FORMAT
    customer_code: Mapped[str] = mapped_column(String(9))  # 顧客番号
    contract_no: Mapped[str] = mapped_column(String(20))  # 契約番号
    line_no: Mapped[str] = mapped_column(String(20))  # 明細番号
    branch: Mapped[str | None] = mapped_column(Text)  # 管轄支店
    shop_name: Mapped[str | None] = mapped_column(Text)
    item_code: Mapped[str | None] = mapped_column(String(20))
    item_name: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="")  # 契約状態 when last seen
    value: Mapped[str] = mapped_column(Text, default="")  # the offending value
    problem: Mapped[str] = mapped_column(Text, default="")  # what is wrong (Japanese)
    fix: Mapped[str] = mapped_column(Text, default="")  # what to fix, in the manual's words
    first_seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # The line was confirmed (or due) long before the audit first saw this finding ([unis]
    # audit_window_days): not the branches' work now; counted, never listed (migration 0016).
    historic: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class CorporateSite(Base):
    """One site (設置先) of an accepted 法人一括発注依頼 (manual §IX, bot/corporate/): the corporate
    part of the 管理台帳. ``customer_code`` once known (in the list, or from a UNIS line carrying
    one of its management numbers). Migration 0011."""

    __tablename__ = "corporate_sites"
    __table_args__ = (Index("ix_corporate_sites_key", "site_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mail_id: Mapped[int | None] = mapped_column(ForeignKey("mails.id"))
    list_row: Mapped[int] = mapped_column(Integer)  # row in the customer list as a spreadsheet shows it
    customer_code: Mapped[str | None] = mapped_column(String(9), index=True)
    site_key: Mapped[str] = mapped_column(Text)  # normalised 店舗名 + 住所: duplicates across lists
    shop_name: Mapped[str] = mapped_column(Text)
    address: Mapped[str] = mapped_column(Text)
    phone: Mapped[str] = mapped_column(Text, default="")
    parent_units: Mapped[int] = mapped_column(Integer)
    child_units: Mapped[int] = mapped_column(Integer)
    enterprise: Mapped[bool] = mapped_column(Boolean, default=False)
    ssid: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class CorporateNumber(Base):
    """A 6-digit management number (管理番号), one per router of a corporate site; unique and
    never reused (rows are never deleted). ``serial`` once a confirmed UNIS line carries it."""

    __tablename__ = "corporate_numbers"

    number: Mapped[str] = mapped_column(String(6), primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("corporate_sites.id"), index=True)
    role: Mapped[str] = mapped_column(String(10))  # 親機 / 子機
    vendor_row_id: Mapped[int | None] = mapped_column(ForeignKey("vendor_rows.id"))
    serial: Mapped[str | None] = mapped_column(String(40))
    unis_contract_no: Mapped[str | None] = mapped_column(String(20))
    unis_line_no: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    linked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class ScanShadow(Base):
    """A held scan a person finished (受付 / 差戻 / 対応済み) beside what the bot had read and would
    have decided, had scans been allowed to decide (issue 19 point 6; bot/actions/scan_shadow.py,
    ``bot scans report``). One row per mail: finishing it again records nothing. Migration 0013."""

    __tablename__ = "scan_shadows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mail_id: Mapped[int] = mapped_column(ForeignKey("mails.id"), unique=True)
    form_kind: Mapped[str] = mapped_column(String(20))  # dedicated | integrated | termination
    finished_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    finished_by: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(20))  # the person's: accepted | rejected | done
    bot_decision: Mapped[str] = mapped_column(String(20))  # the bot's would-be: accept | reject | hold
    bot_defects: Mapped[list[str]] = mapped_column(JSON, default=list)  # codes of the would-be decision
    person_defects: Mapped[list[str]] = mapped_column(JSON, default=list)  # codes of the person's 差戻
    # field → {"value", "state", "sure": the bot's; "person": the final value, "source": typed | kept | None}
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class MailText(Base):
    """What the console's search reads of a mail (issue 21 point 4): its subject, sender,
    body text and attachment names, NFKC-folded and lower-cased, so full-width digits and
    half-width kana find what was written either way. Filled by the console when it searches
    (bot/web/search.py), from the stored raw mail; the raw mail stays the record. Migration 0014."""

    __tablename__ = "mail_texts"

    mail_id: Mapped[int] = mapped_column(ForeignKey("mails.id", ondelete="CASCADE"), primary_key=True)
    text: Mapped[str] = mapped_column(Text)


class OfficeTask(Base):
    """Work a mail leaves to 事務センター itself (issue 23 point 4): an Original SSID to confirm in
    UNIS (Z200549), a 登録通知書 to send again. Open until a person marks it done in the console
    (audited); the digest lists the open ones. Migration 0017."""

    __tablename__ = "office_tasks"
    __table_args__ = (Index("ix_office_tasks_open", "done_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))  # unis_ssid | notice_resend (bot/actions/tasks.py)
    customer_code: Mapped[str] = mapped_column(String(9))
    mail_id: Mapped[int | None] = mapped_column(ForeignKey("mails.id"))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # e.g. {"ssid": "..."}
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    done_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    done_by: Mapped[str | None] = mapped_column(String(100))

