"""Tools to break the bot's real surroundings on purpose (issue 11, tests/test_faults.py).

Everything here drives REAL components; nothing stands in for them:

- :class:`BotProcess` runs `bot run` as a subprocess (as an admin starts it), logs to a file the
  test reads, and is stopped with SIGTERM or killed with SIGKILL (its whole process group:
  a power cut, reader workers included).
- :class:`SmtpCapture` is an aiosmtpd server on a FIXED loopback port, so it can really go
  down (connection refused) and come back where the bot expects it; it can hold a DATA
  command open (the bot waits for the server's answer) or run a hook just before it accepts.
- :class:`PgGate` stops the bot at an exact step of a mail's path without touching bot code:
  a trigger in the test database that waits on an advisory lock the test holds. The bot's
  statement blocks inside its own transaction; `pg_locks` shows the test that it is there.
- :class:`RestartablePostgres` is a PostgreSQL cluster of its own that can be stopped and
  started again on the same port and data directory (the session cluster is shared).
- :class:`DbProbe` reads the bot's tables from outside with a plain engine (no BEGIN
  IMMEDIATE: reading must never take SQLite's write lock from the bot).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from email import message_from_bytes
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from tests.support.mailbuilder import build_mail
from tests.support.postgres import PostgresServer

ROOT = Path(__file__).resolve().parents[2]

# The folder a rejected mail (one 差戻 reply) ends in.
REJECTED = "Rejected"


def wait_until(condition: Callable[[], object], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``condition`` until it is truthy or ``timeout`` seconds pass; its last value as bool."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_refuses(port: int, host: str = "127.0.0.1") -> bool:
    """True when nobody listens: a connect is refused (what the bot meets in an outage)."""
    try:
        socket.create_connection((host, port), timeout=1.0).close()
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    return False


# --------------------------------------------------------------------------- mails


def defective_mail(n: int, *, tag: str = "fault", attachment_bytes: int = 0) -> bytes:
    """A branch mail the bot answers with one 差戻 (rejected), Message-ID ``<tag-n@…>``.

    Without ``attachment_bytes``: an unknown request kind (UNKNOWN_KIND), a few hundred bytes.
    With it: an equipment order whose only attachment is a photo of that size instead of the
    PDF form (ATTACHMENT_MISSING): a big mail that is still cheap to decide.
    """
    msgid = message_id(n, tag)
    sender = f"branch{n}@aoyama.usen.co.jp"
    if not attachment_bytes:
        return build_mail("USEN SPOT 問い合わせ_988776654", f"お世話になっております。{n}\n", charset="utf-8",
                          from_=sender, message_id=msgid)
    photo = (n.to_bytes(4, "big") + _NOISE * (attachment_bytes // len(_NOISE) + 1))[:attachment_bytes]
    body = ("事務センター 開業支援G 御中\n\n申込書送付します。\n\n顧客CD : 988776654\n店舗名 : カフェ AOYAMA\n"
            "リンク品使用 無\nSPOT Plus該当 無\n送付支店名 : 青山支店\n担当者名 : 内田\n")
    return build_mail("USEN SPOT 器材発注依頼_988776654", body, charset="utf-8", from_=sender,
                      attachments=[("写真.jpg", photo, "image/jpeg")], message_id=msgid)


# Bytes that do not compress to nothing, built once (a generator per mail costs seconds).
_NOISE = bytes((i * 131 + 17) % 251 for i in range(65521))


def message_id(n: int, tag: str = "fault") -> str:
    return f"<{tag}-{n}@aoyama.usen.co.jp>"


# --------------------------------------------------------------------------- SMTP


@dataclasses.dataclass(frozen=True)
class Delivery:
    """One message the SMTP server accepted (answered 250 to)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    message_id: str
    in_reply_to: str
    at: float  # time.monotonic() when accepted


