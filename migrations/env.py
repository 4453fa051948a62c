"""Alembic environment: the URL comes from the bot's config (see bot.db.alembic_config)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool, text

from bot.db import make_engine
from bot.db.models import Base

config = context.config
target_metadata = Base.metadata
# pg_advisory_xact_lock key of `bot db upgrade` (any constant no other code uses).
MIGRATION_LOCK = 0x55535054  # "USPT"


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "", poolclass=pool.NullPool)
    with engine.connect() as connection:
        # render_as_batch: SQLite cannot ALTER most things; batch mode copies the table instead.
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # Several bot processes starting at once on a new database: one migrates, the
                # others wait here and then find the schema at head (the version is read after
                # the lock). Released with the transaction.
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
