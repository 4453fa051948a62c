"""When is a file in the UNIS drop folder complete? (issue 22 point 5)

An uploader should write ``name.csv.part`` and rename it to ``name.csv`` once complete (the
rename is atomic: the bot never sees half a file; ``*.part`` is never picked up). Many upload
tools (a Windows share, scp) write the final name directly, though, so the daemon also asks
that a file stand still: the same size and modification time at two polls in a row. At the
first poll of a process (the import at start) a file that has not changed for
:data:`SETTLE` counts as complete, so an extract dropped while the bot was down is imported at
start, not one poll later.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("bot.unis")

SETTLE = dt.timedelta(minutes=2)


class Sightings:
    """What the previous poll saw of each waiting file; one per daemon, kept between polls."""

    def __init__(self, now_fn: Callable[[], float] | None = None) -> None:
        import time

        self._now = now_fn or time.time
        self._seen: dict[str, tuple[int, int]] = {}
        self._next: dict[str, tuple[int, int]] = {}
        self._polls = 0
        self._lock = threading.Lock()

    def begin(self) -> None:
        """A new poll starts: what it sees is compared with the previous poll's."""
        with self._lock:
            if self._polls:
                self._seen = self._next
            self._next = {}
            self._polls += 1

    def complete(self, path: Path, st: os.stat_result) -> bool:
        key = (st.st_size, st.st_mtime_ns)
        with self._lock:
            self._next[path.name] = key
            if self._seen.get(path.name) == key:
                return True
            if self._polls <= 1 and self._now() - st.st_mtime >= SETTLE.total_seconds():
                return True  # the first poll: untouched for a while, nobody is writing it
        log.info("UNIS drop file %s (%d bytes) may still be uploading: imported once it stands still", path.name,
                 st.st_size)
        return False
