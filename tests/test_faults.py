"""The fault suite (issue 11): the bot's real surroundings break while `bot run` works, and
no mail is lost, none is answered twice, and the fault shows as one clear log line.

Every fault is real: Dovecot's processes are killed and started again on the same port and
maildir; the SMTP port really refuses connections; PostgreSQL is stopped with pg_ctl; the
SQLite file lives on a tmpfs that is really full; the bot itself is killed with SIGKILL at
each step of a mail's path (stopped there by a database trigger, a held SMTP DATA or a held
SQLite write lock, never by a hook in bot code). Waits are shortened by config (poll
interval, batch size) and, where the daemon's own minute timer would be the only thing left
to wait for, by calling the very flush it calls with its clock moved on.

Each fault's outcome is one scenario run once (a module fixture); the tests below assert on
its parts, so a log-quality bug never hides whether mails were lost or doubled.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from bot import db
from bot.actions import outbox
from bot.config import SmtpConfig
from tests.support.dovecot import Dovecot
from tests.support.faults import (
    REJECTED,
    BotProcess,
    DbProbe,
    Delivery,
    PgGate,
    RestartablePostgres,
    SmtpCapture,
    count_tracebacks,
    defective_mail,
    fill_up,
    lines_matching,
    message_id,
    port_refuses,
    small_filesystem,
    wait_until,
    write_config,
)
from tests.support.postgres import PostgresServer
from tests.support.tcpproxy import CuttingProxy

# A pass, a decision and a reply take well under a second here (a few on a loaded machine);
# this bounds waits that only run out when something is broken.
SETTLE = 30.0
# How soon after a restart a reply that was due before the crash should be on its way.
PROMPT = 15.0


def smtp_config(port: int) -> SmtpConfig:
    return dataclasses.replace(SmtpConfig(), host="127.0.0.1", port=port, timeout=10.0)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def start_bot(tmp: Path, *, db_url: str, imap: Dovecot, smtp: SmtpCapture, batch_size: int = 50,
              smtp_timeout: float = 10.0, imap_port: int | None = None) -> BotProcess:
    """`bot run` against these servers, IDLE with a 2 s safety poll; back once its folder is
    selected. ``imap_port``: reach Dovecot through a proxy on that port instead."""
    config = write_config(tmp / "config.toml", db_url=db_url, imap_host=imap.host,
                          imap_port=imap_port if imap_port is not None else imap.port,
                          imap_user=imap.user, imap_password=imap.password, smtp_port=smtp.port, poll_seconds=2.0,
                          batch_size=batch_size, smtp_timeout=smtp_timeout)
    bot = BotProcess(config, tmp / "bot.log")
    bot.start()
    bot.wait_ready()
    return bot


def assert_one_reply_each(smtp: SmtpCapture, parents: list[str]) -> None:
    """Every mail got exactly one reply: one distinct Message-ID, delivered once."""
    replies = smtp.replies()
    missing = [p for p in parents if p not in replies]
    assert not missing, f"no reply for {missing}"
    doubled = {p: [d.message_id for d in replies[p]] for p in parents if len(replies[p]) != 1}
    assert not doubled, f"replied more than once: {doubled}"
    stray = set(replies) - set(parents)
    assert not stray, f"replies to mails never sent: {stray}"


def assert_all_filed(probe: DbProbe, imap: Dovecot, count: int, folder: str = REJECTED) -> None:
    assert imap.folder_uids("INBOX") == []
    assert len(imap.folder_uids(folder)) == count
    assert imap.folder_uids("Quarantine") == []
    mails = probe.mails()
    assert len(mails) == count
    assert {m.status for m in mails} == {"filed"}, [(m.message_id, m.status, m.error) for m in mails]
    assert {m.filed_folder for m in mails} == {folder}
    replies = probe.replies()
    assert len(replies) == count  # one reply row per mail: none queued twice
    assert {r.status for r in replies} == {outbox.SENT}


# =========================================================================== 1. Dovecot restart


@dataclasses.dataclass
class ImapRestart:
    parents: list[str]
    stored_at_kill: int
    log: str
    error: BaseException | None = None


ImapRestartRun = tuple[ImapRestart, SmtpCapture, DbProbe, Dovecot]


@pytest.fixture(scope="module")
def imap_restart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImapRestartRun]:
    """Given 40 big mails (~400 KB each) fetched 4 at a time through a proxy, when the bot's
    second ``UID FETCH … BODY.PEEK[]`` has been answered with its first bytes only, Dovecot is
    killed (SIGKILL to the master's process group) and started again on the same port and
    maildir, and the connection is cut: the fault lands mid-FETCH by construction, not by
    timing (tests/support/tcpproxy.py)."""
    tmp = tmp_path_factory.mktemp("imap-restart")
    count = 40
    with Dovecot() as imap, CuttingProxy(imap.host, imap.port) as proxy, SmtpCapture() as smtp:
        url = f"sqlite:///{tmp / 'bot.sqlite3'}"
        probe = DbProbe(url)
        imap.append_many([defective_mail(i, tag="fetch", attachment_bytes=300_000) for i in range(count)])
        result = ImapRestart([message_id(i, "fetch") for i in range(count)], 0, "")

        def restart() -> None:
            result.stored_at_kill = probe.safe(lambda: sum(probe.mail_statuses().values()), -1)
            imap.stop()
            imap.start()

        proxy.cut_on(b"BODY.PEEK[]", 2, restart)
        bot = start_bot(tmp, db_url=url, imap=imap, smtp=smtp, batch_size=4, imap_port=proxy.port)
        try:
            assert proxy.cut.wait(SETTLE), "the bot never sent its second body FETCH"
            assert result.stored_at_kill < count, "all mails stored before the fault: nothing was mid-FETCH"
            smtp.wait_replies(result.parents, SETTLE)
            wait_until(lambda: len(imap.folder_uids(REJECTED)) == count, 10)
        except BaseException as err:  # noqa: BLE001 - reported by the tests below
            result.error = err
        finally:
            bot.stop()
            result.log = bot.output(None)
        yield result, smtp, probe, imap
        probe.close()


def test_dovecot_restart_mid_fetch_loses_and_doubles_nothing(imap_restart: ImapRestartRun) -> None:
    """Then the bot reconnects by itself and every mail gets exactly one decision and one reply."""
    result, smtp, probe, imap = imap_restart
    if result.error is not None:
        raise result.error
    print(f"{result.stored_at_kill} of {len(result.parents)} mails stored when Dovecot was killed")
    assert_one_reply_each(smtp, result.parents)
    assert_all_filed(probe, imap, len(result.parents))
    decided = Counter(re.findall(r"INFO bot\.pipeline: mail (\d+) uid", result.log))
    assert len(decided) == len(result.parents) and set(decided.values()) == {1}  # decided once each


def test_dovecot_restart_is_one_warning_not_a_traceback(imap_restart: ImapRestartRun) -> None:
    result, *_ = imap_restart
    warned = lines_matching(result.log, r"WARNING bot\.intake: IMAP .*reconnecting in")
    assert warned, result.log[-3000:]
    assert "UID FETCH" in warned[0], warned  # it names what was cut off
    assert len(warned) <= 2, warned  # the lost link, at most one refused reconnect
    assert count_tracebacks(result.log) == 0, result.log[-5000:]


# =========================================================================== 2. SMTP outage


@dataclasses.dataclass
class SmtpOutage:
    parents: list[str]
    pending_while_down: list[object] = dataclasses.field(default_factory=list)
    ticks_while_down: list[outbox.FlushResult] = dataclasses.field(default_factory=list)
    sent_after: outbox.FlushResult | None = None
    again: outbox.FlushResult | None = None
    exit_code: int | None = None
    log: str = ""
    error: BaseException | None = None


SmtpOutageRun = tuple[SmtpOutage, SmtpCapture, DbProbe, Dovecot]


@pytest.fixture(scope="module")
def smtp_outage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpOutageRun]:
    """Given `bot run` whose SMTP server is down (its port refuses connections), when ten
    mails are decided, the outage lasts five minutes of the daemon's minute ticks, and the
    server then comes back on the same port."""
    tmp = tmp_path_factory.mktemp("smtp-outage")
    count = 10
    with Dovecot() as imap, SmtpCapture() as smtp:
        url = f"sqlite:///{tmp / 'bot.sqlite3'}"
        probe = DbProbe(url)
        factory = db.session_factory(db.make_engine(url))
        smtp.stop()
        assert port_refuses(smtp.port)
        bot = start_bot(tmp, db_url=url, imap=imap, smtp=smtp)
        result = SmtpOutage([message_id(i, "smtp") for i in range(count)])
        try:
            imap.append_many([defective_mail(i, tag="smtp") for i in range(count)])
            # Decided and filed, every reply waiting in the outbox after the daemon's own flush
            # found the server down.
            assert wait_until(lambda: probe.mail_statuses() == {"filed": count} and len(probe.replies()) == count
                              and any(r.last_error for r in probe.replies()), SETTLE), \
                (probe.mails(), probe.replies(), bot.output()[-3000:])
            # The outage goes on: the flush the daemon runs every minute, for five minutes.
            start = utcnow()
            for minute in range(1, 6):
                assert port_refuses(smtp.port)
                result.ticks_while_down.append(
                    outbox.flush(factory, smtp_config(smtp.port), now=start + dt.timedelta(minutes=minute)))
            result.pending_while_down = probe.replies()
            smtp.start()
            result.sent_after = outbox.flush(factory, smtp_config(smtp.port), now=start + dt.timedelta(minutes=7))
            smtp.wait_replies(result.parents, 10)
            result.again = outbox.flush(factory, smtp_config(smtp.port), now=start + dt.timedelta(hours=3))
        except BaseException as err:  # noqa: BLE001 - reported by the tests below
            result.error = err
        finally:
            result.exit_code = bot.stop()  # a graceful stop flushes once more: must send nothing new
            result.log = bot.output(None)
            factory.kw["bind"].dispose()
        yield result, smtp, probe, imap
        probe.close()


def test_smtp_outage_keeps_replies_waiting_without_using_attempts(smtp_outage: SmtpOutageRun) -> None:
    """Then while it is down every reply waits in the outbox, pending, no attempt used up,
    and each minute's flush is one refused connection that gives nothing up."""
    result, *_ = smtp_outage
    if result.error is not None:
        raise result.error
    assert len(result.pending_while_down) == len(result.parents)
    for row in result.pending_while_down:
        assert row.status == outbox.PENDING and row.attempts == 0, row
    # The flush stops at the first refused connection: the row it was on records why.
    errors = [r.last_error for r in result.pending_while_down if r.last_error]
    assert errors and all("refused" in e.lower() or "connect" in e.lower() for e in errors), errors
    assert [(r.sent, r.failed) for r in result.ticks_while_down] == [(0, 1)] * 5


def test_smtp_outage_sends_every_reply_exactly_once_when_back(smtp_outage: SmtpOutageRun) -> None:
    result, smtp, probe, imap = smtp_outage
    if result.error is not None:
        raise result.error
    assert result.sent_after is not None and result.sent_after.sent == len(result.parents)
    assert result.again is not None and result.again.sent == 0
    assert result.exit_code == 0
    assert_one_reply_each(smtp, result.parents)
    assert_all_filed(probe, imap, len(result.parents))


def test_smtp_outage_is_one_warning_not_a_traceback(smtp_outage: SmtpOutageRun) -> None:
    result, *_ = smtp_outage
    warned = lines_matching(result.log, r"WARNING bot\.actions\.outbox: outbox: SMTP .* unreachable")
    assert warned, result.log[-3000:]
    assert "mail(s) wait for the next flush" in warned[0]
    assert count_tracebacks(result.log) == 0, result.log[-5000:]


# =========================================================================== 3. PostgreSQL outage


@dataclasses.dataclass
class PgOutage:
    parents: list[str]
    log: str = ""
    outage_log: str = ""
    error: BaseException | None = None


PgOutageRun = tuple[PgOutage, SmtpCapture, DbProbe, Dovecot]


@pytest.fixture(scope="module")
def pg_outage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgOutageRun]:
    """Given `bot run` on PostgreSQL (a cluster of this test's own), when PostgreSQL is stopped
    (pg_ctl stop -m fast) while the bot works through ten mails, five more mails arrive while
    it is down, and it is started again four seconds later."""
    tmp = tmp_path_factory.mktemp("pg-outage")
    first, later = 10, 5
    server = RestartablePostgres()
    try:
        try:
            server.start()
        except Exception as err:  # noqa: BLE001 - the rule of tests/support/postgres.py: fail, never skip
            pytest.fail(f"cannot start PostgreSQL for the tests: {err} {getattr(err, 'stderr', b'')!r}")
        with Dovecot() as imap, SmtpCapture() as smtp:
            url = server.create_database()
            probe = DbProbe(url)
            bot = start_bot(tmp, db_url=url, imap=imap, smtp=smtp)
            result = PgOutage([message_id(i, "pg") for i in range(first + later)])
            try:
                imap.append_many([defective_mail(i, tag="pg") for i in range(first)])
                assert wait_until(lambda: probe.safe(lambda: probe.mail_statuses().get("decided", 0)
                                                     + probe.mail_statuses().get("filed", 0), 0) >= 3, SETTLE)
                offset = len(bot.output())
                server.pause()
                imap.append_many([defective_mail(i, tag="pg") for i in range(first, first + later)])
                time.sleep(4.0)  # down long enough for the bot to meet the outage more than once
                result.outage_log = bot.output()[offset:]
                server.resume()
                smtp.wait_replies(result.parents, SETTLE)
                wait_until(lambda: probe.safe(probe.mail_statuses, {}) == {"filed": first + later}, 10)
            except BaseException as err:  # noqa: BLE001 - reported by the tests below
                result.error = err
            finally:
                bot.stop()
                result.log = bot.output(None)
            yield result, smtp, probe, imap
            probe.close()
    finally:
        server.stop()


