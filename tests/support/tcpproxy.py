"""A TCP proxy that cuts a connection at the moment a fault test names (issue 17).

A fault that is caused by timing ("restart Dovecot half a second after the first batch") lands
elsewhere on a busy machine, and the test then checks something other than it says. This proxy
sits between the bot and a real server and watches the client's commands: on the n-th command
that contains a given byte string, it lets the command through, waits for the server's answer to
begin, passes on the first bytes of it, runs the test's fault (for example Dovecot killed and
started again) and closes the connection. The bot has then really received a partial response
to exactly that command, whatever the machine's load.

Everything else is relayed unchanged, in both directions, one thread per direction.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from types import TracebackType


class CuttingProxy:
    """Listen on 127.0.0.1:<port>, relay to ``upstream``; ``cut_on`` arms the fault."""

    host = "127.0.0.1"

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server((self.host, 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pattern = b""
        self._nth = 0
        self._seen = 0
        self._fault: Callable[[], None] | None = None
        self._armed_pair: tuple[socket.socket, socket.socket] | None = None
        self._keep = 0
        self.cut = threading.Event()
        self.commands: list[bytes] = []  # the commands that matched, in order
        self._closed = False
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    def cut_on(self, pattern: bytes, nth: int, fault: Callable[[], None], *, keep: int = 64) -> None:
        """On the ``nth`` client command containing ``pattern`` (1 = the first from now), pass
        ``keep`` bytes of the server's answer, then run ``fault`` and close that connection."""
        with self._lock:
            self._pattern, self._nth, self._seen, self._fault, self._keep = pattern, nth, 0, fault, keep
            self.cut.clear()

    # -- relaying --------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()  # upstream down: the client sees the connection closed
                continue
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pair = (client, server)
            with self._lock:
                self._pairs.append(pair)
            threading.Thread(target=self._pump, args=(pair, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(pair, False), daemon=True).start()

    def _pump(self, pair: tuple[socket.socket, socket.socket], upstream: bool) -> None:
        """Relay one direction of ``pair`` (client → server when ``upstream``) until either side
        closes, watching the client's commands and cutting the armed connection."""
        client, server = pair
        src, dst = (client, server) if upstream else (server, client)
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                self._close(pair)
                return
            if upstream:
                self._watch(pair, data)
            elif self._cut_here(pair, data):
                return
            try:
                dst.sendall(data)
            except OSError:
                self._close(pair)
                return

    def _watch(self, pair: tuple[socket.socket, socket.socket], data: bytes) -> None:
        with self._lock:
            if self._pattern and self._armed_pair is None and self._pattern in data:
                self._seen += 1
                self.commands.append(data)
                if self._seen == self._nth:
                    self._armed_pair = pair

    def _cut_here(self, pair: tuple[socket.socket, socket.socket], data: bytes) -> bool:
        """On the armed connection's first answer: pass ``keep`` bytes, run the fault, close."""
        with self._lock:
            armed = self._armed_pair is pair and not self.cut.is_set()
            fault, keep = self._fault, self._keep
        if not armed:
            return False
        try:
            pair[0].sendall(data[:keep])
        except OSError:
            pass
        if fault is not None:
            fault()
        self._close(pair)
        with self._lock:
            self._pattern, self._armed_pair = b"", None
        self.cut.set()
        return True

    @staticmethod
    def _close(pair: tuple[socket.socket, socket.socket]) -> None:
        for sock in pair:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            self._close(pair)

    def __enter__(self) -> CuttingProxy:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
