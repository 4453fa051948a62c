"""One pass over the mailbox: the glue between IMAP intake and the pipeline.

For every UID in the watched folder:
  1. not recorded yet → FETCH (BODY.PEEK[]) and store the raw bytes, committed;
  2. stored, not decided → decide and act (one transaction);
  3. decided → MOVE to its folder, then mark it filed.
A crash between any two steps is finished by the next pass; nothing is answered twice
because a mail's decision and its reply are committed together, before the move.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.intake import Mailbox
from bot.models import DECIDED, FILED, QUARANTINED, STORED, Mail
from bot.pipeline import FOLDERS, Outcome, Processor, folder_for

log = logging.getLogger("bot.runner")

DUPLICATE_FOLDER = FOLDERS["ignored"]


@dataclass
class PassReport:
    seen: int = 0
    stored: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    duplicates: int = 0
    filed: int = 0
    store_failures: int = 0


@dataclass
class MailboxRunner:
    processor: Processor
    folder: str = "INBOX"

    def handle(self, mbox: Mailbox) -> PassReport:
        report = PassReport()
        uidvalidity = mbox.uidvalidity
        uids = mbox.list_uids()
        report.seen = len(uids)
        factory = self.processor.factory
        with factory() as session:
            known = {
                uid: (mail_id, status)
                for uid, mail_id, status in session.execute(
                    select(Mail.uid, Mail.id, Mail.status).where(
                        Mail.folder == self.folder, Mail.uidvalidity == uidvalidity
                    )
                )
            }
        self._reconcile_moved(known, set(uids))
        new = [u for u in uids if u not in known]
        duplicates: list[int] = []
        for message in mbox.fetch_messages(new):
            uid = message.uid
            try:
                stored = self.processor.store(message.raw, folder=self.folder, uidvalidity=uidvalidity,
                                              uid=uid, arrived_at=message.internal_date,
                                              oversize=message.size if message.truncated else None)
            except OperationalError:
                raise  # the database is away: end the pass, the watcher retries after a backoff
            except Exception:  # noqa: BLE001 - one mail that cannot be stored never blocks the others
                log.exception("uid %s: could not store the mail; it stays in %s and is retried next pass",
                              uid, self.folder)
                report.store_failures += 1
                continue
            report.stored += int(stored.is_new)
            if stored.duplicate:
                duplicates.append(uid)  # a second copy of a mail already handled: never answer it again
            else:
                known[uid] = (stored.mail_id, stored.status)
        if duplicates:
            log.info("filing %d duplicate mail(s) to %s: %s", len(duplicates), DUPLICATE_FOLDER, duplicates)
            mbox.file_away_many(duplicates, DUPLICATE_FOLDER)
            report.duplicates = len(duplicates)
        stored = [known[uid][0] for uid in uids if uid in known and known[uid][1] == STORED]
        # The next mails' PDFs are read on the other reader processes while one is decided
        # (bot/prefetch.py); deciding stays one mail at a time, in arrival order.
        with self.processor.prefetch(stored) as ahead:
            for uid in uids:
                if uid not in known:
                    continue
                mail_id, status = known[uid]
                if status == STORED:
                    outcome = self.processor.process(mail_id, ahead.get(mail_id))
                    if outcome is not None:
                        report.outcomes.append(outcome)
                self._file(mbox, mail_id, uid, report)
        return report

    def _file(self, mbox: Mailbox, mail_id: int, uid: int, report: PassReport) -> None:
        with self.processor.factory() as session:
            row = session.get(Mail, mail_id)
            if row is None or row.status not in (DECIDED, QUARANTINED, FILED) or row.filed_at is not None:
                return
            target = folder_for(row)
        mbox.file_away(uid, target)
        self.processor.mark_filed(mail_id, target)
        report.filed += 1

    def _reconcile_moved(self, known: dict[int, tuple[int, str]], present: set[int]) -> None:
        """Rows whose UID left the folder without the bot moving it (as far as the DB knows).

        Decided: the move happened and only its mark was lost. Stored but never decided (the
        bot stopped in between and a person then moved or deleted the mail): held for a person,
        so it shows in the digest instead of waiting for ever.
        """
        for uid, (mail_id, status) in known.items():
            if uid in present:
                continue
            if status == DECIDED:
                with self.processor.factory() as session:
                    row = session.get(Mail, mail_id)
                    folder = folder_for(row) if row is not None else None
                if folder is not None:
                    self.processor.mark_filed(mail_id, folder)
            elif status == STORED:
                self.processor.hold_vanished(mail_id)


def summarise(outcomes: Sequence[Outcome]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.decision] = counts.get(o.decision, 0) + 1
    return counts