def test_postgres_outage_decides_everything_after_it(pg_outage: PgOutageRun) -> None:
    """Then the mails are all decided once PostgreSQL is back: none quarantined because of the
    outage, none answered twice."""
    result, smtp, probe, imap = pg_outage
    if result.error is not None:
        raise result.error
    assert_one_reply_each(smtp, result.parents)
    assert_all_filed(probe, imap, len(result.parents))
    assert all(m.error is None for m in probe.mails())




def test_postgres_outage_is_one_clear_line_not_a_traceback_storm(pg_outage: PgOutageRun) -> None:
    """Then the outage shows as a clear WARNING/ERROR line naming the database, not as a
    traceback per retry."""
    result, *_ = pg_outage
    print(result.outage_log)
    assert count_tracebacks(result.log) == 0, result.outage_log[-5000:]
    warned = lines_matching(result.log, r"(WARNING|ERROR) bot\.\w+: .*(database|PostgreSQL|OperationalError)")
    assert warned, result.outage_log[-5000:]


# =========================================================================== 4. SQLite on a full disk


@dataclasses.dataclass
class DiskFull:
    parents: list[str]
    skipped: str = ""
    statuses_while_full: dict[str, int] = dataclasses.field(default_factory=dict)
    full_log: str = ""
    log: str = ""
    error: BaseException | None = None