class _Handler:
    def __init__(self, capture: SmtpCapture) -> None:
        self.capture = capture

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:  # aiosmtpd's hook name
        cap = self.capture
        cap.data_started.set()
        hold = cap.hold
        if hold is not None:
            # The bot has sent the whole message and waits for our answer; keep it waiting
            # without blocking this event loop. A held message is never accepted.
            while not hold.is_set():
                await asyncio.sleep(0.02)
            return "451 4.3.0 held by the test, not accepted"
        if cap.before_accept is not None:
            cap.before_accept()
        data = bytes(envelope.content)
        parsed = message_from_bytes(data)
        with cap.lock:
            cap._deliveries.append(Delivery(
                envelope.mail_from, tuple(envelope.rcpt_tos), data, str(parsed["Message-ID"] or ""),
                str(parsed["In-Reply-To"] or ""), time.monotonic()))
        return "250 OK"


class SmtpCapture:
    """aiosmtpd on a fixed port: ``stop()`` makes the port refuse connections, ``start()``
    brings the same server back. Counts what it accepted per In-Reply-To."""

    host = "127.0.0.1"

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.lock = threading.Lock()
        self._deliveries: list[Delivery] = []
        self._controller: Controller | None = None
        # Set while a DATA command is being answered (for tests that hold it).
        self.data_started = threading.Event()
        # When set to an Event: every DATA waits until it is set, then is refused (451).
        self.hold: threading.Event | None = None
        # Run in the server thread just before a message is accepted.
        self.before_accept: Callable[[], None] | None = None

    def start(self) -> None:
        if self._controller is not None:
            return
        last: Exception | None = None
        for _ in range(50):  # the port may linger a moment after stop()
            controller = Controller(_Handler(self), hostname=self.host, port=self.port, ready_timeout=10.0)
            try:
                controller.start()
            except (OSError, RuntimeError) as err:
                last = err
                time.sleep(0.1)
                continue
            self._controller = controller
            return
        raise RuntimeError(f"SMTP capture could not listen on {self.host}:{self.port}: {last}")

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    @property
    def running(self) -> bool:
        return self._controller is not None

    def __enter__(self) -> SmtpCapture:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.hold is not None:
            self.hold.set()
        self.stop()

    @property
    def deliveries(self) -> list[Delivery]:
        with self.lock:
            return list(self._deliveries)

    def replies(self) -> dict[str, list[Delivery]]:
        """In-Reply-To → every accepted delivery answering that mail (a reply sent twice is
        two entries; the same reply resent carries the same Message-ID)."""
        out: dict[str, list[Delivery]] = {}
        for d in self.deliveries:
            if d.in_reply_to:
                out.setdefault(d.in_reply_to, []).append(d)
        return out

    def wait_replies(self, parents: Iterable[str], timeout: float) -> bool:
        wanted = set(parents)
        return wait_until(lambda: wanted <= set(self.replies()), timeout)


# --------------------------------------------------------------------------- the bot process


def write_config(path: Path, *, db_url: str, imap_host: str, imap_port: int, imap_user: str, imap_password: str,
                 smtp_port: int, poll_seconds: float = 2.0, batch_size: int = 50, smtp_timeout: float = 10.0) -> Path:
    """A config.toml as an admin writes it, pointed at the test's servers.

    The reply cap is raised: the tests send many rejected mails in a minute and the cap's own
    behaviour (turning a 差戻 into 保留) is not what they look at.
    """
    path.write_text(
        "[mailbox]\n"
        f'host = "127.0.0.1"\nport = {imap_port}\nuser = "{imap_user}"\npassword = "{imap_password}"\n'
        f"poll_seconds = {poll_seconds}\nbatch_size = {batch_size}\n"
        "[smtp]\n"
        f'host = "127.0.0.1"\nport = {smtp_port}\ntimeout = {smtp_timeout}\n'
        "[database]\n"
        f'url = "{db_url}"\n'
        "[senders]\nmax_replies_per_hour = 10000\n",
        encoding="utf-8",
    )
    return path


