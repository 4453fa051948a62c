"""Engine, sessions and schema upgrades (Alembic)."""

from __future__ import annotations

import logging
import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    InterfaceError,
    NoSuchModuleError,
    OperationalError,
)
from sqlalchemy.orm import Session, sessionmaker

from bot.domain.config_error import ConfigError

log = logging.getLogger("bot.db")

# The database is away (stopped, restarting, disk full, connection dropped): never a mail's fault,
# so it ends a pass or a flush with one log line and the work waits; it never quarantines a mail.
UNAVAILABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"


class DatabaseUrlError(ConfigError):
    """``[database] url`` names a database this installation cannot open: an unknown scheme, a
    driver that is not installed, a SQLite file in a folder that does not exist. The message
    names the key and the fix; the command line reports it as a config error."""


class SqliteLocationError(DatabaseUrlError, OperationalError):
    """The SQLite file cannot be opened where ``[database] url`` puts it (no such folder, not
    writable). Raised when a connection is opened, in place of SQLite's bare "unable to open
    database file". It stays an OperationalError, so the daemon still treats a folder that goes
    away while it runs (an unmounted disk) as the database being away: the mails wait, none is
    quarantined."""

    def __init__(self, message: str, orig: BaseException) -> None:
        OperationalError.__init__(self, None, None, orig)
        self.message = message

    def __str__(self) -> str:
        return self.message


# psycopg 3 is the driver the bot installs (pyproject.toml); plain postgresql:// would make
# SQLAlchemy ask for psycopg2, and postgres:// (Heroku, many hosting panels, libpq docs) is
# no SQLAlchemy dialect name at all.
_POSTGRES_PREFIXES = ("postgresql://", "postgres://")
DRIVER_FIXES = {
    "psycopg": "pip install 'psycopg[binary]' (the bot's default dependencies include it; "
               "reinstall the bot with pip install usen-spot-bot)",
    "psycopg2": "pip install psycopg2-binary, or write the URL as postgresql://… to use psycopg 3, "
                "which the bot installs",
}
_URL_FORMS = "sqlite:///PATH (SQLite) or postgresql://USER:PASSWORD@HOST:PORT/DBNAME (PostgreSQL)"


def normalise_url(url: str) -> str:
    """The URL SQLAlchemy is given: postgres:// and postgresql:// become postgresql+psycopg://."""
    for prefix in _POSTGRES_PREFIXES:
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    if url.startswith("postgres+"):
        return "postgresql+" + url[len("postgres+"):]
    return url


def _parse(url: str) -> URL:
    try:
        return make_url(normalise_url(url))
    except ArgumentError as err:
        raise DatabaseUrlError(f"[database] url: データベースURLとして読めません / not a database URL "
                               f"(expected {_URL_FORMS})") from err


def _driver_error(parsed: URL, err: ImportError) -> DatabaseUrlError:
    module = (err.name or parsed.get_driver_name() or "").split(".")[0]
    fix = DRIVER_FIXES.get(module, f"install the Python package of the {parsed.get_driver_name()} driver")
    return DatabaseUrlError(
        f"[database] url: {parsed.get_backend_name()} のドライバ {module} がインストールされていません / "
        f"the {parsed.get_backend_name()} driver {module!r} is not installed ({err}): {fix}")


def check_url(url: str) -> None:
    """Refuse a URL this installation cannot open before anything connects: not a URL, not
    SQLite or PostgreSQL, or the driver missing (the message names the package to install).
    Does not connect, and does not look at a SQLite file's folder: a command that only reads
    (``process --dry-run``) runs without a database; a connection names a missing folder."""
    parsed = _parse(url)
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise DatabaseUrlError(f"[database] url: {backend}: 対応していないデータベースです / not a supported "
                               f"database (expected {_URL_FORMS})")
    try:
        parsed.get_dialect().import_dbapi()
    except NoSuchModuleError as err:
        raise DatabaseUrlError(f"[database] url: {parsed.drivername}: 不明なドライバです / unknown driver "
                               f"(expected {_URL_FORMS})") from err
    except ImportError as err:
        raise _driver_error(parsed, err) from err


def sqlite_location_problem(database: str) -> str | None:
    """Why SQLite cannot open ``database`` (the path in a sqlite:/// URL), or None.

    The bot never creates the folder: a typo in the path would silently start a new, empty
    database somewhere else, and the mails already decided would be decided again."""
    path = Path(database)
    if not path.is_absolute():
        path = Path.cwd() / path  # SQLite opens a relative path from the working directory
    folder = path.parent
    if not folder.is_dir():
        return (f"[database] url: フォルダがありません / the folder {folder} does not exist (SQLite file {path}). "
                "Create it (owned by the bot's user) or correct the path; the bot does not create it, "
                "so that a typo cannot start an empty database in the wrong place")
    if path.is_dir():
        return f"[database] url: {path} はフォルダです / is a folder, not a SQLite file"
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return (f"[database] url: {path} を読み書きできません / this user cannot read and write the SQLite file "
                f"{path}: check its owner and mode")
    if not os.access(folder, os.W_OK | os.X_OK):
        return (f"[database] url: フォルダに書き込めません / this user cannot write in the folder {folder} "
                "(SQLite keeps its journal files beside the database; under systemd the folder must be in "
                "ReadWritePaths=)")
    return None


