"""The daily vendor batch (発注データ): one mail a day to ファイバーゲート社 carrying every vendor
row not sent yet (a CSV) and the ledger rows changed since the last batch (管理台帳 日次共有).

Exactly once, across crashes and restarts, rests on one transaction (:func:`build_batch`):

    lock → queue forced terminations → take the unsent rows → create the VendorBatch →
    stamp its id on the rows → render the mail → enqueue it in the outbox → outbox_id

Before the commit nothing happened (a crash rolls all of it back and the next run starts
over); after it, the rows carry the batch id so no later batch takes them again, and the one
outbox row is delivered by :mod:`bot.actions.outbox` with retries. The outbox's own gap (the server
accepted, the process died before marking the row sent) resends *the same bytes with the same
Message-ID* after the claim lease: the vendor may see one batch twice, never a row in two
different batches. The mail names its batch number so the vendor can tell a resend.

Two processes: on PostgreSQL a transaction-scoped advisory lock serialises batch builders and
the rows are read with ``FOR UPDATE SKIP LOCKED`` (a row another transaction is changing, e.g.
a cancellation, waits for the next batch); on SQLite the first statement is a write, which
takes the database's write lock for the whole transaction. Whatever the back end, rows are
stamped with ``UPDATE … WHERE batch_id IS NULL AND cancelled_at IS NULL`` and the count must
match, so a row can never be stamped twice.

The package: :mod:`~bot.vendor.model` (区分, columns, results, the lock),
:mod:`~bot.vendor.terminations` (強制解約), :mod:`~bot.vendor.csvfiles` (the CSV files),
:mod:`~bot.vendor.batch` (build, preview, send, the scheduler's job), :mod:`~bot.vendor.cancel`
(the cancellation rule) and :mod:`~bot.vendor.samples` (the template's sample data).
``bot vendor-batch`` is bot/commands/vendor_batch.py.
"""

from bot.vendor.batch import (
    LEDGER_SHARE_OVERLAP,
    build_batch,
    preview_batch,
    run_vendor_batch,
    vendor_batch_job,
)
from bot.vendor.cancel import COST, NONE, REMOVED, CancelOutcome, cancel_order
from bot.vendor.csvfiles import (
    REPLACEMENT_CHAR,
    corporate_csv_name,
    csv_name,
    ledger_csv_name,
)
from bot.vendor.csvfiles import (
    mime_charset as mime_charset,  # bot/web/ledger_queries.py
)
from bot.vendor.model import (
    CANCEL,
    CATEGORIES,
    CHANGE,
    CHILD,
    COLUMNS,
    EVENT_LABELS,
    EXCHANGE,
    FORCED_TERMINATION,
    FORCED_TERMINATION_BUSINESS_DAY,
    LEDGER_COLUMNS,
    NEW,
    NOTICE_RESEND,
    ORDER_CATEGORIES,
    PAYLOAD_COLUMNS,
    PURPOSE,
    RELOCATE,
    SENDER_NAME,
    TEMPLATE,
    TERMINATE,
    TERMINATION_CATEGORIES,
    UNIS_TERMINATED,
    BatchConflict,
    BatchResult,
    Replacement,
    VendorBatchError,
)
from bot.vendor.model import (
    vendor_calendar as vendor_calendar,  # the tests build the office calendar with it
)
from bot.vendor.terminations import (
    SAME_TERMINATION_WINDOW,
    forced_termination_day,
    queue_forced_terminations,
)

__all__ = [
    "CANCEL", "CATEGORIES", "CHANGE", "CHILD", "COLUMNS", "COST", "EVENT_LABELS", "EXCHANGE", "FORCED_TERMINATION",
    "FORCED_TERMINATION_BUSINESS_DAY", "LEDGER_COLUMNS", "LEDGER_SHARE_OVERLAP", "NEW", "NONE", "NOTICE_RESEND", "ORDER_CATEGORIES",
    "PAYLOAD_COLUMNS", "PURPOSE", "RELOCATE", "REMOVED", "REPLACEMENT_CHAR", "SAME_TERMINATION_WINDOW", "SENDER_NAME", "TEMPLATE",
    "TERMINATE", "TERMINATION_CATEGORIES", "UNIS_TERMINATED", "BatchConflict", "BatchResult", "CancelOutcome",
    "Replacement", "VendorBatchError", "build_batch", "cancel_order", "corporate_csv_name", "csv_name",
    "forced_termination_day",
    "ledger_csv_name", "preview_batch", "queue_forced_terminations", "run_vendor_batch", "vendor_batch_job",
]
