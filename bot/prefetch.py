"""Reading ahead: while one mail is decided, the next mails' PDFs are already being read.

Reading (PDF unlock and text, OCR of a scan) runs in the reader processes (bot/workers.py), so
with a pool of N readers the next N mails are read on the other cores while this process decides
and acts. Deciding stays one mail at a time, in the order the mails arrived, one transaction
each: two mails for one customer are still decided in order, and nothing of the crash
guarantees changes (a reading is only a value; the attempt is counted when the mail is decided).
The window is small, so at most a few raw mails are held in memory.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from bot.decide import FirstLook
from bot.gather import Attachments
from bot.mail import InboundMail
from bot.workers import ReaderFailed

log = logging.getLogger("bot.prefetch")


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
