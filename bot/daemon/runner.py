"""One pass over the mailbox: the glue between IMAP intake and the pipeline.

For every mail in the watched folder:
  1. not recorded yet → FETCH (BODY.PEEK[]) and store the raw bytes, committed;
  2. stored, not decided → decide and act (one transaction);
  3. decided → MOVE to its folder, then mark it filed (in chunks of a pass: one MOVE per
     target folder, then one commit marking the chunk filed).
A crash between any two steps is finished by the next pass; nothing is answered twice
because a mail's decision and its reply are committed together, before the move.

A pass costs what is new, not what the folder holds (issue 8: a folder of 50,000 processed
mails). The runner remembers, per (folder, UIDVALIDITY), the highest UID it has listed and the
UIDs still open (stored, decided or quarantined but not filed; not stored because storing
failed). A pass then asks the server only for UIDs above that mark plus the open ones
(``UID SEARCH UID n:*,open UNDELETED``) and loads from the database only those rows. The
first pass of a runner (a restart), the first after a failed pass, and one every
:attr:`MailboxRunner.full_sync_seconds` compare the whole folder with the database instead:
one UID listing, the database's UIDs of the folder (an index-only read) and the unfinished
rows queried by status, so a crash at any point is still finished and no old mail is fetched.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import groupby

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, sessionmaker

from bot import db
from bot.db.claims import process_token
from bot.db import claims
from bot.db.models import DECIDED, FILED, QUARANTINED, STORED, Mail
from bot.intake import Mailbox
from bot.pipeline.filing import FOLDERS
from bot.pipeline.outcome import Outcome
from bot.pipeline.processor import Processor
from bot.pipeline.store import Incoming

log = logging.getLogger("bot.daemon.runner")

DUPLICATE_FOLDER = FOLDERS["ignored"]
# SQLite allows 32,766 bound parameters per statement; stay well under for `uid IN (...)`.
_IN_CHUNK = 500
# Up to this long (random) before the suspects of a pass are decided (_pause_before_suspects).
SUSPECT_JITTER_SECONDS = 1.5


@dataclass
class PassReport:
    seen: int = 0
    stored: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    duplicates: int = 0
    filed: int = 0
    store_failures: int = 0
    full_sync: bool = False  # this pass compared the whole folder with the database
    stages: dict[str, float] = field(default_factory=dict)  # seconds: fetch_store, decide, file
    # Mails older than [mailbox] since / max_age_days left in the folder (a full listing's count).
    left_alone: int | None = None


@dataclass
class _FolderState:
    """What the runner knows of one (folder, UIDVALIDITY) between passes."""

    high: int  # every UID up to this one was listed by an earlier pass
    open: set[int]  # UIDs listed but not finished (not stored, or stored and not filed)
    synced_at: float  # monotonic time of the last full comparison


@dataclass
class MailboxRunner:
    processor: Processor
    folder: str = "INBOX"
    # A full comparison of folder and database this often even when nothing failed: a safety
    # net (another bot process, a person's moves) for a few hundred ms on a 50,000-mail folder.
    full_sync_seconds: float = 15 * 60.0
    # Decided mails are filed (one MOVE per target folder, one commit) once this many are
    # waiting, or once the first of them has waited this long (a backlog of slow scans).
    file_chunk: int = 100
    file_seconds: float = 5.0
    # Fetched mails stored in one commit (each in its own savepoint).
    store_chunk: int = 25
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    # Set on SIGTERM: the pass finishes the mail in hand, files what is decided, and ends; the
    # rest waits in the folder for the next start (a graceful stop within seconds, whatever
    # the backlog).
    stop: threading.Event | None = field(default=None, repr=False)
    _states: dict[int, _FolderState] = field(default_factory=dict, init=False, repr=False)

    def handle(self, mbox: Mailbox) -> PassReport:
        uidvalidity = mbox.uidvalidity
        try:
            return self._handle(mbox, uidvalidity)
        except BaseException:
            # Whatever the pass did not finish is found again by a full comparison next time.
            self._states.pop(uidvalidity, None)
            raise

    def _handle(self, mbox: Mailbox, uidvalidity: int) -> PassReport:
        report = PassReport()
        state = self._states.get(uidvalidity)
        if state is not None and self.clock() - state.synced_at >= self.full_sync_seconds:
            state = None
        if state is None:
            # Other UIDVALIDITYs of this folder are gone for good (the server renumbered it).
            self._states.clear()
            report.full_sync = True
            uids, known, finished = self._full_listing(mbox, uidvalidity)
            high = uids[-1] if uids else 0
            synced_at = self.clock()
        else:
            uids, known, finished = self._delta_listing(mbox, uidvalidity, state)
            high = max(state.high, uids[-1] if uids else 0)
            synced_at = state.synced_at
        report.seen = len(uids)
        present = set(uids) | mbox.old_uids  # history left alone is there, just not ours
        report.left_alone = len(mbox.old_uids) if report.full_sync else None
        self._reconcile_moved(known, present)
        new = [u for u in uids if u not in known and u not in finished]
        not_stored: set[int] = set()
        duplicates: list[int] = []
        started = time.monotonic()
        batch: list[Incoming] = []

        def store_batch() -> None:
            # One commit for the batch, each mail in its own savepoint (bot/pipeline/store.py).
            try:
                results = self.processor.store_many(batch)
            except db.UNAVAILABLE:
                raise  # the database is away: end the pass, the watcher retries after a backoff
            except Exception:
                log.exception("could not store %d mail(s) (uids %s); they stay in %s and are retried next pass",
                              len(batch), [m.uid for m in batch], self.folder)
                results = [RuntimeError("not stored")] * len(batch)
            for item, stored in zip(batch, results, strict=True):
                if isinstance(stored, Exception):
                    log.error("uid %s: could not store the mail (%s); it stays in %s and is retried next pass",
                              item.uid, type(stored).__name__, self.folder)
                    report.store_failures += 1
                    not_stored.add(item.uid)
                    continue
                report.stored += int(stored.is_new)
                if stored.duplicate:
                    duplicates.append(item.uid)  # a second copy of a mail already handled: never answer it again
                else:
                    known[item.uid] = (stored.mail_id, stored.status)
            batch.clear()

        for message in mbox.fetch_messages(new):
            if self._stopping():
                break
            batch.append(Incoming(message.raw, self.folder, uidvalidity, message.uid, message.internal_date,
                                  message.size if message.truncated else None))
            if len(batch) >= self.store_chunk:
                store_batch()
        if batch:
            store_batch()
        if duplicates:
            log.info("filing %d duplicate mail(s) to %s: %s", len(duplicates), DUPLICATE_FOLDER, duplicates)
            mbox.file_away_many(duplicates, DUPLICATE_FOLDER)
            report.duplicates = len(duplicates)
        report.stages["fetch_store"] = time.monotonic() - started
        started = time.monotonic()
        # Only what may still need work: stored, decided or quarantined and not filed.
        todo = [uid for uid in uids if uid in known and known[uid][1] != FILED]
        # Suspects (in a bot process's hands when it died, found by its claims: bot/pipeline/claim.py)
        # are decided alone, with nothing else in hand, so that if one of them kills the bot
        # again the death is its own; the others in runs, their PDFs read ahead on the other
        # reader processes (bot/pipeline/read.py). Deciding stays one mail at a time, in arrival order.
        self.processor.warm_up()
        suspects = self.processor.suspects(known[uid][0] for uid in todo if known[uid][1] == STORED)
        filer = _Filer(self.processor, mbox, report, self.clock, self.file_chunk, self.file_seconds)
        for alone, run in groupby(todo, key=lambda uid: known[uid][0] in suspects):
            if self._stopping():
                break
            run = list(run)
            if alone:
                self._pause_before_suspects()
            stored_ids = [] if alone else [known[uid][0] for uid in run if known[uid][1] == STORED]
            with self.processor.prefetch(stored_ids) as ahead:
                for uid in run:
                    mail_id, status = known[uid]
                    if status == STORED and self._stopping():
                        break
                    if status == STORED:
                        outcome = self.processor.process(mail_id, ahead.get(mail_id))
                        if outcome is not None:
                            report.outcomes.append(outcome)
                    filer.add(uid, mail_id)
        filer.flush()
        report.stages["file"] = filer.seconds_spent
        report.stages["decide"] = time.monotonic() - started - filer.seconds_spent
        # Still open (not decided: another process holds it): look again next pass.
        not_stored |= filer.open
        self._states[uidvalidity] = _FolderState(high=high, open=not_stored, synced_at=synced_at)
        return report

    def _pause_before_suspects(self) -> None:
        """A moment of random length before deciding mails in hand at an earlier death: kills from
        outside at a steady time after each start (a service manager's timeout, a periodic OOM)
        would otherwise land on the same lone suspect at every restart and quarantine a healthy
        mail for solo deaths; a mail that kills the bot itself still does so whenever it is read."""
        delay = random.uniform(0.0, SUSPECT_JITTER_SECONDS)
        if self.stop is not None:
            self.stop.wait(delay)
        else:
            time.sleep(delay)

    def _stopping(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    # -- listing ---------------------------------------------------------------------------
    def _full_listing(self, mbox: Mailbox, uidvalidity: int) -> tuple[list[int], dict[int, tuple[int, str]], set[int]]:
        """Every UID in the folder; the unfinished rows of the folder (by status, also when their
        mail is gone); and the UIDs whose rows are finished (never fetched again)."""
        uids = mbox.list_uids()
        where = (Mail.folder == self.folder, Mail.uidvalidity == uidvalidity)
        with db.reading(self.processor.factory) as session:
            known = {uid: (mail_id, status) for uid, mail_id, status in session.execute(
                select(Mail.uid, Mail.id, Mail.status).where(*where, _unfinished()))}
            # Index-only (uq_mails_location): which UIDs have a row at all.
            finished = set(session.scalars(select(Mail.uid).where(*where)))
        finished.difference_update(known)
        return uids, known, finished

    def _delta_listing(self, mbox: Mailbox, uidvalidity: int,
                       state: _FolderState) -> tuple[list[int], dict[int, tuple[int, str]], set[int]]:
        """UIDs above the mark plus the open ones still there; the rows of those UIDs and of
        the open ones (an open row whose mail left the folder is reconciled)."""
        uids = mbox.list_uids_from(state.high + 1, also=state.open)
        wanted = sorted(set(uids) | state.open)
        known: dict[int, tuple[int, str]] = {}
        with db.reading(self.processor.factory) as session:
            for chunk in _chunks(wanted, _IN_CHUNK):
                rows = session.execute(select(Mail.uid, Mail.id, Mail.status).where(
                    Mail.folder == self.folder, Mail.uidvalidity == uidvalidity, Mail.uid.in_(chunk)))
                known.update((uid, (mail_id, status)) for uid, mail_id, status in rows)
        return uids, known, set()

    # -- doing -----------------------------------------------------------------------------
    def _reconcile_moved(self, known: dict[int, tuple[int, str]], present: set[int]) -> None:
        """Rows whose UID left the folder without the bot moving it (as far as the DB knows).

        Decided: the move happened and only its mark was lost (all such marks in one commit).
        Stored but never decided (the bot stopped in between and a person then moved or
        deleted the mail): held for a person, so it shows in the digest instead of waiting for
        ever.
        """
        gone = [(uid, mail_id, status) for uid, (mail_id, status) in known.items() if uid not in present]
        decided = [mail_id for _, mail_id, status in gone if status == DECIDED]
        if decided:
            targets = self.processor.filing_targets(decided)
            self.processor.mark_filed_many({m: f for m, f in targets.items() if f is not None})
        for _, mail_id, status in gone:
            if status == STORED:
                self.processor.hold_vanished(mail_id)


class _Filer:
    """Files the mails of a pass in chunks: one MOVE per target folder, then one commit that
    marks them all filed. A crash between the MOVE and the mark leaves decided rows whose UID
    left the folder: the next pass marks them (:meth:`MailboxRunner._reconcile_moved`)."""

    def __init__(self, processor: Processor, mbox: Mailbox, report: PassReport, clock: Callable[[], float],
                 chunk: int, seconds: float) -> None:
        self.processor, self.mbox, self.report, self.clock = processor, mbox, report, clock
        self.chunk, self.seconds = max(chunk, 1), seconds
        self.pending: list[tuple[int, int]] = []  # (uid, mail id)
        self.open: set[int] = set()  # UIDs found not decided: still open
        self.since = 0.0
        self.seconds_spent = 0.0  # in MOVEs and their commits (the report's "file" stage)
        self.owner = process_token()

    def add(self, uid: int, mail_id: int) -> None:
        if not self.pending:
            self.since = self.clock()
        self.pending.append((uid, mail_id))
        if len(self.pending) >= self.chunk or self.clock() - self.since >= self.seconds:
            self.flush()

    def flush(self) -> None:
        started = time.monotonic()
        try:
            self._flush()
        finally:
            self.seconds_spent += time.monotonic() - started

    def _flush(self) -> None:
        pending, self.pending = self.pending, []
        if not pending:
            return
        targets = self.processor.filing_targets(mail_id for _, mail_id in pending)
        by_folder: dict[str, list[tuple[int, int]]] = {}
        for uid, mail_id in pending:
            if mail_id not in targets:
                continue  # filed already (or no row): nothing to do
            folder = targets[mail_id]
            if folder is None:
                self.open.add(uid)
            else:
                by_folder.setdefault(folder, []).append((uid, mail_id))
        claimed = _claim_filing(self.processor.factory, [m for items in by_folder.values() for _, m in items],
                                self.owner)
        for folder in list(by_folder):
            mine = [(uid, mail_id) for uid, mail_id in by_folder[folder] if mail_id in claimed]
            # Another process is moving the rest: look again next pass (gone by then: reconciled).
            self.open.update(uid for uid, mail_id in by_folder[folder] if mail_id not in claimed)
            if mine:
                by_folder[folder] = mine
            else:
                del by_folder[folder]
        for folder, items in by_folder.items():
            self.mbox.file_away([uid for uid, _ in items], folder)
        self.processor.mark_filed_many({mail_id: folder for folder, items in by_folder.items()
                                        for _, mail_id in items})
        self.report.filed += sum(len(items) for items in by_folder.values())


def _claim_filing(factory: sessionmaker[Session], mail_ids: list[int], owner: str) -> set[int]:
    """Of several bot processes listing the same decided mail, only one moves it (two MOVEs of
    one UID from two sessions can leave two copies in the target folder): bot/db/claims.py."""
    if not mail_ids:
        return set()
    with db.transaction(factory) as session:
        return claims.claim_filing(session, mail_ids, owner, dt.datetime.now(dt.UTC))


def _unfinished():
    """Rows a pass may still have to decide or file (what :class:`_Filer` files)."""
    return or_(Mail.status.in_((STORED, DECIDED)), and_(Mail.status == QUARANTINED, Mail.filed_at.is_(None)))


def _chunks(items: Sequence[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def summarise(outcomes: Sequence[Outcome]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.decision] = counts.get(o.decision, 0) + 1
    return counts
