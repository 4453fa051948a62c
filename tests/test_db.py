"""Storage: the Alembic migrations build exactly the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from bot import db
from bot.models import Base


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