def count_tracebacks(text_: str) -> int:
    return sum(1 for line in text_.splitlines() if "Traceback" in line)


def lines_matching(text_: str, pattern: str) -> list[str]:
    rx = re.compile(pattern)
    return [line for line in text_.splitlines() if rx.search(line)]


# util-linux `setpriv --pdeathsig KILL`: the bot gets SIGKILL when the test process dies, so a
# test run killed from outside leaves no bot running against servers that are gone. It execs the
# bot in place (same pid). Without setpriv the bot simply runs as it is.
_SETPRIV = shutil.which("setpriv")
_DIE_WITH_PARENT = [_SETPRIV, "--pdeathsig", "KILL"] if _SETPRIV else []


class BotProcess:
    """`python -m bot --config CFG run` in its own process group, output appended to ``log``.

    ``start()`` may be called again after ``kill()``: each run's output is kept, and
    :meth:`output` returns one run's part.
    """

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self._offsets: list[int] = []
        self.started_at: float = 0.0

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
        self._offsets.append(self.log.stat().st_size if self.log.exists() else 0)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [*_DIE_WITH_PARENT, sys.executable, "-m", "bot", "--config", str(self.config), "run"], cwd=ROOT,
                env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.started_at = time.monotonic()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until the bot has selected its folder (the first pass runs right after)."""
        if not wait_until(lambda: "selected (UIDVALIDITY" in self.output() or not self.running, timeout):
            raise AssertionError(f"bot run did not select its folder in {timeout:.0f} s:\n{self.output()[-3000:]}")
        if not self.running:
            raise AssertionError(f"bot run exited at start:\n{self.output()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the bot and everything it started: no cleanup code runs (a power cut)."""
        if self.proc is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM (a graceful stop) and the exit code; SIGKILL if it does not end in time."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return int(self.proc.returncode)

    def output(self, run: int = -1) -> str:
        """The log of one run (default: the latest), or of all runs with ``run=None``."""
        if not self.log.exists():
            return ""
        data = self.log.read_bytes()
        if run is None or not self._offsets:
            return data.decode("utf-8", "replace")
        start = self._offsets[run]
        end = self._offsets[run + 1] if run + 1 < len(self._offsets) and run != -1 else len(data)
        return data[start:end].decode("utf-8", "replace")

    def wait_for_output(self, pattern: str, timeout: float, run: int = -1) -> bool:
        rx = re.compile(pattern)
        return wait_until(lambda: rx.search(self.output(run)) is not None, timeout)


# --------------------------------------------------------------------------- the database from outside


class DbProbe:
    """Reads the bot's tables with a plain engine of its own."""

    def __init__(self, url: str) -> None:
        # pre-ping: the database may have been restarted under a pooled connection.
        self.engine: Engine = create_engine(url, pool_pre_ping=True)

    def close(self) -> None:
        self.engine.dispose()

    def rows(self, sql: str, **params: object) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params))

    def mail_statuses(self) -> Counter[str]:
        return Counter(r[0] for r in self.rows("SELECT status FROM mails"))

    def mails(self) -> list[Any]:
        return self.rows("SELECT id, message_id, status, decision, filed_folder, error FROM mails ORDER BY id")

    def replies(self) -> list[Any]:
        """Outbox rows of replies: (mail_id, message_id, status, attempts, last_error, claimed_at)."""
        return self.rows("SELECT mail_id, message_id, status, attempts, last_error, claimed_at FROM outbox "
                         "WHERE purpose = 'reply' ORDER BY id")

    def safe(self, fn: Callable[[], Any], default: Any = None) -> Any:
        """``fn()``, or ``default`` while the database cannot answer (it is the fault)."""
        try:
            return fn()
        except Exception:  # noqa: BLE001 - an outage is what the caller is waiting out
            self.engine.dispose()
            return default


