"""Engine, sessions and schema upgrades (Alembic)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger("bot.db")

# The database is away (stopped, restarting, disk full, connection dropped): never a mail's fault,
# so it ends a pass or a flush with one log line and the work waits; it never quarantines a mail.
UNAVAILABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the settings the bot relies on (SQLite: foreign keys, WAL, busy wait)."""
    if url.startswith("postgresql://"):
        # psycopg 3 is the driver we ship; plain postgresql:// would ask for psycopg2.
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            if ":memory:" not in url:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.close()
            # Let SQLAlchemy, not the driver, open transactions (see _sqlite_begin).
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # BEGIN IMMEDIATE takes SQLite's one write lock when the transaction starts. A
            # deferred transaction that read first and writes later fails at once with
            # "database is locked" (SQLITE_BUSY_SNAPSHOT, which busy_timeout does not wait out)
            # whenever another thread or process wrote in between: the daemon's intake and its
            # scheduled jobs would quarantine good mails for it. Immediate transactions queue
            # instead, and a second bot process on the same file never decides a mail twice.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


def serialise(session: Session, name: str) -> None:
    """Hold a named lock until the caller's transaction ends, so two bot processes never do the
    same once-only work (a vendor batch, a day's digest) side by side.

    PostgreSQL: a transaction-level advisory lock keyed by the name. SQLite: a no-op write as
    the first statement takes the database's single write lock now, instead of at the first
    INSERT after this transaction already read rows another writer is about to change.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": f"usen-spot-bot:{name}"})
    elif dialect == "sqlite":
        session.execute(text("UPDATE mails SET id = id WHERE 0"))


def alembic_config(url: str) -> Any:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema to `revision` (``bot db upgrade``)."""
    from alembic import command

    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    command.upgrade(alembic_config(url), revision)
    log.info("database upgraded to %s", revision)
