"""Reading ahead (bot/pipeline/read.py): the next mails are read while one is decided, at most a
window ahead, each once; a failure to read ahead only means the mail is read when decided."""

from __future__ import annotations

import threading
import time

from bot.pipeline.read import Prefetcher


def test_reads_ahead_within_the_window_each_mail_once() -> None:
    started: list[int] = []
    lock = threading.Lock()
    decided: list[int] = []

    def read_one(mail_id: int) -> object:
        with lock:
            started.append(mail_id)
        time.sleep(0.05)
        return ("read", mail_id)

    with Prefetcher(read_one, [1, 2, 3, 4, 5, 6], window=2, threads=2) as ahead:  # type: ignore[arg-type]
        time.sleep(0.2)
        assert sorted(started) == [1, 2, 3]  # the first mail and two ahead, no more
        for mail_id in (1, 2, 3, 4, 5, 6):
            assert ahead.get(mail_id) == ("read", mail_id)
            decided.append(mail_id)
            with lock:
                assert max(started) <= mail_id + 2
    assert sorted(started) == [1, 2, 3, 4, 5, 6]
    assert decided == [1, 2, 3, 4, 5, 6]


def test_reading_overlaps_deciding() -> None:
    """Two readers: six reads of 0.2 s and six decisions of 0.2 s take ~1.4 s, not 2.4 s."""
    def read_one(mail_id: int) -> object:
        time.sleep(0.2)
        return mail_id

    started = time.monotonic()
    with Prefetcher(read_one, list(range(6)), window=2, threads=2) as ahead:  # type: ignore[arg-type]
        for mail_id in range(6):
            assert ahead.get(mail_id) == mail_id
            time.sleep(0.2)  # deciding
    assert time.monotonic() - started < 2.0


def test_a_failure_to_read_ahead_is_no_reading() -> None:
    def read_one(mail_id: int) -> object:
        if mail_id == 2:
            raise RuntimeError("database busy")
        return mail_id

    with Prefetcher(read_one, [1, 2, 3], window=1, threads=1) as ahead:  # type: ignore[arg-type]
        assert [ahead.get(1), ahead.get(2), ahead.get(3)] == [1, None, 3]


def test_without_a_window_nothing_is_read_ahead() -> None:
    calls: list[int] = []
    with Prefetcher(lambda i: calls.append(i), [1, 2], window=0, threads=0) as ahead:  # type: ignore[arg-type,func-returns-value]
        assert ahead.get(1) is None and calls == []