DiskFullRun = tuple[DiskFull, SmtpCapture, DbProbe | None, Dovecot]


@pytest.fixture(scope="module")
def disk_full(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DiskFullRun]:
    """Given `bot run` whose SQLite file lives on a 2 MB tmpfs, when one mail is answered, the
    file system is then filled to the last byte, five mails arrive, and a few seconds later the
    space is freed. (The bot's SQLite runs in WAL mode and keeps its connections open, so every
    commit appends to the -wal file: any write needs new space.)"""
    tmp = tmp_path_factory.mktemp("disk-full")
    first, later = 1, 5
    result = DiskFull([message_id(i, "disk") for i in range(first + later)])
    with small_filesystem(tmp / "disk", "2m") as disk, Dovecot() as imap, SmtpCapture() as smtp:
        if disk is None:
            result.skipped = "cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)"
            yield result, smtp, None, imap
            return
        url = f"sqlite:///{disk / 'bot.sqlite3'}"
        probe = DbProbe(url)
        bot = start_bot(tmp, db_url=url, imap=imap, smtp=smtp)
        try:
            imap.append_many([defective_mail(i, tag="disk") for i in range(first)])
            assert smtp.wait_replies(result.parents[:first], SETTLE)
            assert wait_until(lambda: probe.replies() and {r.status for r in probe.replies()} == {outbox.SENT}, 10)
            offset = len(bot.output())
            filler = fill_up(disk)
            imap.append_many([defective_mail(i, tag="disk") for i in range(first, first + later)])
            assert bot.wait_for_output(r"disk is full|disk I/O error|No space left", SETTLE), bot.output()[-3000:]
            time.sleep(2.0)  # the bot meets the full disk again on its next try
            result.statuses_while_full = dict(probe.mail_statuses())
            result.full_log = bot.output()[offset:]
            filler.unlink()
            smtp.wait_replies(result.parents, SETTLE)
            wait_until(lambda: probe.mail_statuses() == {"filed": first + later}, 10)
        except BaseException as err:  # noqa: BLE001 - reported by the tests below
            result.error = err
        finally:
            bot.stop()
            result.log = bot.output(None)
        yield result, smtp, probe, imap
        probe.close()


