"""The reader processes (bot/forms/workers.py): a reader that overruns, eats memory or crashes is
killed or fails alone, says which limit it crossed, and the next job runs in a fresh worker."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from bot.config.limits import Limits
from bot.forms.workers import ReaderFailed, ReaderPool, ReaderTimedOut
from tests import workers_targets as t


@pytest.fixture
def pool() -> Iterator[ReaderPool]:
    p = ReaderPool(Limits(worker_memory_mb=512), size=1)
    yield p
    p.close()


def test_a_result_comes_back_and_the_worker_is_reused(pool: ReaderPool) -> None:
    assert pool.call(t.echo, {"a": [1, "二"]}, timeout=30) == {"a": [1, "二"]}
    first = pool.call(t.pid, timeout=30)
    assert pool.call(t.pid, timeout=30) == first


def test_an_overrun_is_killed_and_named(pool: ReaderPool) -> None:
    before = pool.call(t.pid, timeout=30)
    started = time.monotonic()
    with pytest.raises(ReaderTimedOut) as caught:
        pool.call(t.sleep_then, 30, "late", timeout=0.5)
    assert time.monotonic() - started < 10
    assert caught.value.limit == "pdf_seconds"
    # The next job gets a fresh worker, and works.
    assert pool.call(t.echo, "next", timeout=30) == "next"
    assert pool.call(t.pid, timeout=30) != before


def test_memory_beyond_the_limit_fails_alone(pool: ReaderPool) -> None:
    with pytest.raises(ReaderFailed) as caught:
        pool.call(t.allocate, 2048, timeout=30)
    assert caught.value.limit == "worker_memory_mb"
    assert pool.call(t.allocate, 64, timeout=30) == 64 * 1024 * 1024


def test_a_crash_is_reported_and_the_pool_goes_on(pool: ReaderPool) -> None:
    with pytest.raises(ReaderFailed) as caught:
        pool.call(t.die, timeout=30)
    assert "SIGSEGV" in caught.value.detail
    assert pool.call(t.echo, 7, timeout=30) == 7


def test_an_exception_in_a_reader_is_a_failure_not_a_result(pool: ReaderPool) -> None:
    with pytest.raises(ReaderFailed, match="ValueError: a bug in a reader"):
        pool.call(t.boom, timeout=30)


def test_two_workers_run_two_jobs_at_once() -> None:
    import threading

    p = ReaderPool(Limits(), size=2)
    try:
        p.call(t.echo, 0, timeout=30)  # start-up outside the measurement
        results: list[object] = []
        started = time.monotonic()
        threads = [threading.Thread(target=lambda: results.append(p.call(t.sleep_then, 1.0, "x", timeout=30)))
                   for _ in range(2)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert results == ["x", "x"]
        assert time.monotonic() - started < 1.9  # not one after the other
    finally:
        p.close()
