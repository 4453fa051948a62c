"""IMAP intake: watch one mailbox folder, hand new mails to the pipeline, file them away after.

The flow a mail takes here (DESIGN.md, "Architecture"; paperless-ngx ``ProcessedMail``):

1. :meth:`Mailbox.list_uids` lists what is in the watched folder; the caller (the lead's
   pipeline) compares it with what the database already recorded for
   ``(folder, UIDVALIDITY, UID)``. A changed :attr:`Mailbox.uidvalidity` means the stored UIDs
   name other mails now: the caller must then fall back to the Message-ID hash so a mail
   already answered is never answered again.
2. :meth:`Mailbox.fetch` reads raw mails with ``BODY.PEEK[]`` (``RFC822`` would set ``\\Seen``
   and a human looking at the mailbox would lose the "unread" cue) in batches.
3. The caller stores the raw mail and commits, decides, commits the decision, and only then
   calls :meth:`Mailbox.file_away` (MOVE, or COPY + ``\\Deleted`` + EXPUNGE where MOVE is
   missing), once per target folder for a whole chunk of decided mails. A crash between the
   commits and the MOVE leaves the mail in the folder, where the database key makes the next
   pass skip straight to filing it.

:func:`watch` is the daemon loop around that: IDLE (poll where IDLE is missing), and reconnect
with exponential backoff after anything goes wrong, so one broken connection or one bad pass
never ends the daemon.

imapclient's byte keys (``b'BODY[]'``, ``b'UIDVALIDITY'``) stay inside this module.
"""

from __future__ import annotations

import datetime as dt
import imaplib
import logging
import random
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING

from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from bot.mail_connect import ServerSecurityError, SilentServer, imap_login, open_imap
from bot.oauth2 import OAuth2Refused, OAuth2Unavailable

if TYPE_CHECKING:
    from bot.config import Config, OAuth2Config

log = logging.getLogger("bot.intake")

# Decision → folder the mail is filed into once the decision is committed.
FOLDERS: dict[str, str] = {
    "accepted": "Processed",
    "rejected": "Rejected",
    "manual": "Manual",
    "ignored": "Ignored",
}
# Mails the bot failed on (an unexpected error, traceback in the database) go here for a
# human, never silently back into the inbox loop (STYLE.md rule 4: shunt, never drop).
QUARANTINE = "Quarantine"
TARGET_FOLDERS: tuple[str, ...] = (*FOLDERS.values(), QUARANTINE)

# How often a blocking wait looks at the stop event. IMAP gives no way to wake a socket read
# from another thread, so the wait is cut into slices this long: `stop` takes effect within
# 0.2 s, for the price of one poll() call per slice. Without a stop event, no slicing.
STOP_CHECK_SECONDS = 0.2

# Untagged responses that mean the selected folder changed (new mail, mail gone, flags).
_CHANGE_RESPONSES = frozenset({b"EXISTS", b"RECENT", b"EXPUNGE", b"FETCH", b"VANISHED"})


@dataclass(frozen=True)
class MailboxSettings:
    """Where the watched mailbox is and how to talk to it."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)  # never in logs or tracebacks
    ssl: bool
    folder: str = "INBOX"
    # Transport and login (bot/mail_connect.py): "tls" | "starttls" | "plain"; "" = `ssl`'s
    # "tls" or "plain". `auth` "oauth2" logs in with a token of `oauth2` (bot/oauth2.py).
    security: str = ""
    ca_file: str = ""
    auth: str = "password"
    oauth2: OAuth2Config | None = field(default=None, repr=False)
    # 50 mails of ~60 KB is ~3 MB per FETCH: few round trips, bounded memory (LAB-NOTES).
    batch_size: int = 50
    # RFC 2177: servers may drop an IDLE after 30 minutes; re-issue well before that.
    idle_renew_seconds: float = 25 * 60
    poll_seconds: float = 60.0
    # Socket timeout for connect and for every command's reply.
    timeout: float = 30.0
    # A mail bigger than this is not fetched whole: only its header (bot/limits.py mail_bytes).
    max_mail_bytes: int = 30 * 1024 * 1024
    # Bytes fetched per FETCH command at most (a batch of big mails is split).
    max_batch_bytes: int = 64 * 1024 * 1024
    # A mailbox with years of history: mails delivered before this date, or more than
    # max_age_days ago, are left where they are (never fetched, never answered).
    since: dt.date | None = None
    max_age_days: int = 0

    def oldest_date(self, today: dt.date | None = None) -> dt.date | None:
        """The first delivery date the bot works on (IMAP SINCE), or None for every mail."""
        dates = [self.since] if self.since else []
        if self.max_age_days:
            dates.append((today or dt.date.today()) - dt.timedelta(days=self.max_age_days))
        return max(dates) if dates else None

    @property
    def security_mode(self) -> str:
        return self.security or ("tls" if self.ssl else "plain")

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1, got %r" % self.batch_size)
        if self.idle_renew_seconds <= 0 or self.poll_seconds <= 0 or self.timeout <= 0:
            raise ValueError("idle_renew_seconds, poll_seconds and timeout must be positive")


def mailbox_settings(cfg: Config) -> MailboxSettings:
    """The [mailbox] of a config as the intake's settings (the daemon's, the console's refiling)."""
    m = cfg.mailbox
    return MailboxSettings(host=m.host, port=m.port, user=m.user, password=m.password, ssl=m.ssl, folder=m.folder,
                           batch_size=m.batch_size, poll_seconds=m.poll_seconds, max_mail_bytes=cfg.limits.mail_bytes,
                           since=m.since_date, max_age_days=m.max_age_days, security=m.security_mode,
                           ca_file=m.ca_file, auth=m.auth, oauth2=cfg.oauth2 if m.auth == "oauth2" else None,
                           timeout=m.timeout)


