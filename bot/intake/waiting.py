"""Waiting for a change in the selected folder: IDLE where the server has it, else polling;
sliced so that a stop event is seen within STOP_CHECK_SECONDS. A part of
:class:`bot.intake.mailbox.Mailbox` (its base class).
"""


from __future__ import annotations

import logging
import select
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from contextlib import suppress
from typing import TYPE_CHECKING

from imapclient import IMAPClient


if TYPE_CHECKING:
    pass

log = logging.getLogger("bot.intake")

from bot.intake.settings import CHANGE_RESPONSES, STOP_CHECK_SECONDS, IntakeConnectionError


class Waiting:
    """IDLE or poll on the mailbox's connection (the attributes are the Mailbox's)."""

    def wait(self, timeout: float, stop: threading.Event | None = None) -> bool:
        """Block until the server reports a change, ``timeout`` passes, or ``stop`` is set.

        Uses IDLE when the server has it (re-issued every ``idle_renew_seconds``), else polls
        with NOOP every ``poll_seconds``. Returns True when the server reported a change in
        the folder (new, removed or re-flagged mail); False on timeout or stop.
        """
        self._require()
        if self.has_idle:
            return self._wait_idle(timeout, stop)
        return self._wait_poll(timeout, stop)

    def _wait_idle(self, timeout: float, stop: threading.Event | None) -> bool:
        client = self._require()
        deadline = time.monotonic() + timeout
        while not is_set(stop) and time.monotonic() < deadline:
            renew_at = time.monotonic() + self._settings.idle_renew_seconds
            changed = False
            with self._errors("IDLE"):
                client.idle()
                try:
                    while not changed and not is_set(stop):
                        now = time.monotonic()
                        if now >= deadline or now >= renew_at:
                            break
                        slice_end = min(deadline, renew_at)
                        if stop is not None:
                            slice_end = min(slice_end, now + STOP_CHECK_SECONDS)
                        changed = self._idle_check(client, slice_end - now)
                except BaseException:
                    # Still inside IDLE on a link that just failed: DONE could only hang
                    # until the socket timeout. close() will drop the connection instead.
                    self._broken = True
                    raise
                _, responses = client.idle_done()
                changed = self._is_change(responses) or changed
            if changed:
                return True
        return False

    def _idle_check(self, client: IMAPClient, timeout: float) -> bool:
        """One bounded look at IDLE responses; IntakeConnectionError when the peer closed."""
        if not readable(client.socket(), timeout):
            return False
        responses = client.idle_check(timeout=0)
        if not responses:
            # Readable but nothing parsed: imapclient swallows EOF inside idle_check, so a
            # dead server looks exactly like this. Ending the IDLE tells the two apart: on a
            # dead connection idle_done() raises, on a live one it just returns.
            _, responses = client.idle_done()
            client.idle()
        return self._is_change(responses)

    def _wait_poll(self, timeout: float, stop: threading.Event | None) -> bool:
        client = self._require()
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            pause = min(self._settings.poll_seconds, remaining)
            if stop is not None:
                if stop.wait(pause):
                    return False
            else:
                time.sleep(pause)
            # NOOP is the standard way to ask "anything new?" and keeps the session alive.
            with self._errors("NOOP"):
                _, responses = client.noop()
                if self._is_change(responses):
                    return True

    def _is_change(self, responses: Sequence[tuple[object, ...]]) -> bool:
        changed = False
        for response in responses:
            if not response:
                continue
            if response[0] == b"BYE":
                raise IntakeConnectionError(
                    "IMAP %s:%s folder %s: server said BYE: %r"
                    % (self._settings.host, self._settings.port, self._settings.folder,
                       response))
            if len(response) > 1 and isinstance(response[0], int) \
                    and response[1] in CHANGE_RESPONSES:
                changed = True
        return changed

    # -- helpers --------------------------------------------------------------------------


def set_nodelay(client: IMAPClient) -> None:
    # Not a TCP socket (e.g. a stream) is fine: this is only a latency tweak.
    with suppress(OSError, AttributeError):
        client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def readable(sock: socket.socket, timeout: float) -> bool:
    """True when the socket has something to read (or hung up) within ``timeout`` seconds."""
    # Data already decrypted inside an SSL object is invisible to poll(); check it first.
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN | select.POLLHUP | select.POLLERR)
    return bool(poller.poll(max(0.0, timeout) * 1000))


def is_set(stop: threading.Event | None) -> bool:
    return stop is not None and stop.is_set()
