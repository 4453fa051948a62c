"""The pipeline a mail flows through once, composed of its stages:

    store (commit)  →  claim (commit)  →  read  →  decide + act (commit)  →  file
    store.py           claim.py           read.py  decision.py, act.py     filing.py

Deciding is pure (`gather` reads, `decide` judges); acting happens in one transaction per
mail together with the decision; the IMAP move comes only after that commit (the runner's).
Every step is safe to repeat after a crash, and a mail the bot fails on is quarantined with its
error (quarantine.py) while the others carry on. Each stage is its own object; the processor
only passes a mail from one to the next.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence

from sqlalchemy.orm import Session, sessionmaker

from bot import db
from bot.db.claims import process_token
from bot.config import Config
from bot.db.models import Mail
from bot.forms.reader import PdfReader
from bot.forms.workers import ReaderFailed, shared_pool
from bot.pipeline import claim
from bot.pipeline import store as storing
from bot.pipeline.act import Acting
from bot.pipeline.decision import Deciding
from bot.pipeline.filing import Filing
from bot.pipeline.gather import settings_from
from bot.pipeline.outcome import Outcome
from bot.pipeline.quarantine import Quarantining
from bot.pipeline.read import Prefetcher, ReadAhead, Reading
from bot.pipeline.store import Incoming, StoredMail
from bot.templating import Templates

log = logging.getLogger("bot.pipeline")


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Processor:
    """Stores mails, decides them and acts on them (one transaction per mail), and records their
    filing; the daemon, the demo, `bot reprocess` and the console's 再処理 use it."""

    def __init__(self, cfg: Config, factory: sessionmaker[Session], templates: Templates | None = None,
                 clock: Callable[[], dt.datetime] = _utc_now) -> None:
        self.cfg, self.factory = cfg, factory
        self.templates = templates or Templates()
        self.settings = settings_from(cfg)
        self.calendar = self.settings.calendar
        self.owner = process_token()  # who holds this process's claims (bot/db/claims.py)
        self.hands = claim.Hands(factory, self.owner)  # the mails in hand (bot/pipeline/claim.py)
        # PDFs are read in reader processes bounded in memory and time (bot/forms/workers.py).
        reader = PdfReader(cfg.pdf.password, cfg.limits, pool=shared_pool(cfg.limits))
        self.reading = Reading(cfg, factory, self.settings, reader, self.hands)
        self.acting = Acting(cfg, self.settings, self.templates, self.calendar)
        self.deciding = Deciding(cfg, factory, self.settings, reader, self.acting, self._now)
        self.quarantining = Quarantining(factory, self.owner, cfg.limits, self._now)
        self.filing = Filing(factory, self._now)
        self._clock = clock

    # The clock and the reader are shared by the stages; set here, every stage sees the new one.
    def _now(self) -> dt.datetime:
        return self._clock()

    @property
    def clock(self) -> Callable[[], dt.datetime]:
        return self._clock

    @clock.setter
    def clock(self, clock: Callable[[], dt.datetime]) -> None:
        self._clock = clock

    @property
    def reader(self) -> PdfReader:
        return self.reading.reader

    @reader.setter
    def reader(self, reader: PdfReader) -> None:
        self.reading.reader = self.deciding.reader = reader

    # -- store ---------------------------------------------------------------------------
    def store(self, raw: bytes, *, folder: str, uidvalidity: int, uid: int, arrived_at: dt.datetime | None = None,
              oversize: int | None = None) -> StoredMail:
        """Record the raw mail and commit; say what the row is now (bot/pipeline/store.py)."""
        (result,) = self.store_many([Incoming(raw, folder, uidvalidity, uid, arrived_at, oversize)])
        if isinstance(result, Exception):
            raise result
        return result

    def store_many(self, mails: Sequence[Incoming]) -> list[StoredMail | Exception]:
        """Several fetched mails stored in one commit, each as :meth:`store` would."""
        return storing.store_many(self.factory, mails, limits=self.cfg.limits, now=self._now)

    # -- claim + read ----------------------------------------------------------------------
    def warm_up(self) -> None:
        """Start the reader processes before any mail is taken into hand (bot/pipeline/claim.py)."""
        self.hands.warm_up(self.reader.pool)

    def prefetch(self, mail_ids: Sequence[int]) -> Prefetcher:
        """Read these stored mails ahead of deciding them (a block taken into hand first)."""
        return self.reading.prefetch(mail_ids)

    def read_ahead(self, mail_id: int) -> ReadAhead | None:
        return self.reading.read(mail_id)

    def suspects(self, mail_ids: Iterable[int]) -> set[int]:
        """Of these stored mails, those in hand at an earlier death of a bot process: the runner
        decides them alone. Dead processes' claims on them are buried first."""
        return claim.suspects(self.factory, mail_ids, dt.datetime.now(dt.UTC))

    # -- decide + act ----------------------------------------------------------------------
    def process(self, mail_id: int, ahead: ReadAhead | None = None) -> Outcome | None:
        """Decide a stored mail and act, in one transaction. None when it was not ours to do
        (already decided, or another process holds it).

        The mail is in this process's hands (claimed, committed) before it is read: taken by
        :meth:`prefetch` with a block of mails read ahead, else here, alone. What counts against
        it (bot/pipeline/claim.py): a reader that crashes or overruns its limits (tried again at
        once; quarantined at `reader_attempts` failures), and deaths of the bot while it was
        alone in hand (quarantined at `solo_deaths`, without being read again). A death while a
        block was in hand counts nothing; the runner then decides those mails alone.
        """
        limits = self.cfg.limits
        if self.hands.take(mail_id) is None and not self.hands.claim([mail_id], alone=True,
                                                                     deaths_below=limits.solo_deaths):
            # Not ours (another process has it), or the bot died with it alone in hand
            # `solo_deaths` times: then quarantined without being taken into hand again.
            return self.quarantining.quarantine(mail_id, None)
        while True:
            try:
                # Read before the decision's transaction, so a slow PDF never holds SQLite's
                # write lock (the outbox marks a sent reply sent under it, right after the 250).
                return self.deciding.decide(mail_id, ahead or self.reading.read_alone(mail_id))
            except db.UNAVAILABLE:
                # The database is locked or gone: not this mail's fault. The pass ends, the
                # watcher backs off and the mail is decided on a later pass, not quarantined.
                self.hands.release([mail_id])
                raise
            except ReaderFailed as err:
                failures = self.hands.reader_failed(mail_id)
                log.warning("mail %s: reader failed (%d of %d): %s", mail_id, failures, limits.reader_attempts,
                            err.detail)
                if failures >= limits.reader_attempts:
                    return self.quarantining.quarantine(mail_id, err)
            except Exception as err:  # noqa: BLE001 - one bad mail never blocks the others
                return self.quarantining.quarantine(mail_id, err)
            ahead = None  # a second attempt reads the mail again itself

    def decide_row(self, session: Session, row: Mail) -> Outcome:
        """Decide `row` (locked by the caller, set back to stored) and act, in the caller's
        transaction: an operator's redo of a quarantined mail (bot/actions/reprocess.py)."""
        return self.deciding.decide_row(session, row)

    # -- quarantine + file -----------------------------------------------------------------
    def hold_vanished(self, mail_id: int) -> None:
        """A stored mail left the folder before it was decided: hold it for a person."""
        self.quarantining.hold_vanished(mail_id)

    def mark_filed(self, mail_id: int, folder: str) -> None:
        self.filing.mark_filed_many({mail_id: folder})

    def mark_filed_many(self, folders: Mapping[int, str]) -> None:
        """Mark these mails filed (mail id → the folder it was moved to), in one commit."""
        self.filing.mark_filed_many(folders)

    def filing_targets(self, mail_ids: Iterable[int]) -> dict[int, str | None]:
        """Where each of these mails is to be filed; None when it is not decided yet."""
        return self.filing.targets(mail_ids)