def test_full_disk_quarantines_nothing_and_carries_on_when_freed(disk_full: DiskFullRun) -> None:
    """Then no mail is quarantined because of the full disk, and once space is freed every mail
    is decided and answered exactly once."""
    result, smtp, probe, imap = disk_full
    if result.skipped:
        pytest.skip(result.skipped)
    if result.error is not None:
        raise result.error
    assert "quarantined" not in result.statuses_while_full, result.statuses_while_full
    assert_one_reply_each(smtp, result.parents)
    assert_all_filed(probe, imap, len(result.parents))


def test_full_disk_is_one_clear_line_not_a_traceback_storm(disk_full: DiskFullRun) -> None:
    """Then the full disk shows as a clear line saying so, not as a traceback per retry."""
    result, *_ = disk_full
    if result.skipped:
        pytest.skip(result.skipped)
    print(result.full_log)
    assert count_tracebacks(result.log) == 0, result.full_log[-5000:]
    assert lines_matching(result.log, r"(WARNING|ERROR) bot\.\w+: .*(disk is full|No space left)"), result.full_log


# =========================================================================== 5. SIGKILL at each step

# The steps of a mail's path after which `bot run` is killed, and how the test holds it there:
KILL_POINTS: dict[str, tuple[str, str]] = {
    # raw mail committed; the decision's transaction waits at a trigger on its UPDATE of the mail
    "stored": ("postgresql", "the decision's UPDATE of the mail row waits at a trigger"),
    # decision + reply committed; the outbox's claim (UPDATE to 'sending') waits at a trigger
    "queued": ("postgresql", "the outbox claim's UPDATE waits at a trigger"),
    # claim committed; the SMTP server holds the DATA command unanswered
    "claimed": ("sqlite", "the SMTP server holds DATA unanswered"),
    # the SMTP server accepted (250); the test holds SQLite's write lock so the row cannot be marked sent
    "sent_unmarked": ("sqlite", "the SMTP server takes the SQLite write lock, then answers 250"),
    # IMAP MOVE done; the UPDATE that marks the mail filed waits at a trigger
    "moved_unfiled": ("postgresql", "the UPDATE marking the mail filed waits at a trigger"),
}


