"""In-process IMAP and SMTP servers for ``bot demo`` (a fresh machine: Python packages only).

:class:`EmbeddedImap` runs pymap's in-memory ``dict`` backend; :class:`EmbeddedSmtp` runs an
aiosmtpd ``Controller``. Both listen on 127.0.0.1 on a free port, in a background thread, so
the bot talks to them over real sockets exactly as it talks to the production servers.

pymap has no embedding API; its CLI (``pymap.main``) builds a backend from an argparse
``Namespace`` and starts "services". We do the same with public pieces: ``Config.from_args``
on a hand-made Namespace, ``Login`` + ``DictBackend``, our user stored with pymap's own
password hashing, and ``IMAPServer`` (the per-connection callback of pymap's IMAP service)
under ``asyncio.start_server`` so we learn the port the kernel picked.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from argparse import Namespace
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass
from types import TracebackType

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from imapclient import IMAPClient
from proxyprotocol.reader import ProxyProtocolReader
from pymap.backend.dict import Config as DictConfig
from pymap.backend.dict import DictBackend, Login
from pymap.concurrent import Subsystem
from pymap.imap import IMAPServer
from pymap.user import Passwords, UserMetadata

__all__ = ["EmbeddedImap", "EmbeddedServerError", "EmbeddedSmtp", "ReceivedMessage"]

log = logging.getLogger("bot.demo.embedded")

HOST = "127.0.0.1"
START_TIMEOUT = 10.0


class EmbeddedServerError(RuntimeError):
    """An embedded server failed to start or stop."""


class _DemoConfig(DictConfig):
    """pymap's dict-backend config with a fixed greeting.

    The default greeting calls ``socket.getfqdn()`` for every connection: a reverse DNS
    lookup that can hang for seconds on an offline demo machine.
    """

    @property
    def greeting(self) -> bytes:
        return b"Server ready usen-spot-demo"


def deliver(client: IMAPClient, raws: Iterable[bytes], folder: str = "INBOX") -> None:
    """Put mails into `folder` (created when missing) with one MULTIAPPEND, as a mail server
    delivers them: ~thousands/s where one APPEND per mail manages a few hundred."""
    messages = list(raws)
    if not messages:
        return
    if not client.folder_exists(folder):
        client.create_folder(folder)
    client.multiappend(folder, messages)


class EmbeddedImap:
    """pymap with one user, in memory, on 127.0.0.1:<free port>, in its own thread and loop."""

    def __init__(self, user: str = "usen_spot", password: str = "demo") -> None:
        self.user = user
        self.password = password
        self.host = HOST
        self.port = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._executor: ThreadPoolExecutor | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="embedded-imap", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise EmbeddedServerError("embedded IMAP server did not start within %.0f s"
                                      % START_TIMEOUT)
        if self._error is not None:
            self._thread.join(START_TIMEOUT)
            self._thread = None
            raise EmbeddedServerError("embedded IMAP server failed to start: %s"
                                      % self._error) from self._error
        log.info("embedded IMAP listening on %s:%s (user %s)", self.host, self.port, self.user)

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            with suppress(RuntimeError):  # the loop may have ended meanwhile
                loop.call_soon_threadsafe(stopping.set)
        thread.join(START_TIMEOUT)
        if thread.is_alive():
            raise EmbeddedServerError("embedded IMAP server thread did not stop")

    def __enter__(self) -> EmbeddedImap:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- the server thread ----------------------------------------------------------------

    def _run(self) -> None:
        try:
            # asyncio.run also cancels the open connections' tasks when _serve returns.
            asyncio.run(self._serve())
        except BaseException as err:  # noqa: BLE001 - reported to start() instead
            if self._ready.is_set():
                log.exception("embedded IMAP server failed")
            else:
                self._error = err
                self._ready.set()
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        # What `pymap dict --demo-user … --demo-password …` would parse, minus the demo data
        # (sample mails we do not want) and minus TLS: a loopback demo logs in in plain text.
        args = Namespace(
            host=self.host, port=0, debug=False, cert=None, key=None, tls=False,
            passlib_cfg=None, proxy_protocol=None, inherited_sockets=None,
            demo_data=False, demo_user=self.user, demo_password=self.password,
        )
        # pymap's default CPU pool is never shut down; own it so stop() can.
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="embedded-imap")
        config = _DemoConfig.from_args(args, cpu_subsystem=Subsystem.for_threading(
            self._executor))
        login = Login(config)
        backend = DictBackend(login, config)
        # Same as DictBackend.init's demo user: pymap's own hash, stored under our name.
        hashed = await Passwords(config).hash_password(self.password)
        await login.demo_user_identity.set(UserMetadata(config, self.user, password=hashed))
        # pymap's request handlers find the concurrency subsystem in a context variable; the
        # listening socket's callbacks inherit this task's context.
        config.apply_context()
        async with AsyncExitStack() as stack:
            await backend.start(stack)
            handler = ProxyProtocolReader(config.proxy_protocol).get_callback(
                IMAPServer(backend.login, config))
            server = await asyncio.start_server(handler, host=self.host, port=0)
            await stack.enter_async_context(server)
            self.port = int(server.sockets[0].getsockname()[1])
            self._ready.set()
            await self._stopping.wait()

    # -- seeding and inspecting, through a real IMAP connection ---------------------------

    def _client(self) -> IMAPClient:
        if self._thread is None:
            raise EmbeddedServerError("embedded IMAP server is not running")
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        # Without TCP_NODELAY each APPEND waits ~40 ms on Nagle + delayed ACK (LAB-NOTES).
        client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.login(self.user, self.password)
        return client

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        """Deliver one mail into ``folder`` (created when missing), as a mail server would."""
        self.append_many([raw], folder)

    def append_many(self, raws: Iterable[bytes], folder: str = "INBOX") -> None:
        """Deliver several mails with one MULTIAPPEND command."""
        with self._client() as client:
            deliver(client, raws, folder)

    def folder_counts(self) -> dict[str, int]:
        """Folder name → number of mails, for every folder of the user."""
        with self._client() as client:
            names = [name for _, _, name in client.list_folders()]
            return {name: int(client.folder_status(name, [b"MESSAGES"])[b"MESSAGES"])
                    for name in sorted(names)}


@dataclass(frozen=True)
class ReceivedMessage:
    """One mail as the SMTP server received it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes


