"""`bot check` (issue 18, point 3): each check meets its real server and says what is wrong and
how to fix it. Dovecot, aiosmtpd (plain, and one that refuses AUTH), SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import db
from bot.commands.check import Result, run_checks
from bot.config import Config, SmtpConfig, VendorConfig
from bot.demo.embedded import EmbeddedSmtp
from bot.unis import import_extract
from tests.fixtures.demo_mails import UNIS_CSV
from tests.support.app import DEFAULT_NOW, make_config
from tests.support.dovecot import Dovecot, free_port
from tests.support.mailbuilder import build_mail

ROOT = Path(__file__).resolve().parents[1]


def configured(url: str, imap: Dovecot, smtp_port: int, **smtp: object) -> Config:
    cfg = make_config(url, host=imap.host, port=imap.port, user=imap.user, password=imap.password)
    cfg = cfg.replace(smtp=dataclasses.replace(SmtpConfig(), host="127.0.0.1", port=smtp_port, timeout=5.0, **smtp))
    return cfg.replace(vendor=dataclasses.replace(VendorConfig(), to=("order@fg.example.jp",), pdf_password="v-key"))


def by_what(results: list[Result]) -> dict[str, Result]:
    return {r.what: r for r in results}


def with_unis(url: str) -> str:
    factory = db.session_factory(db.make_engine(url))
    with db.transaction(factory) as s:
        import_extract(s, UNIS_CSV.encode("cp932"), name="unis.csv", now=dt.datetime.now(dt.UTC))
    return url


def test_a_ready_setup_passes_every_check(sqlite_url: str, dovecot: Dovecot, smtp_sink: EmbeddedSmtp) -> None:
    results = run_checks(configured(with_unis(sqlite_url), dovecot, smtp_sink.port))
    assert all(r.ok for r in results), [r.line() for r in results]
    got = by_what(results)
    assert set(got) == {"データベース", "UNIS データ", "IMAP", "受信箱の履歴", "SMTP", "テンプレート", "業者便"}
    assert "メールは送っていません" in got["SMTP"].found and smtp_sink.messages == []


def test_a_wrong_mailbox_password_names_the_variable(sqlite_url: str, dovecot: Dovecot,
                                                     smtp_sink: EmbeddedSmtp) -> None:
    cfg = configured(with_unis(sqlite_url), dovecot, smtp_sink.port)
    cfg = cfg.replace(mailbox=dataclasses.replace(cfg.mailbox, password="wrong"))
    imap = by_what(run_checks(cfg))["IMAP"]
    assert not imap.ok and "ログインが拒否" in imap.found and "BOT_MAILBOX_PASSWORD" in imap.fix, imap.line()


def test_smtp_auth_refused_and_a_closed_port_are_told_apart(sqlite_url: str, dovecot: Dovecot,
                                                            refusing_smtp: int) -> None:
    refused = by_what(run_checks(configured(sqlite_url, dovecot, refusing_smtp, user="bot", password="x")))["SMTP"]
    assert not refused.ok and "認証が拒否" in refused.found and "BOT_SMTP_PASSWORD" in refused.fix, refused.line()
    closed = by_what(run_checks(configured(sqlite_url, dovecot, free_port())))["SMTP"]
    assert not closed.ok and "接続が拒否" in closed.found and "[smtp] host / port" in closed.fix, closed.line()


def test_no_unis_data_and_an_old_schema_are_failures_with_their_fix(tmp_path: Path, sqlite_url: str,
                                                                    dovecot: Dovecot, smtp_sink: EmbeddedSmtp) -> None:
    unis = by_what(run_checks(configured(sqlite_url, dovecot, smtp_sink.port)))["UNIS データ"]
    assert not unis.ok and "UNIS_ORDER_MISSING" in unis.found and "bot import-unis" in unis.fix
    bare = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    database = by_what(run_checks(configured(bare, dovecot, smtp_sink.port)))["データベース"]
    assert not database.ok and "bot db upgrade" in database.fix


def test_a_wrong_postgresql_database_name_names_the_url(postgres_url: str, dovecot: Dovecot,
                                                        smtp_sink: EmbeddedSmtp) -> None:
    wrong = postgres_url.rsplit("/", 1)[0] + "/no_such_database"
    database = by_what(run_checks(configured(wrong, dovecot, smtp_sink.port)))["データベース"]
    assert not database.ok and "ありません" in database.found and "BOT_DATABASE_URL" in database.fix, database.line()
    assert "no_such_database" in database.found


def test_a_mailbox_with_history_needs_since(sqlite_url: str, dovecot: Dovecot, smtp_sink: EmbeddedSmtp) -> None:
    """Given mail delivered last month and no [mailbox] since, the check fails with the line that
    fixes it; with since set, the history is left alone and the check passes."""
    with dovecot.client() as client:
        client.append("INBOX", build_mail(subject="USEN SPOT 器材発注依頼_988776654", body="x"),
                      msg_time=dt.datetime.now(dt.UTC) - dt.timedelta(days=40))
    cfg = configured(with_unis(sqlite_url), dovecot, smtp_sink.port)
    history = by_what(run_checks(cfg))["受信箱の履歴"]
    assert not history.ok and "[mailbox] since = " in history.fix, history.line()
    today = dt.date.today().isoformat()
    fixed = cfg.replace(mailbox=dataclasses.replace(cfg.mailbox, since=today))
    assert by_what(run_checks(fixed))["受信箱の履歴"].ok


def test_bot_check_prints_one_line_a_check_and_exits_1_on_a_failure(tmp_path: Path) -> None:
    """The command itself, as an admin runs it: nothing listens on the configured ports."""
    config = tmp_path / "config.toml"
    config.write_text(f'[mailbox]\nport = {free_port()}\n[smtp]\nport = {free_port()}\n'
                      f'[database]\nurl = "sqlite:///{tmp_path / "bot.sqlite3"}"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    subprocess.run([sys.executable, "-m", "bot", "--config", str(config), "db", "upgrade"], env=env, check=True,
                   capture_output=True, cwd=ROOT)
    proc = subprocess.run([sys.executable, "-m", "bot", "--config", str(config), "check"], env=env,
                          capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert [ln[:2] for ln in lines[:-1]] == ["OK", "NG", "NG", "NG", "OK", "NG"], lines
    assert lines[-1].startswith("2 件 OK、4 件 NG")
    assert "Traceback" not in proc.stderr