@dataclasses.dataclass
class Killed:
    point: str
    backend: str
    parent: str
    at_kill: dict[str, object] = dataclasses.field(default_factory=dict)
    latency: float | None = None  # restart → the reply row marked sent, when within PROMPT
    restarted_at: float = 0.0  # time.monotonic() of the restart
    nudged: bool = False
    deliveries: list[Delivery] = dataclasses.field(default_factory=list)
    mails: list[Any] = dataclasses.field(default_factory=list)  # rows of DbProbe.mails()
    replies: list[Any] = dataclasses.field(default_factory=list)  # rows of DbProbe.replies()
    folders: dict[str, int] = dataclasses.field(default_factory=dict)
    exit_code: int | None = None
    restart_log: str = ""
    error: BaseException | None = None


class KillScenario:
    """One bot, one mail, one SIGKILL at ``point``; then a restart."""

    def __init__(self, point: str, tmp: Path, stack: ExitStack, postgres: PostgresServer, key: int) -> None:
        backend, _how = KILL_POINTS[point]
        self.point = point
        self.result = Killed(point, backend, message_id(0, point))
        self.imap = stack.enter_context(Dovecot())
        self.smtp = stack.enter_context(SmtpCapture())
        if backend == "postgresql":
            self.url = postgres.create_database()
        else:
            self.sqlite_path = tmp / "bot.sqlite3"
            self.url = f"sqlite:///{self.sqlite_path}"
        db.upgrade(self.url)  # the gates need the tables before the bot starts
        self.probe = DbProbe(self.url)
        stack.callback(self.probe.close)
        self.gate: PgGate | None = None
        if backend == "postgresql":
            self.gate = PgGate(self.url, key)
            stack.callback(self.gate.dispose)
        self.sqlite_lock: sqlite3.Connection | None = None
        self.tmp = tmp
        self.bot: BotProcess | None = None
        self.stack = stack
        self.restarted_at = 0.0

    def guard(self, step: Callable[[], object]) -> None:
        if self.result.error is not None:
            return
        try:
            step()
        except BaseException as err:  # noqa: BLE001 - reported by this point's tests
            self.result.error = err

    # -- before the kill ------------------------------------------------------------------

    def arm(self) -> None:
        gate, point = self.gate, self.point
        if point == "stored":
            assert gate is not None
            gate.add("decide", "mails", "OLD.status = 'stored' AND NEW.status = 'decided'")
        elif point == "queued":
            assert gate is not None
            gate.add("claim", "outbox", "NEW.status = 'sending'")
        elif point == "moved_unfiled":
            assert gate is not None
            gate.add("file", "mails", "OLD.filed_at IS NULL AND NEW.filed_at IS NOT NULL")
        elif point == "claimed":
            self.smtp.hold = threading.Event()
        elif point == "sent_unmarked":
            self.smtp.before_accept = self._take_sqlite_write_lock
        if gate is not None:
            gate.close()
        self.bot = start_bot(self.tmp, db_url=self.url, imap=self.imap, smtp=self.smtp, smtp_timeout=60.0)
        self.stack.callback(self.bot.kill)
        self.imap.append(defective_mail(0, tag=self.point))

    def _take_sqlite_write_lock(self) -> None:
        """Runs in the SMTP server just before it answers 250: from now on the bot cannot
        commit anything (its busy wait is 30 s), so the sent row stays unmarked."""
        self.smtp.before_accept = None
        conn = sqlite3.connect(self.sqlite_path, timeout=10, isolation_level=None, check_same_thread=False)
        conn.execute("BEGIN IMMEDIATE")
        self.sqlite_lock = conn

    def reached(self) -> bool:
        if self.gate is not None:
            return self.gate.waiters() > 0
        if self.point == "claimed":
            return self.smtp.data_started.is_set()
        return self.sqlite_lock is not None and len(self.smtp.deliveries) == 1

    def kill_if_held(self) -> bool:
        """Kill the bot once it is held at its step; True when this scenario is past that."""
        if self.result.error is not None:
            return True
        try:
            if not self.reached():
                return False
            self.kill_here()
        except BaseException as err:  # noqa: BLE001 - reported by this point's tests
            self.result.error = err
        return True

    def never_reached(self) -> None:
        assert self.bot is not None
        raise AssertionError(f"{self.point}: the bot never got there in {SETTLE:.0f} s\n{self.bot.output()[-3000:]}")

    def kill_here(self) -> None:
        assert self.bot is not None
        if self.point == "sent_unmarked":
            time.sleep(0.5)  # the 250 reaches the bot, which now waits for the write lock
        self.bot.kill()
        self.result.at_kill = {
            "mails": sorted(m.status for m in self.probe.mails()),
            "replies": [r.status for r in self.probe.replies()],
            "deliveries": len(self.smtp.deliveries),
            "inbox": len(self.imap.folder_uids("INBOX")),
            "rejected": len(self.imap.folder_uids(REJECTED)),
        }
        # Let go of whatever held the dead bot; nothing of its open transaction survives.
        if self.gate is not None:
            self.gate.end_stuck_sessions()
            self.gate.remove()
        if self.smtp.hold is not None:
            self.smtp.hold.set()
            self.smtp.hold = None
        if self.sqlite_lock is not None:
            self.sqlite_lock.rollback()
            self.sqlite_lock.close()
            self.sqlite_lock = None

    # -- after the restart ----------------------------------------------------------------

    def restart(self) -> None:
        assert self.bot is not None
        self.bot.start()
        self.restarted_at = self.result.restarted_at = time.monotonic()

    def replied(self) -> bool:
        rows = self.probe.safe(self.probe.replies, [])
        return bool(rows) and all(r.status == outbox.SENT for r in rows)

    def nudge(self) -> None:
        """The flush the daemon runs every minute, with its clock past the claim lease."""
        self.result.nudged = True
        engine = db.make_engine(self.url)
        try:
            outbox.flush(db.session_factory(engine), smtp_config(self.smtp.port), now=utcnow() + dt.timedelta(hours=1))
        finally:
            engine.dispose()

    def finish(self) -> None:
        assert self.bot is not None
        wait_until(lambda: self.imap.folder_uids("INBOX") == [] and self.probe.mail_statuses() == {"filed": 1}, 10)
        self.result.exit_code = self.bot.stop()
        self.result.restart_log = self.bot.output()
        self.result.deliveries = self.smtp.deliveries
        self.result.mails = self.probe.mails()
        self.result.replies = self.probe.replies()
        self.result.folders = {f: len(self.imap.folder_uids(f)) for f in ("INBOX", REJECTED, "Quarantine")}