@dataclass(frozen=True)
class FetchedMessage:
    uid: int
    raw: bytes
    internal_date: dt.datetime | None  # aware; when the server received the mail
    size: int | None = None  # RFC822.SIZE
    truncated: bool = False  # over max_mail_bytes: `raw` is the header only


class IntakeError(Exception):
    """Anything that went wrong talking to the IMAP server; the message names host/folder/uid."""


class IntakeConnectionError(IntakeError):
    """The connection failed or dropped (socket error, timeout, BYE, EOF): reconnect."""


class IntakeLoginError(IntakeError):
    """The server refused the user name or password (or the OAuth2 provider the credentials)."""


class IntakeTlsError(IntakeConnectionError):
    """TLS could not be set up as configured; the message is one line naming the key and fix."""


class HandlerUnavailable(Exception):
    """Raised by a pass handler whose back end (the database) is away: not a bug, retried
    after a backoff with one log line."""


class IntakeCommandError(IntakeError):
    """The server answered a command with NO or BAD."""


class Mailbox:
    """One logged-in IMAP connection with the watched folder selected read-write.

    Not thread-safe: one thread drives it (the :func:`watch` loop), others may only set the
    ``stop`` event passed to :meth:`wait`.
    """

    def __init__(self, settings: MailboxSettings) -> None:
        self._settings = settings
        self._client: IMAPClient | None = None
        self._uidvalidity: int | None = None
        self._capabilities: frozenset[bytes] = frozenset()
        self._known_folders: set[str] = set()
        # UIDs of mails older than MailboxSettings.oldest_date (found by the last full listing).
        self.old_uids: set[int] = set()
        # Set once the connection failed: close() then skips LOGOUT, which on a half-dead
        # link would only wait out another socket timeout.
        self._broken = False

    # -- connection -----------------------------------------------------------------------

    @property
    def settings(self) -> MailboxSettings:
        return self._settings

    def connect(self) -> None:
        """Connect, log in, create missing target folders, select the folder read-write."""
        s = self._settings
        self.close()
        with self._errors("connect"):
            try:
                client = open_imap(s.host, s.port, s.security_mode, s.ca_file, s.timeout)
            except SilentServer as err:  # maybe a TLS port, maybe a hung server: retried
                raise IntakeConnectionError(str(err)) from err
            except ServerSecurityError as err:
                raise IntakeTlsError(str(err)) from err
        # Keep INTERNALDATE's own offset (aware datetimes) instead of local naive times.
        client.normalise_times = False
        self._client = client
        with self._errors("connect"):
            # Small commands otherwise wait on Nagle + delayed ACK (~40 ms each; LAB-NOTES).
            _set_nodelay(client)
            try:
                imap_login(client, s.user, s.password, s.auth, s.oauth2)
            except LoginError as err:
                raise IntakeLoginError("IMAP %s:%s: login as %r refused: %s"
                                       % (s.host, s.port, s.user, err)) from err
            except OAuth2Refused as err:
                raise IntakeLoginError("IMAP %s:%s: %s" % (s.host, s.port, err)) from err
            except OAuth2Unavailable as err:
                raise IntakeConnectionError("IMAP %s:%s: %s" % (s.host, s.port, err)) from err
            self._capabilities = frozenset(c.upper() for c in client.capabilities())
            self._known_folders = set()
            for folder in TARGET_FOLDERS:
                self._ensure_folder(folder)
            self._select()
        log.info("IMAP %s:%s: folder %s selected (UIDVALIDITY %s, IDLE %s, MOVE %s)",
                 s.host, s.port, s.folder, self._uidvalidity,
                 "yes" if self.has_idle else "no", "yes" if self.has_move else "no")

    def close(self) -> None:
        """Log out if possible; never raises (the connection may already be gone)."""
        client, self._client = self._client, None
        broken, self._broken = self._broken, False
        self._uidvalidity = None
        self._capabilities = frozenset()
        if client is None:
            return
        try:
            if broken:
                client.shutdown()
            else:
                client.logout()
        except Exception:  # noqa: BLE001 - a dead connection cannot log out; just drop it
            try:
                client.shutdown()
            except Exception as err:  # noqa: BLE001
                log.debug("IMAP %s:%s: close after logout failed: %s",
                          self._settings.host, self._settings.port, err)

    def __enter__(self) -> Mailbox:
        self.connect()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def uidvalidity(self) -> int:
        """UIDVALIDITY of the selected folder, as read at connect time."""
        if self._uidvalidity is None:
            raise IntakeError("IMAP %s:%s folder %s: not connected"
                              % (self._settings.host, self._settings.port, self._settings.folder))
        return self._uidvalidity

    @property
    def has_idle(self) -> bool:
        return b"IDLE" in self._capabilities

    @property
    def has_move(self) -> bool:
        return b"MOVE" in self._capabilities

    @property
    def has_uidplus(self) -> bool:
        return b"UIDPLUS" in self._capabilities

    # -- reading --------------------------------------------------------------------------

    def oldest_arrival(self) -> dt.datetime | None:
        """The INTERNALDATE of the watched folder's first mail (lowest UID), None when empty
        (``bot check``: a mailbox with history needs ``[mailbox] since``)."""
        client = self._require()
        with self._errors("UID SEARCH ALL"):
            uids = client.search(["ALL"])
        if not uids:
            return None
        first = min(uids)
        with self._errors("UID FETCH INTERNALDATE", uid=first):
            got = client.fetch([first], ["INTERNALDATE"]).get(first, {})
        when = got.get(b"INTERNALDATE")
        return when if isinstance(when, dt.datetime) else None

    def list_uids(self) -> list[int]:
        """UIDs in the folder, ascending, leaving out mails already flagged ``\\Deleted``."""
        client = self._require()
        with self._errors("UID SEARCH"):
            # NOOP first: a SEARCH may only name mails this session has been told about
            # (EXISTS), and Dovecot announces mails delivered by others only at the end of a
            # command. Without it, mails that arrived since the last command are missed
            # (measured: an empty result right after another client's APPEND).
            client.noop()
            oldest = self._settings.oldest_date()
            if oldest is None:
                self.old_uids = set()
                return sorted(int(uid) for uid in client.search(["UNDELETED"]))
            # History left alone: listed (so that it counts as present), never fetched. One date
            # SEARCH, not two: the old ones are every UID less the recent ones.
            recent = sorted(int(uid) for uid in client.search(["UNDELETED", "SINCE", oldest]))
            self.old_uids = {int(uid) for uid in client.search(["UNDELETED"])}.difference(recent)
            return recent

    def list_uids_from(self, start: int, *, also: Iterable[int] = ()) -> list[int]:
        """UIDs from ``start`` up, plus those of ``also`` still there, ascending, without mails
        flagged ``\\Deleted``: what a pass asks for when it already knows the older mails
        (one ``UID SEARCH UID start:*,also UNDELETED``, plain IMAP4rev1, so every server has it).
        """
        client = self._require()
        extra = sorted({int(uid) for uid in also if int(uid) < start})
        wanted = "%d:*" % max(start, 1)
        if extra:
            wanted = _uid_set(extra) + "," + wanted
        oldest = self._settings.oldest_date()
        with self._errors("UID SEARCH"):
            client.noop()  # see list_uids: mails delivered by others are announced here
            if oldest is None:
                found = client.search(["UID", wanted, "UNDELETED"])
            elif extra:
                # The open ones whatever their age (stored already); new ones only when recent.
                found = client.search(["UNDELETED", "OR", ["UID", _uid_set(extra)],
                                       ["UID", "%d:*" % max(start, 1), "SINCE", oldest]])
            else:
                found = client.search(["UID", wanted, "UNDELETED", "SINCE", oldest])
        # `n:*` with n above the highest UID still names the highest mail (RFC 3501: `*` is
        # the highest UID, and `n:*` is the range between): keep only what was asked for.
        keep = set(extra)
        return sorted(uid for uid in {int(u) for u in found} if uid >= start or uid in keep)

    def fetch(self, uids: Sequence[int]) -> Iterator[tuple[int, bytes]]:
        """Yield ``(uid, raw mail)`` in the order given (see :meth:`fetch_messages`)."""
        for message in self.fetch_messages(uids):
            yield message.uid, message.raw

    def fetch_messages(self, uids: Sequence[int]) -> Iterator[FetchedMessage]:
        """Yield each mail with its arrival time, in the order given, one ``UID FETCH`` per batch.

        ``BODY.PEEK[]`` never sets ``\\Seen``. INTERNALDATE is when the server received the
        mail: the time rules (17:00 cutoff, withdrawal deadline) are about arrival, not about
        when the bot got round to it after an outage. A UID that vanished meanwhile (another
        client moved it) is logged and skipped. The generator is lazy: a batch is fetched only
        when the previous one is consumed, so memory stays at one batch.
        """
        size = self._settings.batch_size
        for start in range(0, len(uids), size):
            batch = [int(uid) for uid in uids[start:start + size]]
            client = self._require()
            # Sizes first: a hostile 2 GB mail (or fifty 29 MB ones) must not be pulled into
            # memory in one go. Big mails are fetched header only; the rest in chunks whose
            # sum stays under max_batch_bytes.
            with self._errors("UID FETCH RFC822.SIZE", uid=batch[0] if len(batch) == 1 else None):
                sizes = {int(uid): int(item.get(b"RFC822.SIZE", 0) or 0)
                         for uid, item in client.fetch(batch, ["RFC822.SIZE"]).items()}
            for chunk in _by_size(batch, sizes, self._settings.max_batch_bytes, self._settings.max_mail_bytes):
                yield from self._fetch_chunk(client, chunk, sizes)

    def _fetch_chunk(self, client: IMAPClient, chunk: list[int], sizes: dict[int, int]) -> Iterator[FetchedMessage]:
        big = {uid for uid in chunk if sizes.get(uid, 0) > self._settings.max_mail_bytes}
        whole = [uid for uid in chunk if uid not in big]
        response: dict[int, dict[bytes, object]] = {}
        with self._errors("UID FETCH", uid=chunk[0] if len(chunk) == 1 else None):
            if whole:
                response.update(client.fetch(whole, ["BODY.PEEK[]", "INTERNALDATE"]))
            if big:
                response.update(client.fetch(sorted(big), ["BODY.PEEK[HEADER]", "INTERNALDATE"]))
        for uid in chunk:
            item = response.get(uid, {})
            data = item.get(b"BODY[HEADER]" if uid in big else b"BODY[]")
            if data is None:
                log.warning("IMAP %s folder %s uid %s: gone before FETCH, skipped",
                            self._settings.host, self._settings.folder, uid)
                continue
            if uid in big:
                log.warning("IMAP %s folder %s uid %s: %s bytes, over the limit mail_bytes=%s: header only",
                            self._settings.host, self._settings.folder, uid, sizes[uid], self._settings.max_mail_bytes)
            arrived = item.get(b"INTERNALDATE")
            if not isinstance(arrived, dt.datetime) or arrived.tzinfo is None:
                arrived = None  # unknown: the caller uses its own clock
            yield FetchedMessage(uid, bytes(data), arrived, size=sizes.get(uid), truncated=uid in big)  # type: ignore[arg-type]

    def locate(self, message_id: str | None, matches: Callable[[bytes], bool], *, scan_last: int) -> int | None:
        """The UID of one mail in the selected folder (a filing folder, where its INBOX UID is
        not its UID): by Message-ID, else among the last ``scan_last`` mails, the one whose raw
        bytes ``matches``; with only its header stored, a Message-ID found once must do."""
        client = self._require()
        with self._errors("search for %s" % (message_id or "a mail without Message-ID")):
            if message_id:
                uids = list(client.search(["HEADER", "Message-ID", message_id]))
            else:
                uids = list(client.search(["ALL"]))[-scan_last:]
            for start in range(0, len(uids), 50):
                chunk = uids[start:start + 50]
                for uid, data in client.fetch(chunk, ["BODY.PEEK[]"]).items():
                    if matches(bytes(data.get(b"BODY[]") or b"")):
                        return int(uid)
            return int(uids[0]) if message_id and len(uids) == 1 else None

    # -- filing ---------------------------------------------------------------------------

    def file_away(self, uids: int | Sequence[int], folder: str) -> None:
        """Move one mail, or several in one command, to ``folder`` (created when missing).

        The runner files a whole chunk of a pass per target folder through here (one UID
        SEARCH and one MOVE for all of them, see :meth:`file_away_many`).
        """
        self.file_away_many([uids] if isinstance(uids, int) else uids, folder)

    def file_away_many(self, uids: Sequence[int], folder: str) -> None:
        """Move mails to ``folder`` in one command (MOVE, else COPY + ``\\Deleted`` + EXPUNGE).

        UIDs no longer in the watched folder (already filed by an earlier run that crashed
        before recording it, or moved by a human) are logged, not errors: the goal, "not in
        the inbox any more", is already reached.
        """
        if not uids:
            return
        client = self._require()
        wanted = sorted({int(uid) for uid in uids})
        uid_for_error = wanted[0] if len(wanted) == 1 else None
        with self._errors("file away to %s" % folder, uid=uid_for_error):
            self._ensure_folder(folder)
            # Ask first which UIDs still exist: servers differ on whether a UID MOVE/COPY of
            # a missing UID is NO or a silent OK, and we want to log the missing ones anyway.
            present = set(client.search(["UID", _uid_set(wanted)]))
            if len(present) < len(wanted):
                # Maybe not gone but new to this session (see list_uids): NOOP, ask again.
                client.noop()
                present = set(client.search(["UID", _uid_set(wanted)]))
            gone = [uid for uid in wanted if uid not in present]
            if gone:
                log.info("IMAP %s folder %s: uid(s) %s already gone, not filed to %s",
                         self._settings.host, self._settings.folder,
                         ",".join(map(str, gone)), folder)
            existing = [uid for uid in wanted if uid in present]
            if not existing:
                return
            try:
                self._transfer(existing, folder)
            except imaplib.IMAP4.error as err:
                # [TRYCREATE]: the folder was deleted since we cached that it exists (RFC 3501
                # 6.4.7 asks the client to create it and retry). Nothing was moved yet.
                if isinstance(err, imaplib.IMAP4.abort) or "TRYCREATE" not in str(err):
                    raise
                self._known_folders.discard(folder)
                self._ensure_folder(folder)
                self._transfer(existing, folder)
        log.info("IMAP %s folder %s: filed uid(s) %s to %s",
                 self._settings.host, self._settings.folder, ",".join(map(str, existing)),
                 folder)

    def _transfer(self, uids: list[int], folder: str) -> None:
        client = self._require()
        if self.has_move:
            client.move(uids, folder)
            return
        client.copy(uids, folder)
        client.delete_messages(uids, silent=True)
        if self.has_uidplus:
            client.uid_expunge(uids)
        else:
            # Plain EXPUNGE also removes mails others flagged \Deleted in this folder.
            # Without UIDPLUS there is no narrower command; the bot owns this folder.
            client.expunge()

    # -- waiting --------------------------------------------------------------------------

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
        while not _is_set(stop) and time.monotonic() < deadline:
            renew_at = time.monotonic() + self._settings.idle_renew_seconds
            changed = False
            with self._errors("IDLE"):
                client.idle()
                try:
                    while not changed and not _is_set(stop):
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
        if not _readable(client.socket(), timeout):
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
                    and response[1] in _CHANGE_RESPONSES:
                changed = True
        return changed

    # -- helpers --------------------------------------------------------------------------

    def _require(self) -> IMAPClient:
        if self._client is None:
            raise IntakeError("IMAP %s:%s folder %s: not connected"
                              % (self._settings.host, self._settings.port, self._settings.folder))
        return self._client

    def _select(self) -> None:
        client = self._require()
        response = client.select_folder(self._settings.folder, readonly=False)
        if b"READ-WRITE" not in response:
            # Filing mails away needs write access; failing here is clearer than later.
            raise IntakeCommandError(
                "IMAP %s:%s folder %s: selected read-only, cannot file mails"
                % (self._settings.host, self._settings.port, self._settings.folder))
        self._uidvalidity = int(response[b"UIDVALIDITY"])

    def _ensure_folder(self, folder: str) -> None:
        if folder in self._known_folders:
            return
        client = self._require()
        if not client.folder_exists(folder):
            try:
                client.create_folder(folder)
                log.info("IMAP %s: created folder %s", self._settings.host, folder)
            except imaplib.IMAP4.error:
                # Another bot process may have created it a moment ago (PostgreSQL setups
                # run several); only a folder that still does not exist is an error.
                if not client.folder_exists(folder):
                    raise
        self._known_folders.add(folder)

    @contextmanager
    def _errors(self, action: str, *, uid: int | None = None) -> Iterator[None]:
        """Turn imapclient/socket errors into our own, naming host, folder and uid."""
        s = self._settings
        where = "IMAP %s:%s folder %s%s: %s" % (
            s.host, s.port, s.folder, "" if uid is None else " uid %s" % uid, action)
        try:
            yield
        except IntakeConnectionError:
            self._broken = True
            raise
        except IntakeError:
            raise
        except LoginError as err:
            raise IntakeLoginError("%s: login refused: %s" % (where, err)) from err
        except imaplib.IMAP4.abort as err:
            self._broken = True
            raise IntakeConnectionError("%s: connection lost: %s" % (where, err)) from err
        except imaplib.IMAP4.error as err:
            raise IntakeCommandError("%s: server refused: %s" % (where, err)) from err
        except (OSError, EOFError) as err:
            self._broken = True
            raise IntakeConnectionError(
                "%s: %s: %s" % (where, type(err).__name__, err)) from err


