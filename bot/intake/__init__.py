"""IMAP intake: watch one mailbox folder, hand new mails to the pipeline, file them away after.

The flow a mail takes here (DESIGN.md, "Architecture"; paperless-ngx ``ProcessedMail``):

1. :meth:`Mailbox.list_uids` lists what is in the watched folder; the caller (the lead's
   pipeline) compares it with what the database already recorded for
   ``(folder, UIDVALIDITY, UID)``. A changed :attr:`Mailbox.uidvalidity` means the stored UIDs
   name other mails now: the caller must then fall back to the Message-ID hash so a mail
   already answered is never answered again.
2. :meth:`Mailbox.fetch` reads raw mails with ``BODY.PEEK[]`` (``RFC822`` would set ``\\Seen``
   and a human looking at the mailbox would lose the "unread" cue) in batches.
3. The caller stores the raw mail and commits, decides, commits the decision, and only then
   calls :meth:`Mailbox.file_away` (MOVE, or COPY + ``\\Deleted`` + EXPUNGE where MOVE is
   missing), once per target folder for a whole chunk of decided mails. A crash between the
   commits and the MOVE leaves the mail in the folder, where the database key makes the next
   pass skip straight to filing it.

:func:`watch` is the daemon loop around that: IDLE (poll where IDLE is missing), and reconnect
with exponential backoff after anything goes wrong, so one broken connection or one bad pass
never ends the daemon.

    settings.py   what the intake is told (MailboxSettings) and can say (errors, folder names)
    mailbox.py    one IMAP connection: list, fetch, file away
    waiting.py    IDLE or poll until the folder changes
    watch.py      the daemon loop: connect, handle, wait, reconnect with backoff
    connect.py    TLS and login (IMAP and SMTP), oauth2.py / oauth2_store.py the XOAUTH2 tokens

imapclient's byte keys (``b'BODY[]'``, ``b'UIDVALIDITY'``) stay inside this package.
"""

from __future__ import annotations

from bot.intake.mailbox import Mailbox
from bot.intake.settings import (
    FOLDERS,
    QUARANTINE,
    STOP_CHECK_SECONDS,
    TARGET_FOLDERS,
    FetchedMessage,
    HandlerUnavailable,
    IntakeCommandError,
    IntakeConnectionError,
    IntakeError,
    IntakeLoginError,
    IntakeTlsError,
    MailboxSettings,
    mailbox_settings,
)
from bot.intake.watch import watch

__all__ = [
    "FOLDERS", "QUARANTINE", "STOP_CHECK_SECONDS", "TARGET_FOLDERS", "FetchedMessage", "HandlerUnavailable",
    "IntakeCommandError", "IntakeConnectionError", "IntakeError", "IntakeLoginError", "IntakeTlsError", "Mailbox",
    "MailboxSettings", "mailbox_settings", "watch",
]
