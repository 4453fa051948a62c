"""Functions the reader-pool tests run inside a reader process (importable by the worker)."""

from __future__ import annotations

import os
import signal
import time


def echo(value: object) -> object:
    return value


def sleep_then(seconds: float, value: object) -> object:
    time.sleep(seconds)
    return value


def allocate(mib: int) -> int:
    block = bytearray(mib * 1024 * 1024)
    return len(block)


def die() -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def pid() -> int:
    return os.getpid()


def boom() -> None:
    raise ValueError("a bug in a reader")
