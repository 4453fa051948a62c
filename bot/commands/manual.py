"""``bot manual list | resolve ID [--note TEXT] [--by NAME]``: the mails held for a person
(保留/隔離, bot/actions/queue.py); a resolved one leaves the digest's queue."""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import sys

from bot import db
from bot.actions.queue import ManualQueueError, open_items
from bot.commands.common import EXIT_OK, EXIT_USAGE, CommandError, database, fail
from bot.config import Config
from bot.db.models import QUARANTINED
from bot.domain import vocab


def add_parser(sub: argparse._SubParsersAction, parser_class: type) -> None:  # type: ignore[type-arg]
    mq = sub.add_parser("manual", help="mails held for a person (保留/隔離)")
    mq_sub = mq.add_subparsers(dest="manual_command", required=True, parser_class=parser_class)
    mq_sub.add_parser("list", help="list the held mails not yet resolved")
    mr = mq_sub.add_parser("resolve", help="mark a held mail as handled; it leaves the digest's queue")
    mr.add_argument("id", type=int, help="the mail id (as in the digest)")
    mr.add_argument("--note", help="what was done")
    mr.add_argument("--by", help="who did it (default: the login name)")


def cli_manual(args: argparse.Namespace, cfg: Config) -> int:
    tz = cfg.office.tz
    try:
        with database(cfg, f"manual {args.manual_command}", "mails") as factory:
            if args.manual_command == "list":
                with factory() as session:
                    items = open_items(session)
                if not items:
                    print("保留中のメールはありません / nothing held for a person")
                for item in items:
                    label = vocab.DECISIONS["quarantined" if item.status == QUARANTINED else "manual"]
                    print(f"{item.id}\t{label}\t{item.received_at.astimezone(tz):%Y/%m/%d %H:%M}\t"
                          f"{item.from_addr or '-'}\t{item.subject}\t{item.reason}")
                return EXIT_OK
            from bot.actions.scan_shadow import (
                dismiss,  # the reader's stack loads only for a resolve
            )
            from bot.pipeline.gather import settings_from

            by = args.by or getpass.getuser()
            try:
                with db.transaction(factory) as session:
                    # 対応済み; a held scan also gets its shadow figures (bot scans report).
                    dismiss(session, args.id, cfg=cfg, settings=settings_from(cfg), by=by, note=args.note or "",
                            now=dt.datetime.now(dt.UTC))
            except ManualQueueError as err:
                print(f"bot manual resolve: {err}", file=sys.stderr)
                return EXIT_USAGE
            print(f"mail {args.id}: 対応済み / resolved by {by}")
            return EXIT_OK
    except CommandError as err:
        return fail(err)
