"""What every command that reads the database does first: open it, and say plainly (in
Japanese, with the fix) when it is unreachable or has no schema yet, instead of an SQL error."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, inspect
from sqlalchemy.orm import Session, sessionmaker

from bot import db
from bot.config import Config
from bot.domain import vocab

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
DECISION_LABELS = {k: v for k, v in vocab.DECISIONS.items() if k != "undecided"}


class CommandError(Exception):
    """A message for the operator (already in Japanese / English) and the exit code."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


def schema_missing(engine: Engine, *tables: str) -> list[str]:
    names = set(inspect(engine).get_table_names())
    return [t for t in tables if t not in names]


@contextmanager
def database(cfg: Config, command: str, *tables: str) -> Iterator[sessionmaker[Session]]:
    """A session factory on the configured database; CommandError when it cannot be reached
    or lacks `tables` (the schema is older than this version: `bot db upgrade`)."""
    engine = db.make_engine(cfg.database.url)
    try:
        try:
            missing = schema_missing(engine, *(tables or ("mails",)))
        except db.UNAVAILABLE as err:
            raise CommandError(f"bot {command}: データベースに接続できません / database unreachable "
                               f"([database] url): {db.error_line(err)}") from err
        if missing:
            raise CommandError(f"bot {command}: データベースが未作成か古い版です（{', '.join(missing)} がありません）。"
                               f"`bot db upgrade` を実行してください / the schema is missing or old: run `bot db upgrade`")
        yield db.session_factory(engine)
    finally:
        engine.dispose()


def fail(err: CommandError) -> int:
    print(str(err), file=sys.stderr)
    return err.code
