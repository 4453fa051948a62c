"""Reader processes: where reading an attachment can be bounded and killed.

A PDF (later: an OCR'd scan) is read in a separate process with an address-space limit
(``RLIMIT_AS``) and a wall-clock deadline. Whatever the input does there (inflate a bomb,
loop in a page tree, crash a C library), the daemon only sees an answer, a
:class:`ReaderFailed`, or a :class:`ReaderTimedOut`, and carries on with the next mail; the
worker that failed is killed and replaced.

Workers come from a ``forkserver`` that has imported the readers once, so a replacement
starts in milliseconds, and the daemon's own threads (IMAP, scheduler) are never forked.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import multiprocessing.connection
import os
import resource
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from bot.config.limits import Limits

log = logging.getLogger("bot.forms.workers")

T = TypeVar("T")

# What a reader process imports before it forks workers (the expensive part of starting one).
PRELOAD = ["bot.forms"]
# A worker is replaced after this many jobs: a slow leak in a C library stays bounded.
JOBS_PER_WORKER = 500


class ReaderFailed(Exception):
    """The reader process died or broke its limits; ``limit`` names the limit when that is why."""

    def __init__(self, detail: str, *, limit: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.limit = limit


class ReaderTimedOut(ReaderFailed):
    """The reader did not answer within its deadline and was killed."""


def _serve(conn: multiprocessing.connection.Connection, memory_bytes: int) -> None:
    """A worker's life: apply the limits, then answer jobs until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # ^C is for the daemon, which stops us
    # One Tesseract/OpenMP thread per reader: on 2 cores its threads thrash (LAB-NOTES: 2.0 s a
    # page with the default, 0.6 s with one); pages run in parallel across readers instead.
    os.environ["OMP_THREAD_LIMIT"] = "1"
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    while True:
        try:
            fn, args, kwargs = conn.recv()
        except (EOFError, OSError):
            return
        try:
            reply: tuple[str, object] = ("ok", fn(*args, **kwargs))
        except MemoryError:
            reply = ("memory", "the reader ran out of its memory allowance")
        except BaseException as err:  # noqa: BLE001 - reported to the parent, which decides
            reply = ("error", f"{type(err).__name__}: {err}"[:2000])
        try:
            conn.send(reply)
        except Exception as err:  # noqa: BLE001 - an unpicklable result is a bug: say so
            conn.send(("error", f"result could not be sent: {type(err).__name__}: {err}"[:2000]))


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    conn: multiprocessing.connection.Connection
    jobs: int = 0

    def kill(self) -> None:
        try:
            self.conn.close()
        except OSError:
            pass
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)

    def death(self) -> str:
        self.process.join(timeout=1)
        code = self.process.exitcode
        if code is None:
            return "the reader process stopped answering"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:  # a signal number this platform does not name
                name = str(-code)
            return f"the reader process was killed by {name}"
        return f"the reader process exited with status {code}"


class ReaderPool:
    """Up to ``size`` reader processes, each used by one caller at a time; thread-safe."""

    def __init__(self, limits: Limits, *, size: int | None = None) -> None:
        self.limits = limits
        self.size = size or limits.workers or os.cpu_count() or 1
        self._memory = limits.worker_memory_mb * 1024 * 1024
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(PRELOAD)
        self._idle: list[_Worker] = []
        self._busy = 0
        self._cond = threading.Condition()
        self._closed = False

    def call(self, fn: Callable[..., T], *args: Any, timeout: float, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` in a reader process; its result, or ReaderFailed."""
        worker = self._take()
        healthy = False
        try:
            try:
                worker.conn.send((fn, args, kwargs))
            except (OSError, EOFError) as err:
                raise ReaderFailed(f"{worker.death()} before it took the job ({err})") from err
            if not worker.conn.poll(timeout):
                log.warning("reader %s: no answer within %.0f s: killed", worker.process.pid, timeout)
                raise ReaderTimedOut(f"reading took over {timeout:g} s", limit="pdf_seconds")
            try:
                status, payload = worker.conn.recv()
            except (EOFError, OSError) as err:
                raise ReaderFailed(worker.death()) from err
            if status == "memory":
                raise ReaderFailed(str(payload), limit="worker_memory_mb")
            if status != "ok":
                raise ReaderFailed(f"the reader failed: {payload}")
            healthy = True
            return payload  # type: ignore[return-value]
        finally:
            self._give_back(worker, healthy)

    def _take(self) -> _Worker:
        with self._cond:
            while True:
                if self._closed:
                    raise ReaderFailed("the reader pool is closed")
                if self._idle:
                    self._busy += 1
                    return self._idle.pop()
                if self._busy < self.size:
                    self._busy += 1
                    break
                self._cond.wait()
        try:
            return self._spawn()
        except BaseException:
            with self._cond:
                self._busy -= 1
                self._cond.notify()
            raise

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(target=_serve, args=(child, self._memory), name="bot-reader", daemon=True)
        process.start()
        child.close()
        return _Worker(process, parent)

    def _give_back(self, worker: _Worker, healthy: bool) -> None:
        worker.jobs += 1
        keep = healthy and worker.jobs < JOBS_PER_WORKER
        if not keep:
            worker.kill()  # a failed worker is never reused; a replacement starts on demand
        with self._cond:
            self._busy -= 1
            if keep and not self._closed:
                self._idle.append(worker)
            elif keep:
                worker.kill()
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for worker in idle:
            worker.kill()


_POOLS: dict[tuple[Limits, int | None], ReaderPool] = {}
_POOLS_LOCK = threading.Lock()


def shared_pool(limits: Limits, *, size: int | None = None) -> ReaderPool:
    """One pool per set of limits in this process (the daemon, `bot process`, the tests)."""
    with _POOLS_LOCK:
        pool = _POOLS.get((limits, size))
        if pool is None:
            pool = _POOLS[(limits, size)] = ReaderPool(limits, size=size)
        return pool


@atexit.register
def _close_all() -> None:
    with _POOLS_LOCK:
        pools = list(_POOLS.values())
        _POOLS.clear()
    for pool in pools:
        pool.close()