@pytest.fixture(scope="module")
def kills(tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer) -> Iterator[dict[str, Killed]]:
    """Given one defective mail per step of its path, when `bot run` is SIGKILLed right after
    that step (held there, see KILL_POINTS) and started again.

    The five bots run side by side so their waits after the restart overlap: the file stays
    fast, and each point still gets its own servers, database and bot.
    """
    with ExitStack() as stack:
        scenarios = [KillScenario(point, tmp_path_factory.mktemp(f"kill-{point}"), stack, postgres_server,
                                  key=911000 + i) for i, point in enumerate(KILL_POINTS)]
        for s in scenarios:
            s.guard(s.arm)
        # Each bot is killed as soon as it is held at its step; all wait side by side.
        holding = [s for s in scenarios if s.result.error is None]
        deadline = time.monotonic() + SETTLE
        while holding and time.monotonic() < deadline:
            holding = [s for s in holding if not s.kill_if_held()]
            time.sleep(0.05)
        for s in holding:
            s.guard(s.never_reached)
        for s in scenarios:
            s.guard(s.restart)
        waiting = [s for s in scenarios if s.result.error is None]
        deadline = time.monotonic() + PROMPT
        while waiting and time.monotonic() < deadline:
            for s in list(waiting):
                if s.replied():
                    s.result.latency = time.monotonic() - s.restarted_at
                    waiting.remove(s)
            time.sleep(0.1)
        for s in waiting:
            s.guard(s.nudge)
        for s in scenarios:
            s.guard(s.finish)
        yield {s.point: s.result for s in scenarios}


