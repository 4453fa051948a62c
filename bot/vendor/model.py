"""The vendor batch's vocabulary and values: the 区分 of a vendor row, the CSV columns, what a
batch returns, its errors; the office calendar and the lock every batch builder takes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from bot import db
from bot.config import OfficeConfig
from bot.domain import vocab
from bot.domain.calendar import BusinessCalendar
from bot.vendor.forms import (
    VendorBatchError as VendorBatchError,  # defined below the package (form_pdfs)
)

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
EXCHANGE = "交換"  # ルーター交換依頼 (manual V), from テクニカルサポート課
NOTICE_RESEND = "登録通知書再発送"  # 登録通知書発送依頼 (manual IV), from the support center
CATEGORIES = (NEW, CHILD, CANCEL, TERMINATE, RELOCATE, CHANGE, EXCHANGE, NOTICE_RESEND, FORCED_TERMINATION)
SSID_SETTING = "SSID設定"  # OriginalSSID追加申請 (manual IV): the router rewritten (counted after CATEGORIES)
CORPORATE_NEW = "法人新規"  # a router of a corporate bulk order (bot/corporate), kept apart in the batch
# What a キャンセル申請 cancels: a corporate site's routers too (a cancelled site must not ship).
ORDER_CATEGORIES = (NEW, CHILD, CORPORATE_NEW)
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

# LedgerEvent.event → what the vendor reads in 最終イベント (the office's words: bot/domain/vocab.py).
EVENT_LABELS: Mapping[str, str] = vocab.LEDGER_EVENTS


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


# -- calendar ---------------------------------------------------------------------------------

def vendor_calendar(office: OfficeConfig) -> BusinessCalendar:
    # Same as bot.pipeline.gather.calendar_from; built here because the pipeline imports this module.
    return BusinessCalendar(tz=office.tz, cutoff=office.cutoff_time, company_holidays=office.company_holiday_dates)


# -- locking ----------------------------------------------------------------------------------

def lock_batch(session: Session) -> None:
    """Serialise batch builders until the caller's transaction ends: the second waits, then
    sees the first one's committed rows as sent."""
    db.serialise(session, "vendor-batch")
