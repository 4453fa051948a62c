"""`bot run` at start and `bot status` on a restored backup (issue 18, points 3 and 4), against
real servers: Dovecot with a wrong password, aiosmtpd refusing AUTH, PostgreSQL without the
database, a mailbox with history, a database that is away, a heartbeat of a process that is gone."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot import db
from bot.daemon import health
from bot.db.models import OutboxMessage
from tests.support.dovecot import Dovecot, free_port
from tests.support.mailbuilder import build_mail

ROOT = Path(__file__).resolve().parents[1]


def config(tmp: Path, *, db_url: str, imap: Dovecot, smtp_port: int, password: str | None = None,
           extra: str = "") -> Path:
    path = tmp / "config.toml"
    path.write_text(
        f'[mailbox]\nhost = "127.0.0.1"\nport = {imap.port}\nuser = "{imap.user}"\n'
        f'password = "{password if password is not None else imap.password}"\npoll_seconds = 2\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\ntimeout = 5\n'
        f'[database]\nurl = "{db_url}"\n' + extra, encoding="utf-8")
    return path


def run_bot(cfg: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    return subprocess.run([sys.executable, "-m", "bot", "--config", str(cfg), "run"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, check=False)


def test_a_wrong_mailbox_password_stops_bot_run_with_exit_2(tmp_path: Path, dovecot: Dovecot) -> None:
    cfg = config(tmp_path, db_url=f"sqlite:///{tmp_path / 'bot.sqlite3'}", imap=dovecot, smtp_port=free_port(),
                 password="wrong")
    proc = run_bot(cfg)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "BOT_MAILBOX_PASSWORD" in proc.stderr and "Traceback" not in proc.stderr


def test_a_refused_smtp_login_stops_bot_run_with_exit_2(tmp_path: Path, dovecot: Dovecot, refusing_smtp: int) -> None:
    cfg = config(tmp_path, db_url=f"sqlite:///{tmp_path / 'bot.sqlite3'}", imap=dovecot, smtp_port=refusing_smtp,
                 extra='')
    text = cfg.read_text(encoding="utf-8").replace("timeout = 5\n", 'timeout = 5\nuser = "bot"\npassword = "x"\n')
    cfg.write_text(text, encoding="utf-8")
    proc = run_bot(cfg)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "BOT_SMTP_PASSWORD" in proc.stderr


def test_a_database_that_does_not_exist_is_a_config_error_not_an_outage(tmp_path: Path, dovecot: Dovecot,
                                                                        postgres_url: str) -> None:
    wrong = postgres_url.rsplit("/", 1)[0] + "/no_such_database"
    proc = run_bot(config(tmp_path, db_url=wrong, imap=dovecot, smtp_port=free_port()))
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "BOT_DATABASE_URL" in proc.stderr and "no_such_database" in proc.stderr


def test_a_postgresql_role_that_does_not_exist_is_a_config_error(tmp_path: Path, dovecot: Dovecot,
                                                                postgres_url: str) -> None:
    scheme, _, rest = postgres_url.partition("://")
    wrong = f"{scheme}://no_such_role@{rest.split('@', 1)[-1]}"
    proc = run_bot(config(tmp_path, db_url=wrong, imap=dovecot, smtp_port=free_port()))
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "BOT_DATABASE_URL" in proc.stderr and "no_such_role" in proc.stderr


def test_a_mailbox_with_history_and_no_since_is_refused_at_first_start(tmp_path: Path, dovecot: Dovecot) -> None:
    with dovecot.client() as client:
        client.append("INBOX", build_mail(), msg_time=dt.datetime.now(dt.UTC) - dt.timedelta(days=40))
    cfg = config(tmp_path, db_url=f"sqlite:///{tmp_path / 'bot.sqlite3'}", imap=dovecot, smtp_port=free_port())
    proc = run_bot(cfg)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "[mailbox] since = " in proc.stderr
    assert dovecot.folder_uids("INBOX") != [] and dovecot.folder_uids("Rejected") == []  # nothing answered


def test_healthz_says_503_and_why_while_the_database_is_awaited(tmp_path: Path, dovecot: Dovecot) -> None:
    """Given a PostgreSQL URL whose server is not running, `bot run` waits for it, and its
    health port answers from the first second: 503 naming the wait."""
    health_port = free_port()
    cfg = config(tmp_path, db_url=f"postgresql://bot@127.0.0.1:{free_port()}/bot", imap=dovecot,
                 smtp_port=free_port(), extra=f'[health]\nhost = "127.0.0.1"\nport = {health_port}\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    proc = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(cfg), "run"], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        body = None
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{health_port}/healthz", timeout=2)
            except urllib.error.HTTPError as err:
                code, body = err.code, json.loads(err.read())
                break
            except OSError:
                time.sleep(0.1)
        assert body is not None, "the health port never answered"
        assert code == 503 and not body["healthy"]
        assert "データベース" in body["problems"][0] and "待機中" in body["problems"][0], body
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


@pytest.fixture
def factory(sqlite_url: str) -> Iterator[sessionmaker[Session]]:
    engine = db.make_engine(sqlite_url)
    yield db.session_factory(engine)
    engine.dispose()


def test_a_heartbeat_restored_from_a_backup_is_no_live_process(factory: sessionmaker[Session]) -> None:
    """Given the heartbeat of a process on this host that is gone (as a restored backup holds),
    written a minute ago, then status sees no live bot; this process's own heartbeat is alive."""
    now = dt.datetime.now(dt.UTC)
    gone = subprocess.run([sys.executable, "-c", "from bot.db.claims import process_token; print(process_token())"],
                          check=True, capture_output=True, text=True, cwd=ROOT).stdout.strip()
    health.beat(factory, gone, now=now - dt.timedelta(minutes=1), state=health.RUNNING,
                started_at=now - dt.timedelta(hours=1), last_fetch_at=now - dt.timedelta(minutes=1))
    with factory() as s:
        h = health.collect(s, now=now, tz=dt.UTC)
    assert [p.alive for p in h.processes] == [False]
    assert any("稼働中のボットがありません" in p for p in h.problems), h.problems
    from bot.db.claims import process_token
    health.beat(factory, process_token(), now=now, state=health.RUNNING, started_at=now, last_fetch_at=now)
    with factory() as s:
        h = health.collect(s, now=now, tz=dt.UTC)
    assert sorted(p.alive for p in h.processes) == [False, True]