def watch(settings: MailboxSettings, handle: Callable[[Mailbox], None], *,
          stop: threading.Event, backoff_initial: float = 1.0, backoff_max: float = 300.0,
          wait_timeout: float | None = None,
          sleep: Callable[[float], object] | None = None,
          on_state: Callable[[str | None], None] | None = None) -> None:
    """Run the intake loop until ``stop`` is set.

    Connect, ``handle(mailbox)`` at once (mail may have arrived while we were away), then
    ``wait()`` and ``handle()`` again, forever. ``wait_timeout`` (default ``poll_seconds``)
    bounds each wait even with IDLE, so a pass runs at least that often: a safety net for a
    missed notification and a check that the connection is still alive.

    Any failure — connection drop, IntakeError, OSError, or an unexpected exception out of
    ``handle`` — closes the connection, and the loop reconnects after an exponential backoff
    with jitter (``backoff_initial`` doubling up to ``backoff_max``), reset after every
    successful ``handle``. ``sleep`` defaults to ``stop.wait`` so a backoff ends at once on
    stop; tests pass their own.

    An outage is logged once per change of state (the first failure, a different error, the
    recovery), with the error's class, not once per retry; an unexpected exception gets its
    traceback the first time only. ``on_state`` hears the same: a description of what is
    wrong, or None once a pass succeeded again (the daemon's heartbeat, `bot status`).
    """
    pause: Callable[[float], object] = sleep if sleep is not None else stop.wait
    timeout = settings.poll_seconds if wait_timeout is None else wait_timeout
    failures = 0
    outage: _Outage | None = None

    def recovered() -> None:
        nonlocal outage
        if outage is not None:
            log.info("IMAP %s:%s folder %s: working again after %.0f s (%s)", settings.host, settings.port,
                     settings.folder, time.monotonic() - outage.since, outage.what)
            outage = None
        if on_state is not None:
            on_state(None)

    while not stop.is_set():
        mailbox = Mailbox(settings)
        try:
            mailbox.connect()
            handle(mailbox)
            failures = 0
            recovered()
            while not stop.is_set():
                mailbox.wait(timeout, stop)
                if stop.is_set():
                    break
                handle(mailbox)
                failures = 0
                recovered()
        except IntakeError as err:
            # Expected in a long-running daemon (server restart, network blip): no traceback.
            # A refused login will not heal by itself, so it is an error for the operator.
            # Our errors already name host, port and folder.
            delay = _backoff(failures, backoff_initial, backoff_max)
            level = logging.ERROR if isinstance(err, IntakeLoginError) else logging.WARNING
            outage = _report(outage, type(err).__name__, f"{err}", level, delay, on_state)
        except (OSError, imaplib.IMAP4.error) as err:
            delay = _backoff(failures, backoff_initial, backoff_max)
            outage = _report(outage, type(err).__name__, f"IMAP {settings.host}:{settings.port} folder "
                             f"{settings.folder}: {type(err).__name__}: {err}", logging.WARNING, delay, on_state)
        except HandlerUnavailable as err:
            # The database is away (stopped, full disk): the mails wait in the folder and are
            # decided once it is back.
            delay = _backoff(failures, backoff_initial, backoff_max)
            cause = type(err.__cause__).__name__ if err.__cause__ is not None else "database"
            outage = _report(outage, f"database:{cause}", str(err), logging.WARNING, delay, on_state)
        except Exception as err:
            # A bug or a failing database inside handle: keep the daemon alive, but loudly
            # (the traceback once per kind of failure).
            delay = _backoff(failures, backoff_initial, backoff_max)
            what = f"intake pass failed: {type(err).__name__}: {err}"
            if outage is None or outage.key != type(err).__name__:
                log.exception("IMAP %s:%s folder %s: %s; retrying in %.1f s", settings.host, settings.port,
                              settings.folder, what, delay)
                outage = _Outage(type(err).__name__, what, time.monotonic())
                if on_state is not None:
                    on_state(what)
            else:
                log.debug("%s; retrying in %.1f s", what, delay)
        else:
            break  # left the inner loop because stop was set
        finally:
            mailbox.close()
        if stop.is_set():
            break
        failures += 1
        pause(delay)
    log.info("IMAP %s:%s folder %s: intake stopped", settings.host, settings.port,
             settings.folder)


