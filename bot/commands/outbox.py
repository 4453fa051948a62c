"""``bot outbox list | requeue ID | flush``: the mail the bot sends (replies, vendor batches,
digests; bot/actions/outbox.py): every message not sent yet with its age (waiting, retrying, being sent,
given up), one sent again (the same bytes, the same Message-ID), every due one sent now.

``list`` prints one tab-separated line a message: id, status code, 状態, 種類, age, attempts,
recipients, subject, last error. A restored backup sends exactly these again (docs/operations.md).
"""

from __future__ import annotations

import argparse
import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import db
from bot.commands.common import EXIT_OK, EXIT_USAGE, CommandError, database, fail
from bot.config import Config
from bot.db.models import OutboxMessage
from bot.digest import OUTBOX_STATUS_LABELS, PURPOSE_LABELS


def add_parser(sub: argparse._SubParsersAction, parser_class: type) -> None:  # type: ignore[type-arg]
    ob = sub.add_parser("outbox", help="mails the bot sends (replies, vendor batches, digests)")
    ob_sub = ob.add_subparsers(dest="outbox_command", required=True, parser_class=parser_class)
    ob_sub.add_parser("list", help="every message not sent yet (waiting, retrying, sending, failed), oldest first")
    orq = ob_sub.add_parser("requeue", help="send a failed message again (same bytes, same Message-ID)")
    orq.add_argument("id", type=int)
    ob_sub.add_parser("flush", help="send every due message now")


def cli_outbox(args: argparse.Namespace, cfg: Config) -> int:
    from bot.actions import outbox

    now = dt.datetime.now(dt.UTC)
    try:
        with database(cfg, f"outbox {args.outbox_command}", "outbox") as factory:
            if args.outbox_command == "list":
                with factory() as session:
                    rows = unsent(session)
                if not rows:
                    print("未送信のメールはありません / nothing waiting to be sent")
                for r in rows:
                    print("\t".join((str(r.id), r.status, state_label(r), PURPOSE_LABELS.get(r.purpose, r.purpose),
                                     f"{age(now - r.created_at)}前から", f"{r.attempts}回",
                                     ", ".join(r.rcpt_to), r.subject,
                                     (r.last_error or "").splitlines()[0] if r.last_error else "")))
                return EXIT_OK
            if args.outbox_command == "requeue":
                try:
                    with db.transaction(factory) as session:
                        outbox.requeue(session, args.id, now=now)
                except ValueError as err:
                    raise CommandError(f"bot: エラー / error: {err}", EXIT_USAGE) from err
                print(f"outbox {args.id}: 再送待ち / queued again")
            result = outbox.flush(factory, cfg.smtp, now=now, oauth2=cfg.oauth2)
            print(f"送信 sent {result.sent}, 失敗 failed {result.failed}, 残り still due {result.remaining}")
            return EXIT_OK
    except CommandError as err:
        return fail(err)


def unsent(session: Session) -> list[OutboxMessage]:
    """Every row not sent: pending (due or retrying later), being sent, or given up; oldest first."""
    from bot.actions import outbox

    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.status != outbox.SENT)
                                .order_by(OutboxMessage.created_at, OutboxMessage.id)))


def state_label(row: OutboxMessage) -> str:
    if row.status == "pending" and row.last_error:
        return "再試行待ち"
    return OUTBOX_STATUS_LABELS.get(row.status, row.status)


def age(delta: dt.timedelta) -> str:
    """A wait as a person says it: 45秒, 12分, 3時間5分, 2日3時間."""
    s = max(int(delta.total_seconds()), 0)
    if s < 60:
        return f"{s}秒"
    if s < 3600:
        return f"{s // 60}分"
    if s < 86400:
        return f"{s // 3600}時間{s % 3600 // 60}分" if s % 3600 // 60 else f"{s // 3600}時間"
    return f"{s // 86400}日{s % 86400 // 3600}時間" if s % 86400 // 3600 else f"{s // 86400}日"
