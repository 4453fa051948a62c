"""What the intake is told (:class:`MailboxSettings`, from the config) and what it can say
(its errors, the folder names a decision files into).
"""


from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING



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
CHANGE_RESPONSES = frozenset({b"EXISTS", b"RECENT", b"EXPUNGE", b"FETCH", b"VANISHED"})


@dataclass(frozen=True)
class MailboxSettings:
    """Where the watched mailbox is and how to talk to it."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)  # never in logs or tracebacks
    ssl: bool
    folder: str = "INBOX"
    # Transport and login (bot/intake/connect.py): "tls" | "starttls" | "plain"; "" = `ssl`'s
    # "tls" or "plain". `auth` "oauth2" logs in with a token of `oauth2` (bot/intake/oauth2.py).
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
    # A mail bigger than this is not fetched whole: only its header (bot/config/limits.py mail_bytes).
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


