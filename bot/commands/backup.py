"""``bot backup --dir DIR [--keep-days N] [--keep-min N]``: a checked 0600 backup of the
database, then the rotation (bot/jobs/backup.py). Exit 1 when no backup was made."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from bot.commands.common import EXIT_OK, CommandError
from bot.config import Config
from bot.jobs.backup import BackupError, make_backup


def add_parser(sub: argparse._SubParsersAction, parser_class: type) -> None:  # type: ignore[type-arg]
    bp = sub.add_parser("backup", help="back up the database (SQLite online backup / pg_dump), 0600, rotated")
    bp.add_argument("--dir", required=True, help="the backup folder (mode 0700, the bot's user's)")
    bp.add_argument("--keep-days", type=int, default=14, help="delete backups older than this (default 14)")
    bp.add_argument("--keep-min", type=int, default=3, help="but always keep this many newest (default 3)")


def cli_backup(args: argparse.Namespace, cfg: Config) -> int:
    if args.keep_days < 1 or args.keep_min < 1:
        raise CommandError("bot backup: --keep-days and --keep-min must be 1 or more", 2)
    try:
        made = make_backup(cfg.database.url, Path(args.dir), now=dt.datetime.now(dt.UTC), keep_days=args.keep_days,
                           keep_min=args.keep_min)
    except BackupError as err:
        raise CommandError(f"bot backup: バックアップを作成できませんでした / no backup made: {err}") from err
    print(f"{made.path}\t{made.size}")
    for path in made.removed:
        print(f"removed {path}")
    return EXIT_OK
