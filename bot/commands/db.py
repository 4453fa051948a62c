"""``bot db upgrade``: the database schema to the newest version (Alembic, bot/db.py)."""

from __future__ import annotations

import argparse

from bot import db
from bot.commands.common import EXIT_OK
from bot.config import Config


def add_parser(sub: argparse._SubParsersAction, parser_class: type) -> None:  # type: ignore[type-arg]
    dbp = sub.add_parser("db", help="database schema")
    db_sub = dbp.add_subparsers(dest="db_command", required=True, parser_class=parser_class)
    db_sub.add_parser("upgrade", help="Alembic upgrade to head")


def cli_db(args: argparse.Namespace, cfg: Config) -> int:
    db.upgrade(cfg.database.url)
    print(f"database at head: {mask_url(cfg.database.url)}")
    return EXIT_OK


def mask_url(url: str) -> str:
    """The database URL without its password, for what the command prints."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return "(unparseable url)"
