"""``bot outbox list | requeue ID | flush``: the mail the bot sends (replies, vendor batches,
digests; bot/outbox.py): what failed or is retrying, one sent again (the same bytes, the same
Message-ID), every due one sent now."""

from __future__ import annotations

import argparse
import datetime as dt

from bot import db
from bot.commands.common import EXIT_OK, EXIT_USAGE, CommandError, database, fail
from bot.config import Config


def add_parser(sub: argparse._SubParsersAction, parser_class: type) -> None:  # type: ignore[type-arg]
    ob = sub.add_parser("outbox", help="mails the bot sends (replies, vendor batches, digests)")
    ob_sub = ob.add_subparsers(dest="outbox_command", required=True, parser_class=parser_class)
    ob_sub.add_parser("list", help="list failed or retrying messages")
    orq = ob_sub.add_parser("requeue", help="send a failed message again (same bytes, same Message-ID)")
    orq.add_argument("id", type=int)
    ob_sub.add_parser("flush", help="send every due message now")


def cli_outbox(args: argparse.Namespace, cfg: Config) -> int:
    from bot import outbox

    now = dt.datetime.now(dt.UTC)
    try:
        with database(cfg, f"outbox {args.outbox_command}", "outbox") as factory:
            if args.outbox_command == "list":
                with factory() as session:
                    rows = outbox.problems(session)
                if not rows:
                    print("送信の問題はありません / no failed or retrying messages")
                for r in rows:
                    print(f"{r.id}\t{r.status}\t{r.purpose}\t{r.attempts}回\t{', '.join(r.rcpt_to)}\t{r.subject}\t"
                          f"{(r.last_error or '').splitlines()[0] if r.last_error else ''}")
                return EXIT_OK
            if args.outbox_command == "requeue":
                try:
                    with db.transaction(factory) as session:
                        outbox.requeue(session, args.id, now=now)
                except ValueError as err:
                    raise CommandError(f"bot: エラー / error: {err}", EXIT_USAGE) from err
                print(f"outbox {args.id}: 再送待ち / queued again")
            result = outbox.flush(factory, cfg.smtp, now=now)
            print(f"送信 sent {result.sent}, 失敗 failed {result.failed}, 残り still due {result.remaining}")
            return EXIT_OK
    except CommandError as err:
        return fail(err)