@dataclass
class _Outage:
    key: str  # the kind of failure: a new kind is logged again
    what: str
    since: float


def _report(outage: _Outage | None, key: str, what: str, level: int, delay: float,
            on_state: Callable[[str | None], None] | None) -> _Outage:
    """One log line when an outage starts or changes kind; the retries after it at debug level."""
    if outage is None or outage.key != key:
        log.log(level, "%s; %s in %.1f s (then backing off; logged again when this changes)", what,
                "retrying" if key.startswith("database:") else "reconnecting", delay)
        if on_state is not None:
            on_state(what)
        return _Outage(key, what, time.monotonic() if outage is None else outage.since)
    log.debug("%s; retrying in %.1f s", what, delay)
    return outage


def _by_size(uids: list[int], sizes: dict[int, int], max_bytes: int, max_mail: int) -> Iterator[list[int]]:
    """UIDs in order, cut into chunks of at most `max_bytes` (a header-only mail counts little)."""
    chunk: list[int] = []
    total = 0
    for uid in uids:
        cost = min(sizes.get(uid, 0), max_mail) if sizes.get(uid, 0) <= max_mail else 64 * 1024
        if chunk and total + cost > max_bytes:
            yield chunk
            chunk, total = [], 0
        chunk.append(uid)
        total += cost
    if chunk:
        yield chunk