def test_a_failed_send_makes_status_unhealthy_at_once(factory: sessionmaker[Session]) -> None:
    now = dt.datetime.now(dt.UTC)
    with db.transaction(factory) as s:
        s.add(OutboxMessage(purpose="reply", message_id="<m1@bot>", mail_from="bot@usen.example",
                            rcpt_to=["a@usen.co.jp"], subject="x", raw=b"x", status="pending", attempts=1,
                            last_error="SMTPConnectError: [Errno 111] Connection refused",
                            created_at=now - dt.timedelta(seconds=30), next_attempt_at=now + dt.timedelta(minutes=1)))
    with factory() as s:
        h = health.collect(s, now=now, tz=dt.UTC)
    assert any("送信できていません" in p and "Connection refused" in p for p in h.problems), h.problems


def test_on_postgresql_a_process_of_another_host_is_alive_while_its_connection_is(postgres_url: str) -> None:
    """Given a fresh heartbeat of a process on another host (as a restored backup holds), it is
    alive only while a connection that process named (application_name) is open."""
    other = "otherhost:4242:99"
    db.upgrade(postgres_url)
    engine = db.make_engine(postgres_url)
    factory = db.session_factory(engine)
    now = dt.datetime.now(dt.UTC)
    health.beat(factory, other, now=now - dt.timedelta(minutes=1), state=health.RUNNING, started_at=now,
                last_fetch_at=now)

    def alive() -> list[bool]:
        with factory() as s:
            return [p.alive for p in health.collect(s, now=now, tz=dt.UTC).processes]

    assert alive() == [False]  # a ghost: no process holds a connection under that name
    theirs = db.make_engine(postgres_url, process=other)
    with theirs.connect():
        assert alive() == [True]
    theirs.dispose()
    assert alive() == [False]
    engine.dispose()