# What the database, the SMTP server and IMAP show right after the kill: proof it hit the step.
AT_KILL: dict[str, dict[str, object]] = {
    "stored": {"mails": ["stored"], "replies": [], "deliveries": 0, "inbox": 1},
    "queued": {"replies": ["pending"], "deliveries": 0},
    "claimed": {"replies": ["sending"], "deliveries": 0},
    "sent_unmarked": {"replies": ["sending"], "deliveries": 1},
    "moved_unfiled": {"mails": ["decided"], "replies": ["pending"], "deliveries": 0, "inbox": 0, "rejected": 1},
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_sigkill_at_each_step_loses_and_doubles_nothing(kills: dict[str, Killed], point: str) -> None:
    """Then after the restart the mail has one decision, one reply (one Message-ID; delivered
    once, or twice with that same Message-ID when the kill fell between the server's 250 and
    the mark) and ends in Rejected; the restarted bot logs no traceback."""
    r = kills[point]
    if r.error is not None:
        raise r.error
    print(f"{point} ({r.backend}): at the kill {r.at_kill}; deliveries "
          f"{[(d.message_id, round(d.at - r.restarted_at, 1)) for d in r.deliveries]} (s after the restart); "
          f"{'sent by the flush with its clock moved on' if r.nudged else 'sent by the daemon'}")
    expected = AT_KILL[point]
    assert {k: r.at_kill[k] for k in expected} == expected, r.at_kill
    ids = {d.message_id for d in r.deliveries}
    assert [d.in_reply_to for d in r.deliveries] == [r.parent] * len(r.deliveries)
    assert len(ids) == 1, r.deliveries
    if point == "sent_unmarked":
        # The server had accepted it before the kill: the restarted outbox cannot know and sends
        # it once more, with the same Message-ID (the receiver can tell it is one mail).
        assert len(r.deliveries) in (1, 2), r.deliveries
    else:
        assert len(r.deliveries) == 1, r.deliveries
    assert [(m.status, m.decision, m.filed_folder) for m in r.mails] == [("filed", "rejected", REJECTED)]
    assert [(x.status, x.message_id) for x in r.replies] == [(outbox.SENT, ids.pop())]
    assert r.folders == {"INBOX": 0, REJECTED: 1, "Quarantine": 0}
    assert r.exit_code == 0
    assert count_tracebacks(r.restart_log) == 0, r.restart_log[-5000:]


# Latency, not loss: found with this suite, marked non-strict so the fix in progress turns them green.


@pytest.mark.parametrize("point", [
    "stored",
    "queued",
    "claimed",  # a dead holder's claim is taken over at once (bot.db.claims.owner_alive)
    "sent_unmarked",
    "moved_unfiled",
])
def test_sigkill_reply_goes_out_promptly_after_restart(kills: dict[str, Killed], point: str) -> None:
    """Then the reply that was due when the bot died is on its way within PROMPT seconds of
    the restart (not after the outbox's next minute tick, nor after a claim lease)."""
    r = kills[point]
    if r.error is not None:
        raise r.error
    took = f"{r.latency:.1f} s after the restart" if r.latency is not None else f"not within {PROMPT:.0f} s"
    print(f"{point}: reply {took}")
    assert r.latency is not None, f"{point}: no reply within {PROMPT:.0f} s of the restart"
