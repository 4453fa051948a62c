"""The mailbox: one IMAP connection to the watched folder (list, fetch, file away, wait).

imapclient's byte keys (``b'BODY[]'``, ``b'UIDVALIDITY'``) stay inside the intake package.
"""


from __future__ import annotations

import datetime as dt
import imaplib
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING

from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from bot.intake.connect import ServerSecurityError, SilentServer, imap_login, open_imap
from bot.intake.oauth2 import OAuth2Refused, OAuth2Unavailable

if TYPE_CHECKING:
    pass

log = logging.getLogger("bot.intake")

from bot.intake.settings import (
    TARGET_FOLDERS,
    FetchedMessage,
    IntakeCommandError,
    IntakeConnectionError,
    IntakeError,
    IntakeLoginError,
    IntakeTlsError,
    MailboxSettings,
)
from bot.intake.waiting import Waiting, set_nodelay


class Mailbox(Waiting):
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
            set_nodelay(client)
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
            wanted = uid_set(extra) + "," + wanted
        oldest = self._settings.oldest_date()
        with self._errors("UID SEARCH"):
            client.noop()  # see list_uids: mails delivered by others are announced here
            if oldest is None:
                found = client.search(["UID", wanted, "UNDELETED"])
            elif extra:
                # The open ones whatever their age (stored already); new ones only when recent.
                found = client.search(["UNDELETED", "OR", ["UID", uid_set(extra)],
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
            for chunk in by_size(batch, sizes, self._settings.max_batch_bytes, self._settings.max_mail_bytes):
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
            present = set(client.search(["UID", uid_set(wanted)]))
            if len(present) < len(wanted):
                # Maybe not gone but new to this session (see list_uids): NOOP, ask again.
                client.noop()
                present = set(client.search(["UID", uid_set(wanted)]))
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




def by_size(uids: list[int], sizes: dict[int, int], max_bytes: int, max_mail: int) -> Iterator[list[int]]:
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


def uid_set(uids: Sequence[int]) -> str:
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
