"""The read stage: a stored mail parsed, its first look taken (bot/decide/first_look.py) and
the PDFs its kind needs read in the reader processes; and reading ahead: while one mail is
decided, the next mails' PDFs are already being read.

Reading (PDF unlock and text, OCR of a scan) runs in the reader processes (bot/forms/workers.py), so
with a pool of N readers the next N mails are read on the other cores while this process decides
and acts. Deciding stays one mail at a time, in the order the mails arrived, one transaction
each: two mails for one customer are still decided in order, and nothing of the crash
guarantees changes (a reading is only a value; the attempt is counted when the mail is decided).
The window is small, so at most a few raw mails are held in memory.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from bot import db
from bot.checks.base import RuleSettings
from bot.config import Config
from bot.db.models import STORED, Mail
from bot.decide import FirstLook
from bot.forms.reader import PdfReader
from bot.forms.workers import ReaderFailed
from bot.mail import InboundMail, parse_mail
from bot.pipeline.claim import HAND_BLOCK, Hands
from bot.pipeline.gather import Attachments, look, read_attachments

log = logging.getLogger("bot.pipeline.read")

# Mails read ahead per reader process: a buffer for the stretches where deciding is slower
# than reading (a ledger write, a reply), so the readers never wait for the decider.
READ_AHEAD = 3


@dataclass(frozen=True)
class ReadAhead:
    """A stored mail parsed, its first look taken and its PDFs read, or the reader's failure
    (counted when decided)."""

    mail: InboundMail
    attachments: Attachments | None
    failure: ReaderFailed | None = None
    first: FirstLook | None = None


class Prefetcher:
    """Reads `ids` ahead of :meth:`get`, at most `window` mails ahead, on `threads` threads."""

    def __init__(self, read_one: Callable[[int], ReadAhead | None], ids: Sequence[int], *, window: int,
                 threads: int) -> None:
        self._read_one = read_one
        self._ids = list(ids)
        self._position = {mail_id: i for i, mail_id in enumerate(self._ids)}
        self._window = max(window, 0)
        self._next = 0
        self._futures: dict[int, Future[ReadAhead | None]] = {}
        self._pool = ThreadPoolExecutor(max_workers=max(threads, 1), thread_name_prefix="read-ahead") \
            if self._window else None

    def __enter__(self) -> Prefetcher:
        self._fill(0)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _fill(self, position: int) -> None:
        if self._pool is None:
            return
        while self._next < len(self._ids) and self._next <= position + self._window:
            mail_id = self._ids[self._next]
            self._futures[mail_id] = self._pool.submit(self._safe, mail_id)
            self._next += 1

    def _safe(self, mail_id: int) -> ReadAhead | None:
        try:
            return self._read_one(mail_id)
        except Exception:  # noqa: BLE001 - reading ahead is an optimisation: the decision reads again
            # One line (the database being away is the usual cause: the pass itself then says
            # so); the traceback only when debugging.
            err = sys.exc_info()[1]
            log.warning("mail %s: reading ahead failed (%s: %s); it is read when decided", mail_id,
                        type(err).__name__, " ".join(str(err).split())[:200])
            log.debug("reading ahead failed", exc_info=True)
            return None

    def get(self, mail_id: int) -> ReadAhead | None:
        """This mail's reading (waiting for it), and the next ones set going."""
        if mail_id in self._position:
            self._fill(self._position[mail_id])
        future = self._futures.pop(mail_id, None)
        return future.result() if future is not None else None

    def close(self) -> None:
        for future in self._futures.values():
            future.cancel()
        self._futures.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


class ClaimingPrefetcher(Prefetcher):
    """A :class:`Prefetcher` that takes mails into hand before reading them: when a read starts
    on a mail not claimed yet, it and the next `block` - 1 mails of the list are claimed in one
    committed transaction. At the end, mails claimed and never decided are given back."""

    def __init__(self, hands: Hands, read: Callable[[int], ReadAhead | None], ids: Sequence[int], *, window: int,
                 threads: int, block: int) -> None:
        super().__init__(self._read_claimed, ids, window=window, threads=threads)
        self._hands, self._read = hands, read
        self._list = list(ids)
        self._index = {mail_id: i for i, mail_id in enumerate(self._list)}
        self._block = max(block, 1)
        self._done: set[int] = set()  # claimed (or found not ours) by a block of this list
        self._lock = threading.Lock()

    def _read_claimed(self, mail_id: int) -> ReadAhead | None:
        with self._lock:
            if mail_id not in self._done:
                start = self._index[mail_id]
                block = [i for i in self._list[start:start + self._block] if i not in self._done]
                self._hands.claim(block, alone=False)
                self._done.update(block)
        if not self._hands.holds(mail_id):
            return None  # not ours (another process has it, or a suspect): decided alone, read then
        return self._read(mail_id)

    def close(self) -> None:
        super().close()  # waits for the reads under way
        self._hands.release(self._hands.drop(self._done))


class Reading:
    """The read stage of the pipeline (before the decision's transaction, so a slow PDF never
    holds SQLite's write lock)."""

    def __init__(self, cfg: Config, factory: sessionmaker[Session], settings: RuleSettings, reader: PdfReader,
                 hands: Hands) -> None:
        self.cfg, self.factory, self.settings, self.reader, self.hands = cfg, factory, settings, reader, hands

    def read(self, mail_id: int) -> ReadAhead | None:
        """A stored mail parsed, its first look taken, its PDFs read; None: not to read (gone,
        decided, or over mail_bytes). A reader's failure is returned, counted when decided."""
        with db.reading(self.factory) as session:
            row = session.get(Mail, mail_id)
            if row is None or row.status != STORED or (row.facts or {}).get("oversize"):
                return None
            raw = row.raw
        mail = parse_mail(raw, self.cfg.limits)
        first = look(mail, cfg=self.cfg, settings=self.settings)
        try:
            return ReadAhead(mail, read_attachments(mail, cfg=self.cfg, settings=self.settings, first=first,
                                                    reader=self.reader), first=first)
        except ReaderFailed as err:
            return ReadAhead(mail, None, err, first=first)

    def read_alone(self, mail_id: int) -> ReadAhead | None:
        """:meth:`read`, for a mail not read ahead; None on a bug (read again inside the decision,
        which quarantines on it)."""
        try:
            return self.read(mail_id)
        except db.UNAVAILABLE:
            raise
        except Exception:  # noqa: BLE001 - read again inside the decision, which quarantines on a bug
            log.debug("mail %s: reading before the decision failed", mail_id, exc_info=True)
            return None

    def prefetch(self, mail_ids: Sequence[int]) -> Prefetcher:
        """Read these stored mails' PDFs ahead of deciding them, on the other reader processes.

        A mail is taken into hand (claimed, committed) before it is read ahead, with the next
        mails of the list, :data:`bot.pipeline.claim.HAND_BLOCK` or more at a time.
        """
        pool = self.reader.pool
        size = pool.size if pool is not None else 0
        return ClaimingPrefetcher(self.hands, self.read, mail_ids, window=READ_AHEAD * size,
                                  threads=size, block=max(HAND_BLOCK, READ_AHEAD * size))