# --------------------------------------------------------------------------- PostgreSQL


class PgGate:
    """Hold the bot at one statement: ``BEFORE UPDATE`` triggers that take a shared advisory
    lock the test holds exclusively while the gate is closed. The bot's statement then waits
    inside its transaction (nothing of it is committed) until the gate opens or the bot dies.
    """

    def __init__(self, url: str, key: int) -> None:
        import psycopg

        self.key = key
        self.dsn = url.replace("postgresql+psycopg://", "postgresql://")
        self._conn = psycopg.connect(self.dsn, autocommit=True)
        self._triggers: list[tuple[str, str]] = []
        self.closed = False

    def add(self, name: str, table: str, when: str) -> None:
        """A gate on UPDATEs of ``table`` whose OLD/NEW rows satisfy ``when`` (SQL)."""
        fn = f"fault_gate_{name}"
        self._conn.execute(
            f"CREATE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"PERFORM pg_advisory_xact_lock_shared({self.key}); RETURN NEW; END $$")
        self._conn.execute(
            f"CREATE TRIGGER {fn} BEFORE UPDATE ON {table} FOR EACH ROW WHEN ({when}) EXECUTE FUNCTION {fn}()")
        self._triggers.append((fn, table))

    def close(self) -> None:
        self._conn.execute("SELECT pg_advisory_lock(%s)", (self.key,))
        self.closed = True

    def open(self) -> None:
        if self.closed:
            self._conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
            self.closed = False

    def waiters(self) -> int:
        """Sessions (the bot's) blocked at this gate right now."""
        row = self._conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = %s "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            (self.key,)).fetchone()
        return int(row[0]) if row else 0

    def end_stuck_sessions(self) -> int:
        """End the sessions still waiting at a gate after their client was killed.

        PostgreSQL notices a dead client only when it next talks to it; a backend waiting for a
        lock would otherwise wake when the gate opens and run one more statement. A real crash
        has no such waiter, so the test ends them, as the server would on a dropped connection.
        """
        rows = self._conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'").fetchall()
        wait_until(lambda: self.waiters() == 0, 10)
        return len(rows)

    def remove(self) -> None:
        """Open the gate and drop its triggers: the database is as the bot made it."""
        self.open()
        for fn, table in self._triggers:
            self._conn.execute(f"DROP TRIGGER IF EXISTS {fn} ON {table}")
            self._conn.execute(f"DROP FUNCTION IF EXISTS {fn}()")
        self._triggers.clear()

    def dispose(self) -> None:
        with suppress(Exception):
            self.remove()
        self._conn.close()


class RestartablePostgres(PostgresServer):
    """A PostgreSQL cluster of this test's own (initdb once) that can be stopped and started
    again on the same port and data, as an admin restarting the database would."""

    def start(self) -> None:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "bot", "-E", "UTF8",
                  "--no-locale")
        self.resume()

    def resume(self) -> None:
        opts = f"-p {self.port} -k {self.tmp} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.tmp / "log"),
                  "-w", "-t", "60", "start")

    def pause(self) -> None:
        """`pg_ctl stop -m fast`: every session is ended, the port refuses connections."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")


# --------------------------------------------------------------------------- a small file system


@contextmanager
def small_filesystem(path: Path, size: str = "2m") -> Iterator[Path | None]:
    """A tmpfs of ``size`` mounted at ``path`` (root only); yields None when mounting is not
    permitted here (the caller skips, saying why)."""
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        yield None
        return
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def fill_up(directory: Path, name: str = "filler.bin") -> Path:
    """Write zeros until the file system says ENOSPC; the file is left in place to be freed."""
    filler = directory / name
    chunk = b"\0" * 65536
    with open(filler, "wb", buffering=0) as f:
        size = len(chunk)
        while size >= 1:
            try:
                f.write(chunk[:size])
            except OSError:
                size //= 2
    return filler
