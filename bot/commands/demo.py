"""``bot demo``: embedded IMAP + SMTP + SQLite, the sample mails, one pass, a table (bot/demo/run.py)."""

from __future__ import annotations

import argparse

from bot.config import Config


def add_parser(sub: argparse._SubParsersAction, parser_class: type) -> None:  # type: ignore[type-arg]
    demo = sub.add_parser("demo", help="embedded IMAP + SMTP + SQLite with sample mails; one pass")
    demo.add_argument("--keep", action="store_true", help="keep the temporary directory")


def cli_demo(args: argparse.Namespace, cfg: Config) -> int:
    from bot.demo.run import run_demo

    return run_demo(keep=args.keep)
