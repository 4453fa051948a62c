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

The package: :mod:`~bot.digest.model` (the values), :mod:`~bot.digest.collect` (reading them),
:mod:`~bot.digest.send` (rendering, the outbox, the scheduler's job), and
:mod:`~bot.digest.samples` (the templates' sample data). ``bot digest`` is
bot/commands/digest.py; the console reads the same labels and :func:`branch_of`.
"""

from bot.digest.collect import branch_of, collect
from bot.digest.model import (
    KIND_LABELS,
    KIND_ORDER,
    LIST_LIMIT,
    MANUAL_QUEUE_DAYS,
    OUTBOX_STATUS_LABELS,
    PURPOSE,
    PURPOSE_LABELS,
    TERMINATION_HORIZON_BUSINESS_DAYS,
    UNKNOWN_KIND_LABEL,
    BatchLine,
    BranchGroup,
    BreakageLine,
    DefectLine,
    Digest,
    DigestData,
    DigestError,
    KindCount,
    LedgerLine,
    MailLine,
    OutboxProblem,
    QuarantineLine,
    ScanRowLine,
)
from bot.digest.send import (
    CATCH_UP_DAYS,
    already_sent,
    build_digest,
    days_to_report,
    digest_job,
    digest_message,
    digest_ref,
    outbox_status,
    render,
    require_recipients,
    send_digest,
)

__all__ = [
    "CATCH_UP_DAYS", "KIND_LABELS", "KIND_ORDER", "LIST_LIMIT", "MANUAL_QUEUE_DAYS", "OUTBOX_STATUS_LABELS",
    "PURPOSE", "PURPOSE_LABELS", "TERMINATION_HORIZON_BUSINESS_DAYS", "UNKNOWN_KIND_LABEL", "BatchLine",
    "BranchGroup", "BreakageLine", "DefectLine", "Digest", "DigestData", "DigestError", "KindCount", "LedgerLine",
    "MailLine", "OutboxProblem", "QuarantineLine", "ScanRowLine", "already_sent", "branch_of", "build_digest",
    "collect", "days_to_report", "digest_job", "digest_message", "digest_ref", "outbox_status", "render",
    "require_recipients", "send_digest",
]
