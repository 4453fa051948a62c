"""Fixtures that assemble the bot: a migrated database (SQLite or PostgreSQL), a config that
points at real test servers, a Processor, and an SMTP sink (a real aiosmtpd server)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy.orm import Session, sessionmaker

from bot import db
from bot.config import Config, DatabaseConfig, MailboxConfig, SmtpConfig, load_config
from bot.config.limits import Limits
from bot.demo.embedded import EmbeddedSmtp

if TYPE_CHECKING:
    from bot.pipeline.processor import Processor

JST = dt.timezone(dt.timedelta(hours=9))
# A Tuesday business morning in Japan: fixed so time rules are repeatable.
DEFAULT_NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=JST)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Both storage back ends: the tests that take this run twice."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_url")
    db.upgrade(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    db.upgrade(url)
    return url


@pytest.fixture
def smtp_sink() -> Iterator[EmbeddedSmtp]:
    with EmbeddedSmtp() as server:
        yield server


# A scanned page's wall-time limit for tests that check what is read, not how fast: the suite
# shares two cores with whatever else runs, and a reading held for ocr_page_seconds (8 s) on a
# busy machine would make a test's outcome depend on the machine (issue 17). The tests of the
# limit itself set their own small limits.
UNHURRIED = Limits(ocr_page_seconds=60.0)


def make_config(db_url: str, *, smtp: EmbeddedSmtp | None = None, **mailbox: object) -> Config:
    cfg = load_config(env={})
    cfg = cfg.replace(database=DatabaseConfig(url=db_url),
                      limits=dataclasses.replace(cfg.limits, ocr_page_seconds=UNHURRIED.ocr_page_seconds))
    if smtp is not None:
        cfg = cfg.replace(smtp=dataclasses.replace(SmtpConfig(), host=smtp.host, port=smtp.port, timeout=5.0))
    if mailbox:
        cfg = cfg.replace(mailbox=dataclasses.replace(MailboxConfig(), **mailbox))
    return cfg


@pytest.fixture
def factory(sqlite_url: str) -> Iterator[sessionmaker[Session]]:
    engine = db.make_engine(sqlite_url)
    yield db.session_factory(engine)
    engine.dispose()


class Clock:
    """A settable clock for the processor: tests move time explicitly."""

    def __init__(self, now: dt.datetime = DEFAULT_NOW) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def make_processor(cfg: Config, clock: Clock | None = None) -> tuple[Processor, sessionmaker[Session]]:
    from bot.pipeline.processor import Processor
    from bot.templating import Templates

    engine = db.make_engine(cfg.database.url)
    factory = db.session_factory(engine)
    return Processor(cfg, factory, Templates(), clock=clock or Clock()), factory


@pytest.fixture
def refusing_smtp() -> Iterator[int]:
    """aiosmtpd that offers AUTH and refuses every login (a wrong SMTP password, for real)."""
    def refuse(server: object, session: object, envelope: object, mechanism: str, auth_data: object) -> AuthResult:
        return AuthResult(success=False, handled=False)

    class Handler:
        pass

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, auth_require_tls=False, authenticator=refuse)
    controller.start()
    yield port
    controller.stop()
