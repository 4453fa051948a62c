"""``bot run``: the daemon (intake + scheduled jobs) until SIGTERM; a graceful stop (bot/daemon/main.py)."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from bot.commands.common import EXIT_OK
from bot.config import Config

log = logging.getLogger("bot.cli")


def add_parser(sub: argparse._SubParsersAction, parser_class: type) -> None:  # type: ignore[type-arg]
    sub.add_parser("run", help="the daemon: intake + scheduled jobs until SIGTERM")


def cli_run(args: argparse.Namespace, cfg: Config) -> int:
    from bot.daemon.main import Daemon

    daemon = Daemon(cfg)
    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        log.info("signal %s: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    daemon.run(stop)
    return EXIT_OK