def _backoff(failures: int, initial: float, maximum: float) -> float:
    """Exponential backoff with jitter: many bots restarting together do not stampede."""
    base = min(maximum, initial * (2 ** min(failures, 30)))
    return random.uniform(base / 2, base)


def _uid_set(uids: Sequence[int]) -> str:
    """``1,2,3,7`` → ``1:3,7``: keeps the command short for long runs of UIDs."""
    parts: list[str] = []
    ordered = sorted(set(uids))
    start = prev = ordered[0]
    for uid in ordered[1:]:
        if uid == prev + 1:
            prev = uid
            continue
        parts.append(str(start) if start == prev else "%d:%d" % (start, prev))
        start = prev = uid
    parts.append(str(start) if start == prev else "%d:%d" % (start, prev))
    return ",".join(parts)


def _set_nodelay(client: IMAPClient) -> None:
    # Not a TCP socket (e.g. a stream) is fine: this is only a latency tweak.
    with suppress(OSError, AttributeError):
        client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _readable(sock: socket.socket, timeout: float) -> bool:
    """True when the socket has something to read (or hung up) within ``timeout`` seconds."""
    # Data already decrypted inside an SSL object is invisible to poll(); check it first.
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN | select.POLLHUP | select.POLLERR)
    return bool(poller.poll(max(0.0, timeout) * 1000))


def _is_set(stop: threading.Event | None) -> bool:
    return stop is not None and stop.is_set()
