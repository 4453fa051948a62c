"""`[mailbox] timeout` (issue 22): how long the bot waits for the IMAP server, from the config
file through the daemon's settings to the socket, against a server that says nothing and a real
Dovecot that stops answering in the middle of a session."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import ConfigError, MailboxConfig, load_config
from bot.daemon.main import mailbox_settings
from bot.intake import IntakeConnectionError, Mailbox
from tests.support.dovecot import Dovecot


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections and never sends a byte (a TLS-only port spoken to in plain, or a
    server that hangs)."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(timeout=2)
    for conn in held:
        conn.close()
    listener.close()


def config_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_the_default_and_the_range() -> None:
    assert MailboxConfig().timeout == 30.0 and load_config(env={}).mailbox.timeout == 30.0


def test_a_timeout_out_of_range_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[mailbox\] timeout: 0 is out of range \(1–600 seconds\)"):
        load_config(config_file(tmp_path, "[mailbox]\ntimeout = 0\n"), env={})
    assert load_config(env={"BOT_MAILBOX_TIMEOUT": "45"}).mailbox.timeout == 45.0


def test_a_silent_server_is_given_up_after_the_configured_timeout(tmp_path: Path, silent_server: int) -> None:
    """Given `[mailbox] timeout = 1` and a server that accepts but never greets, when the intake
    connects, then it gives up after about a second (not the 30 s default), and says how long it
    waited and that the port may be a TLS one."""
    cfg = load_config(config_file(tmp_path, f'[mailbox]\nhost = "127.0.0.1"\nport = {silent_server}\n'
                                            'timeout = 1\n'), env={})
    started = time.monotonic()
    with pytest.raises(IntakeConnectionError) as caught:
        Mailbox(mailbox_settings(cfg)).connect()
    took = time.monotonic() - started
    assert 0.9 <= took < 5, took
    assert "1 秒以内に" in str(caught.value) and "[mailbox] security" in str(caught.value)


def test_a_server_that_stops_answering_mid_session_is_given_up_after_the_timeout(tmp_path: Path,
                                                                                 dovecot: Dovecot) -> None:
    """Given a logged-in session to a real Dovecot, when every Dovecot process stops (a hung
    server, a dead network path), then the next command fails after `timeout` seconds as a lost
    connection (which the watch loop reconnects), not after the default 30 s."""
    cfg = load_config(config_file(tmp_path, f'[mailbox]\nhost = "{dovecot.host}"\nport = {dovecot.port}\n'
                                            f'user = "{dovecot.user}"\npassword = "{dovecot.password}"\n'
                                            'timeout = 2\n'), env={})
    box = Mailbox(mailbox_settings(cfg))
    box.connect()
    try:
        dovecot.freeze()
        started = time.monotonic()
        with pytest.raises(IntakeConnectionError):
            box.list_uids()
        took = time.monotonic() - started
        assert 1.8 <= took < 8, took
    finally:
        dovecot.thaw()
        box.close()