class _Collector:
    """aiosmtpd handler: keep every message and wake whoever waits for it."""

    def __init__(self) -> None:
        self.messages: list[ReceivedMessage] = []
        self.arrived = threading.Condition()

    async def handle_DATA(self, server: SMTP, session: Session,  # noqa: N802 - aiosmtpd hook
                          envelope: Envelope) -> str:
        # original_content is the bytes as sent (content may be decoded, depending on options).
        raw = envelope.original_content
        if raw is None:
            raw = envelope.content if isinstance(envelope.content, bytes) else \
                str(envelope.content or "").encode("utf-8")
        message = ReceivedMessage(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            data=bytes(raw),
        )
        with self.arrived:
            self.messages.append(message)
            self.arrived.notify_all()
        return "250 Message accepted for delivery"


class EmbeddedSmtp:
    """aiosmtpd on 127.0.0.1:<free port> that keeps every message it receives."""

    def __init__(self) -> None:
        self.host = HOST
        self.port = 0
        self._collector = _Collector()
        self._controller: Controller | None = None

    def start(self) -> None:
        if self._controller is not None:
            return
        # aiosmtpd's Controller cannot report a kernel-chosen port (it connects to its own
        # port to check readiness), so pick a free one and retry if someone grabs it first.
        last_error: Exception | None = None
        for _ in range(5):
            port = _free_port()
            controller = Controller(self._collector, hostname=self.host, port=port,
                                    ready_timeout=START_TIMEOUT)
            try:
                controller.start()
            except (OSError, RuntimeError) as err:
                last_error = err
                continue
            self._controller, self.port = controller, port
            log.info("embedded SMTP listening on %s:%s", self.host, self.port)
            return
        raise EmbeddedServerError("embedded SMTP server did not start: %s" % last_error) \
            from last_error

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> EmbeddedSmtp:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def messages(self) -> list[ReceivedMessage]:
        """A snapshot of every message received so far, oldest first."""
        with self._collector.arrived:
            return list(self._collector.messages)

    def wait_for(self, count: int, timeout: float) -> list[ReceivedMessage]:
        """Block until at least ``count`` messages arrived; TimeoutError after ``timeout`` s."""
        with self._collector.arrived:
            if not self._collector.arrived.wait_for(
                    lambda: len(self._collector.messages) >= count, timeout):
                raise TimeoutError("embedded SMTP: %d of %d message(s) after %.1f s"
                                   % (len(self._collector.messages), count, timeout))
            return list(self._collector.messages)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])