def _is_sqlite_file(parsed: URL) -> bool:
    """A plain file path (not in-memory, not a file: URI whose path is SQLite's to interpret)."""
    return bool(parsed.database) and parsed.database != ":memory:" and not parsed.query.get("uri")


def make_engine(url: str, *, process: str | None = None, **kwargs: Any) -> Engine:
    """An engine with the settings the bot relies on (SQLite: foreign keys, WAL, busy wait).

    ``process`` (a daemon's ``host:pid:start``) names its PostgreSQL connections
    (``application_name``): while one of them is open, any bot process can prove that daemon
    alive from another host (bot/daemon/health.py), which a heartbeat row restored from a backup cannot.

    A URL the installation cannot open raises :class:`DatabaseUrlError`; opening a connection to
    a SQLite file in a missing or read-only folder raises :class:`SqliteLocationError`."""
    parsed = _parse(url)
    url = normalise_url(url)
    if process and parsed.get_backend_name() == "postgresql":
        kwargs.setdefault("connect_args", {})["application_name"] = process[:63]  # NAMEDATALEN - 1
    try:
        engine = create_engine(url, **kwargs)
    except NoSuchModuleError as err:
        raise DatabaseUrlError(f"[database] url: {parsed.drivername}: 不明なデータベースです / unknown database "
                               f"or driver (expected {_URL_FORMS})") from err
    except ImportError as err:
        raise _driver_error(parsed, err) from err
    if engine.dialect.name == "sqlite":
        database = parsed.database or ""
        if _is_sqlite_file(parsed):

            @event.listens_for(engine, "handle_error")
            def _sqlite_location(ctx: Any) -> None:
                # Only a failed connect (no connection yet), and only when the path explains it.
                if ctx.connection is None and isinstance(ctx.original_exception, sqlite3.OperationalError):
                    problem = sqlite_location_problem(database)
                    if problem:
                        raise SqliteLocationError(problem, ctx.original_exception) from ctx.original_exception

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
            # A session that only reads (:func:`reading`) begins a deferred transaction: in WAL
            # mode it neither waits for the writer nor holds it up (the read-ahead threads read
            # a stored mail while the main thread commits a decision).
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

    return engine


def error_line(err: BaseException) -> str:
    """One line naming a database error: the driver's exception class and its first 200
    characters (for "the database is away" log lines and messages, never a traceback)."""
    orig = getattr(err, "orig", None) or err
    return f"{type(orig).__name__}: {' '.join(str(orig).split())[:200]}"


def dialect_insert(session: Session, table: Any) -> Any:
    """INSERT for `table` with ``on_conflict_do_nothing``/``on_conflict_do_update``, in the
    dialect of the session's database (SQLite or PostgreSQL)."""
    from sqlalchemy.dialects.postgresql import insert as postgres_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    insert = postgres_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    return insert(table)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


READ_ONLY = "bot_read_only"  # execution option: this connection's transactions only read


@contextmanager
def reading(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for reads only. On SQLite its transaction is deferred instead of taking the
    write lock (see _sqlite_begin); a write in it is a programming error (SQLite may refuse it
    with "database is locked" when another writer came first)."""
    bind = factory.kw["bind"]
    with factory(bind=bind.execution_options(**{READ_ONLY: True})) as session:
        yield session


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

    check_url(url)
    # A SQLite file that cannot be where the URL says is refused here, before anything connects,
    # as a plain DatabaseUrlError: the daemon waits at start for a database that is *away*
    # (UNAVAILABLE), and a typo in the path must stop it instead of keeping it waiting forever.
    parsed = _parse(url)
    if parsed.get_backend_name() == "sqlite" and _is_sqlite_file(parsed):
        problem = sqlite_location_problem(parsed.database or "")
        if problem:
            raise DatabaseUrlError(problem)
    if revision == "head" and _at_head(url):
        return  # nothing to do: alembic (~0.1 s to load and scan the migrations) is not started
    command.upgrade(alembic_config(normalise_url(url)), revision)
    log.info("database upgraded to %s", revision)


_REVISION = re.compile(r"^revision(?:\s*:\s*str)?\s*=\s*['\"]([^'\"]+)['\"]", re.M)
_DOWN = re.compile(r"^down_revision(?:\s*:[^=]+)?\s*=\s*(?:None|['\"]([^'\"]+)['\"])\s*$", re.M)


def head_revision() -> str | None:
    """The newest migration's id, read from the files of migrations/versions without importing
    them; None when they do not read as one straight line of revisions (alembic decides then)."""
    ids: set[str] = set()
    downs: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        rev, down = _REVISION.search(source), _DOWN.search(source)
        if rev is None or down is None:
            return None
        ids.add(rev.group(1))
        if down.group(1):
            downs.add(down.group(1))
    heads = ids - downs
    return heads.pop() if len(heads) == 1 and downs <= ids else None


def at_head(url: str) -> bool:
    """Whether the database already carries the newest revision (a quick read; any doubt: no)."""
    return _at_head(url)


def _at_head(url: str) -> bool:
    """Whether the database already carries the newest revision (a quick read; any doubt: no)."""
    head = head_revision()
    if head is None:
        return False
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head]
    except Exception:  # noqa: BLE001 - no table yet, or anything odd: alembic decides
        return False
    finally:
        engine.dispose()
