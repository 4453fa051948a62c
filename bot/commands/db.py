"""``bot db upgrade`` / ``bot db downgrade REV`` / ``bot db current``: the database schema
(Alembic, bot/db/__init__.py). Every migration has a downgrade (tests/test_backup.py walks them all down
and up again on SQLite and PostgreSQL); a downgrade drops what the newer version added (its
columns and tables, with their data), so the upgrade procedure takes a backup first and the
documented way back is that backup (docs/operations.md section 5)."""

from __future__ import annotations

import argparse

from bot import db
from bot.commands.common import EXIT_OK, EXIT_USAGE, CommandError
from bot.config import Config


def add_parser(sub: argparse._SubParsersAction, parser_class: type) -> None:  # type: ignore[type-arg]
    dbp = sub.add_parser("db", help="database schema")
    db_sub = dbp.add_subparsers(dest="db_command", required=True, parser_class=parser_class)
    db_sub.add_parser("upgrade", help="Alembic upgrade to head")
    down = db_sub.add_parser("downgrade", help="back to an older revision (stop every bot process first; "
                                               "take a backup: what newer revisions added is dropped)")
    down.add_argument("revision", help="the revision to go back to, e.g. 0013 (bot db current shows the present one)")
    db_sub.add_parser("current", help="the revision the database is at, and the newest this version knows")


def cli_db(args: argparse.Namespace, cfg: Config) -> int:
    if args.db_command == "downgrade":
        return _downgrade(cfg, args.revision)
    if args.db_command == "current":
        print(f"database: {current_revision(cfg.database.url) or '(empty)'}  this version's head: {db.head_revision()}")
        return EXIT_OK
    db.upgrade(cfg.database.url)
    print(f"database at head: {mask_url(cfg.database.url)}")
    return EXIT_OK


def current_revision(url: str) -> str | None:
    from alembic.migration import MigrationContext

    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except db.UNAVAILABLE as err:
        raise CommandError(f"bot db: データベースに接続できません / database unreachable ([database] url): "
                           f"{db.error_line(err)}") from err
    finally:
        engine.dispose()


def _downgrade(cfg: Config, revision: str) -> int:
    from alembic import command
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError as AlembicError

    alembic_cfg = db.alembic_config(db.normalise_url(cfg.database.url))
    known = {s.revision for s in ScriptDirectory.from_config(alembic_cfg).walk_revisions()}
    if revision not in known and revision != "base":
        raise CommandError(f"bot db downgrade: 不明なリビジョンです / unknown revision {revision!r} "
                           f"(known: {', '.join(sorted(known))}, or base)", EXIT_USAGE)
    before = current_revision(cfg.database.url)
    try:
        command.downgrade(alembic_cfg, revision)
    except AlembicError as err:
        raise CommandError(f"bot db downgrade: {err}") from err
    print(f"database downgraded from {before} to {revision}: {mask_url(cfg.database.url)}")
    print("次に旧版のボットを入れてから起動してください（新版のまま起動すると再び upgrade されます）/ "
          "install the older bot before starting it: a newer one upgrades again at start")
    return EXIT_OK


def mask_url(url: str) -> str:
    """The database URL without its password, for what the command prints."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return "(unparseable url)"
