"""A real Dovecot IMAP server per test, from a throwaway config (LAB-NOTES: "Dovecot as a
throwaway test server").

Use it as a pytest plugin (``pytest_plugins = ["tests.support.dovecot"]``) for the fixtures
``dovecot`` (all capabilities) and ``dovecot_legacy`` (no IDLE, no MOVE: the fallbacks run for
real), or directly::

    with Dovecot(without_capabilities={"IDLE"}) as server:
        server.append(raw)

Each server gets its own temp dir (config, maildir, logs, pid file) and a free loopback port;
it starts in ~15 ms and is killed outright, so a fresh one per test is cheap.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType

import pytest
from imapclient import IMAPClient

from bot.demo.embedded import deliver

# `dovecot` lives in /usr/sbin, which is not on a normal user's PATH.
SEARCH_PATH = os.pathsep.join(
    [os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin", "/sbin"])
INSTALL_HINT = (
    "Dovecot is not installed: no `dovecot` on PATH or in /usr/sbin. The IMAP tests need a "
    "real Dovecot and are never skipped. Run the test script that installs it "
    "(scripts/test.sh: `apt-get install -y dovecot-imapd`), or install dovecot-imapd yourself; "
    "it does not have to run as a service."
)

# Dovecot 2.3's own post-login capability list. `imap_capability` replaces the list (a
# leading '+' only adds), so dropping IDLE or MOVE means spelling out everything else.
DEFAULT_CAPABILITIES: tuple[str, ...] = (
    "IMAP4rev1", "SASL-IR", "LOGIN-REFERRALS", "ID", "ENABLE", "IDLE", "SORT", "SORT=DISPLAY",
    "THREAD=REFERENCES", "THREAD=REFS", "THREAD=ORDEREDSUBJECT", "MULTIAPPEND", "URL-PARTIAL",
    "CATENATE", "UNSELECT", "CHILDREN", "NAMESPACE", "UIDPLUS", "LIST-EXTENDED", "I18NLEVEL=1",
    "CONDSTORE", "QRESYNC", "ESEARCH", "ESORT", "SEARCHRES", "WITHIN", "CONTEXT=SEARCH",
    "LIST-STATUS", "BINARY", "MOVE", "SNIPPET=FUZZY", "PREVIEW=FUZZY", "PREVIEW", "STATUS=SIZE",
    "SAVEDATE", "LITERAL+", "NOTIFY",
)
# What a plain RFC 3501 server lacks that the bot would otherwise use.
LEGACY = frozenset({"IDLE", "MOVE"})

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


class DovecotError(RuntimeError):
    """Dovecot would not start or stop; the message carries the tail of its log."""


def find_dovecot() -> str | None:
    return shutil.which("dovecot", path=SEARCH_PATH)


def free_port() -> int:
    """A loopback port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Dovecot:
    """One throwaway Dovecot: start/stop (restartable on the same port and maildir)."""

    host = "127.0.0.1"

    def __init__(self, *, user: str = "usen_spot", password: str = "dovecot-test-pass",
                 without_capabilities: Collection[str] = (), port: int | None = None) -> None:
        binary = find_dovecot()
        if binary is None:
            raise DovecotError(INSTALL_HINT)
        unknown = {c.upper() for c in without_capabilities} - {
            c.upper() for c in DEFAULT_CAPABILITIES}
        if unknown:
            raise ValueError("not a Dovecot capability: %s" % ", ".join(sorted(unknown)))
        self.binary = binary
        self.user = user
        self.password = password
        self.without_capabilities = frozenset(c.upper() for c in without_capabilities)
        self.port = port if port is not None else free_port()
        # Not pytest's tmp_path: that sits under a 0700 root-owned tree the unprivileged
        # mail user could not enter.
        self.root = Path(tempfile.mkdtemp(prefix="usen-dovecot-"))
        self.maildir = self.root / "mail"
        self.config_path = self.root / "dovecot.conf"
        self.log_path = self.root / "dovecot.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._write_config()

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        if self._process is not None:
            return
        with open(self.root / "stdout.log", "ab") as out:
            # -F keeps the master our child so stop() can reap it. stdin/stdout/stderr are
            # detached: a caller capturing Dovecot's output would otherwise wait forever
            # (LAB-NOTES). A new session makes the master a process group leader, so stop()
            # can end the master and every child it forked with one signal.
            self._process = subprocess.Popen(
                [self.binary, "-F", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self._process.poll() is not None:
                self._process = None
                raise DovecotError("dovecot exited at start:\n%s" % self.log_tail())
            try:
                socket.create_connection((self.host, self.port), timeout=1.0).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise DovecotError("dovecot did not listen on %s:%s within %.0f s:\n%s"
                                       % (self.host, self.port, START_TIMEOUT,
                                          self.log_tail())) from None
                time.sleep(0.01)

    def stop(self) -> None:
        """Kill the server (master and children) and wait until it is gone.

        SIGKILL, not SIGTERM: a graceful Dovecot shutdown waits 1-6 s for its children, and
        for a throwaway server that is pure waste. Killing the whole process group also drops
        every client connection at once, which is what a test of "the server went away"
        wants. The port and the maildir stay, so start() brings the same server back.
        """
        process, self._process = self._process, None
        if process is None:
            return
        pid = self._master_pid() or process.pid
        if pid != process.pid:
            raise DovecotError("master.pid says %s but we started %s" % (pid, process.pid))
        with suppress(ProcessLookupError):  # already dead is fine
            os.killpg(pid, signal.SIGKILL)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired as err:
            raise DovecotError("dovecot pid %s did not die" % pid) from err
        self._wait_port_free()

    def freeze(self) -> None:
        """SIGSTOP every Dovecot process: connections stay open but nothing answers (a hung
        server or a dead network path, which a test cannot otherwise cause)."""
        self._signal_group(signal.SIGSTOP)

    def thaw(self) -> None:
        self._signal_group(signal.SIGCONT)

    def _signal_group(self, signum: signal.Signals) -> None:
        if self._process is None:
            raise DovecotError("dovecot is not running")
        os.killpg(self._process.pid, signum)

    def close(self) -> None:
        """Stop and delete the temp dir (config, mail, logs)."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Dovecot:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        text = ""
        for path in (self.log_path, self.root / "stdout.log"):
            if path.exists():
                text += path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    # -- a second client, as a human or the mail server would be -------------------------

    @contextmanager
    def client(self) -> Iterator[IMAPClient]:
        """A logged-in imapclient connection (TCP_NODELAY: APPEND is ~20/s without it)."""
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        try:
            client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client.login(self.user, self.password)
            yield client
        finally:
            try:
                client.logout()
            except Exception:  # noqa: BLE001 - the test may have killed the server
                client.shutdown()

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        self.append_many([raw], folder)

    def append_many(self, raws: Iterable[bytes], folder: str = "INBOX") -> None:
        """Append in one MULTIAPPEND command (~300 mails/s → thousands/s)."""
        with self.client() as client:
            deliver(client, raws, folder)

    def folder_uids(self, folder: str) -> list[int]:
        """All UIDs in ``folder`` (including ones flagged \\Deleted), ascending."""
        with self.client() as client:
            if not client.folder_exists(folder):
                return []
            client.select_folder(folder, readonly=True)
            return sorted(client.search("ALL"))

    def folder_messages(self, folder: str) -> list[bytes]:
        """Raw mails in ``folder`` in UID order, read without setting \\Seen."""
        return [raw for _, raw, _ in self._folder_contents(folder)]

    def folder_flags(self, folder: str) -> dict[int, frozenset[bytes]]:
        """UID → flags, e.g. to check that nobody set ``\\Seen``."""
        return {uid: flags for uid, _, flags in self._folder_contents(folder)}

    def _folder_contents(self, folder: str) -> list[tuple[int, bytes, frozenset[bytes]]]:
        with self.client() as client:
            if not client.folder_exists(folder):
                return []
            client.select_folder(folder, readonly=True)
            uids = sorted(client.search("ALL"))
            if not uids:
                return []
            data = client.fetch(uids, ["BODY.PEEK[]", "FLAGS"])
            return [(uid, bytes(data[uid][b"BODY[]"]), frozenset(data[uid][b"FLAGS"]))
                    for uid in uids if uid in data]

    # -- config ---------------------------------------------------------------------------

    def _write_config(self) -> None:
        for sub in ("run", "state", "mail", "home"):
            (self.root / sub).mkdir()
        if os.geteuid() == 0:
            # As root Dovecot refuses to run mail or login processes as root: hand them to
            # an unprivileged user that owns the whole temp dir.
            account = _unprivileged_account()
            users = _USERS_AS_ROOT.format(user=account.pw_name,
                                          group=grp.getgrgid(account.pw_gid).gr_name)
            for path in [self.root, *self.root.rglob("*")]:
                os.chown(path, account.pw_uid, account.pw_gid)
        else:
            # Rootless: every Dovecot process runs as us.
            me = pwd.getpwuid(os.getuid())
            users = _USERS_ROOTLESS.format(user=me.pw_name,
                                           group=grp.getgrgid(os.getgid()).gr_name)
        capability = ""
        if self.without_capabilities:
            kept = [c for c in DEFAULT_CAPABILITIES if c.upper() not in self.without_capabilities]
            capability = "imap_capability = %s\n" % " ".join(kept)
        self.config_path.write_text(_CONFIG.format(
            root=self.root, port=self.port, users=users, user=self.user,
            password=self.password, capability=capability,
        ))

    def _master_pid(self) -> int | None:
        try:
            return int((self.root / "run" / "master.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def _wait_port_free(self) -> None:
        # A restart on the same port must not race the kernel releasing the listener.
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
            except OSError:
                return
            time.sleep(0.01)


def _unprivileged_account() -> pwd.struct_passwd:
    for name in ("dovenull", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise DovecotError("running as root, but neither user dovenull nor nobody exists")


_USERS_AS_ROOT = """\
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
mail_uid = {user}
mail_gid = {group}
first_valid_uid = 0
first_valid_gid = 0
"""

_USERS_ROOTLESS = """\
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
first_valid_uid = 0
first_valid_gid = 0
"""

# One self-contained config (nothing from /etc/dovecot). Each non-default line is there for
# a reason measured in LAB-NOTES.
_CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
# Tests log in with LOGIN over plain loopback TCP.
disable_plaintext_auth = no
auth_mechanisms = plain login
# Failed logins are otherwise delayed 2-15 s.
auth_failure_delay = 0
{users}mail_location = maildir:{root}/mail
{capability}
# Any user name with this password (a static passdb; LAB-NOTES).
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = home={root}/home
}}

service imap-login {{
  chroot =
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""


# -- pytest fixtures -----------------------------------------------------------------------

def _server(*, without_capabilities: Collection[str] = ()) -> Iterator[Dovecot]:
    if find_dovecot() is None:
        # Fail, never skip: CI must not quietly lose the IMAP tests.
        pytest.fail(INSTALL_HINT, pytrace=False)
    with Dovecot(without_capabilities=without_capabilities) as server:
        yield server


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    """A fresh Dovecot (empty maildir, own port) for this test, with IDLE and MOVE."""
    yield from _server()


@pytest.fixture
def dovecot_legacy() -> Iterator[Dovecot]:
    """A fresh Dovecot that advertises neither IDLE nor MOVE: the fallbacks run for real."""
    yield from _server(without_capabilities=LEGACY)
