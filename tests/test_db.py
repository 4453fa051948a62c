"""Storage: the Alembic migrations build exactly the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from bot import db
from bot.config import ConfigError
from bot.db.models import Base


def test_migrations_match_models(any_db_url: str) -> None:
    engine = db.make_engine(any_db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
        assert {"mails", "outbox", "unis_orders", "vendor_rows", "ledger", "ledger_events"} <= set(
            inspect(engine).get_table_names()
        )
    finally:
        engine.dispose()


def _head() -> str:
    """The newest migration in migrations/versions (whatever its number)."""
    from pathlib import Path

    names = sorted(p.name for p in (Path(__file__).resolve().parents[1] / "migrations" / "versions").glob("0*.py"))
    return names[-1].split("_", 1)[0]


def test_upgrade_twice_is_harmless(any_db_url: str) -> None:
    db.upgrade(any_db_url)  # already at head from the fixture
    engine = db.make_engine(any_db_url)
    try:
        with engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == _head()
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- URLs an admin writes


def test_postgres_and_postgresql_urls_use_psycopg_3(postgres_url: str) -> None:
    """Given the URL as libpq, Heroku or a hosting panel writes it (postgres://, postgresql://),
    then the bot migrates and connects with psycopg 3, the driver it installs."""
    assert postgres_url.startswith("postgresql+psycopg://")
    rest = postgres_url[len("postgresql+psycopg://"):]
    for url in ("postgres://" + rest, "postgresql://" + rest):
        assert db.normalise_url(url) == postgres_url
        db.upgrade(url)
        engine = db.make_engine(url)
        try:
            assert engine.dialect.driver == "psycopg"
            with engine.connect() as conn:
                assert MigrationContext.configure(conn).get_current_revision() == _head()
        finally:
            engine.dispose()


def test_sqlite_folder_missing_names_the_key_and_path_and_creates_nothing(tmp_path: Path) -> None:
    """Given a SQLite URL whose folder does not exist (a typo), then opening it fails naming
    [database] url and the folder, and no folder or file is created (a typo must not start an
    empty database in a wrong place). The error is still an OperationalError: a folder that
    goes away under the running daemon is "database unavailable", never a mail's fault."""
    missing = tmp_path / "data-typo"
    url = f"sqlite:///{missing / 'bot.sqlite3'}"
    engine = db.make_engine(url)
    try:
        with pytest.raises(db.SqliteLocationError) as info, engine.connect():
            pass
    finally:
        engine.dispose()
    message = str(info.value)
    assert message.startswith("[database] url: ")
    assert f"the folder {missing} does not exist" in message
    assert isinstance(info.value, ConfigError) and isinstance(info.value, db.UNAVAILABLE)
    # `bot db upgrade` and every start refuse it before connecting, and not as "unavailable":
    # the daemon waits for a database that is away, and must not wait forever for a typo.
    with pytest.raises(db.DatabaseUrlError, match="does not exist") as info:
        db.upgrade(url)
    assert not isinstance(info.value, db.UNAVAILABLE)
    assert not missing.exists()


def test_sqlite_relative_path_is_explained_from_the_working_directory(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert db.sqlite_location_problem("var/bot.sqlite3") is not None
    assert str(tmp_path / "var") in (db.sqlite_location_problem("var/bot.sqlite3") or "")
    assert db.sqlite_location_problem("bot.sqlite3") is None


def test_sqlite_path_that_is_a_folder_is_named(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path}")
    try:
        with pytest.raises(db.SqliteLocationError, match="is a folder, not a SQLite file"), engine.connect():
            pass
    finally:
        engine.dispose()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write in any folder: run the suite as a user to cover this")
def test_sqlite_folder_not_writable_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(db.DatabaseUrlError, match="cannot write in the folder"):
            db.upgrade(f"sqlite:///{folder / 'bot.sqlite3'}")
    finally:
        folder.chmod(0o755)


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("mysql://u@h/db", "mysql: 対応していないデータベースです / not a supported database"),
        ("postgresql+nosuch://u@h/db", "postgresql+nosuch: 不明なドライバです / unknown driver"),
        ("postgresql+psycopg2://u@h/db", "pip install psycopg2-binary, or write the URL as postgresql://"),
        ("not a url", "not a database URL"),
    ],
)
def test_urls_the_installation_cannot_open_name_key_and_fix(url: str, named: str) -> None:
    if "psycopg2" in url:
        try:
            import psycopg2  # noqa: F401
        except ImportError:
            pass
        else:
            pytest.skip("psycopg2 is installed here")
    with pytest.raises(db.DatabaseUrlError) as info:
        db.check_url(url)
    assert str(info.value).startswith("[database] url: ") and named in str(info.value)
    with pytest.raises(db.DatabaseUrlError):
        db.make_engine(url)


def test_a_reading_session_does_not_wait_for_the_writer(tmp_path: Path) -> None:
    """Given one session holding SQLite's write lock (a decision being committed),
    when another thread reads through db.reading,
    then the read finishes at once, while an ordinary session waits for the lock."""
    import threading

    from sqlalchemy import text

    url = f"sqlite:///{tmp_path / 'locks.sqlite3'}"
    db.upgrade(url)
    engine = db.make_engine(url)
    factory = db.session_factory(engine)
    counts: dict[str, int] = {}

    def read(name: str, opener) -> None:  # noqa: ANN001
        with opener(factory) as session:
            counts[name] = session.execute(text("select count(*) from mails")).scalar_one()

    def ordinary(f):  # noqa: ANN001, ANN202 - a session as the pipeline's writers open it
        return f()

    with factory() as writer, writer.begin():
        writer.execute(text("select 1"))  # BEGIN IMMEDIATE: the write lock is held from here
        reader = threading.Thread(target=read, args=("reading", db.reading))
        reader.start()
        reader.join(5)
        assert not reader.is_alive() and counts["reading"] == 0
        blocked = threading.Thread(target=read, args=("ordinary", ordinary))
        blocked.start()
        blocked.join(0.5)
        assert blocked.is_alive(), "an ordinary session should queue behind the writer"
    blocked.join(10)
    assert counts["ordinary"] == 0
    engine.dispose()


def test_head_revision_read_from_the_files_is_alembics_head() -> None:
    from alembic.script import ScriptDirectory

    assert db.head_revision() == ScriptDirectory.from_config(db.alembic_config("sqlite://")).get_current_head()


def test_upgrade_of_a_database_at_head_does_not_start_alembic(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a database at the newest revision, when the daemon's start upgrades it, then alembic
    is not run (it costs ~0.1 s of a restart); a database one revision behind is upgraded."""
    import alembic.command

    url = f"sqlite:///{tmp_path / 'head.sqlite3'}"
    db.upgrade(url)
    calls: list[str] = []
    real = alembic.command.upgrade
    monkeypatch.setattr(alembic.command, "upgrade", lambda cfg, rev: calls.append(rev) or real(cfg, rev))
    db.upgrade(url)
    assert calls == []
    alembic.command.downgrade(db.alembic_config(url), "-1")
    db.upgrade(url)
    assert calls == ["head"]
    engine = db.make_engine(url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one() == db.head_revision()
    engine.dispose()
