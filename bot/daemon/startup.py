"""What `bot run` and `bot check` learn from the servers before any work (issue 18, point 3).

A server that is away is waited for (it comes back by itself); a wrong password, a database that
does not exist, or a mailbox with history and no ``[mailbox] since`` never fix themselves:
`bot run` exits 2 naming the key, and `bot check` prints the same finding with its fix.
The probes change nothing (IMAP folders the bot files into are created, as `bot run` does).
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import db
from bot.config import Config, ConfigError
from bot.db.models import Mail
from bot.intake import (
    IntakeConnectionError,
    IntakeError,
    IntakeLoginError,
    IntakeTlsError,
    Mailbox,
    MailboxSettings,
)
from bot.intake.connect import (
    ServerSecurityError,
    SilentServer,
    smtplib_connect,
    smtplib_login,
)
from bot.intake.oauth2 import OAuth2Refused, OAuth2Unavailable

log = logging.getLogger("bot.daemon.startup")

# Probe outcomes. TLS: the TLS setting does not fit the server (bot/intake/connect.py explains it).
OK, REFUSED, AWAY, OTHER, TLS = "ok", "refused", "away", "other", "tls"


@dataclass(frozen=True)
class Probe:
    outcome: str  # OK | REFUSED (credentials) | AWAY (cannot connect) | TLS (TLS setting) | OTHER
    detail: str = ""  # what the server or the socket said
    steps: tuple[str, ...] = ()  # what succeeded (SMTP: EHLO, STARTTLS, AUTH)
    oldest: dt.datetime | None = None  # IMAP: the watched folder's first mail


# What a failed database connection says of the config (database_failure).
MISSING = "missing"  # the database or the role does not exist


def first_line(err: BaseException) -> str:
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def database_failure(err: BaseException) -> str | None:
    """REFUSED (credentials) or MISSING (no such database or role): a config error, never fixed by
    waiting; None when the server is just away (or the error says nothing of the config)."""
    low = first_line(err).lower()
    if "authentication failed" in low:
        return REFUSED
    if "does not exist" in low:
        return MISSING
    return None


def database_misconfigured(err: BaseException) -> str | None:
    """The config error in a failed database connection, or None when the server is just away."""
    kind, text = database_failure(err), first_line(err)
    if kind == REFUSED:
        return f"[database] url（BOT_DATABASE_URL）: ログインが拒否されました / login refused: {text}"
    if kind == MISSING:
        return (f"[database] url（BOT_DATABASE_URL）: データベースまたはユーザーがありません / "
                f"database or role does not exist: {text}")
    return None


def imap_probe(settings: MailboxSettings, *, oldest: bool = True) -> Probe:
    """Log in, see the folders, and (``oldest``) read the watched folder's oldest mail."""
    try:
        with Mailbox(settings) as mbox:
            return Probe(OK, oldest=mbox.oldest_arrival() if oldest else None)
    except IntakeLoginError as err:
        return Probe(REFUSED, str(err))
    except IntakeTlsError as err:
        return Probe(TLS, str(err))
    except IntakeConnectionError as err:
        return Probe(AWAY, str(err))
    except IntakeError as err:
        return Probe(OTHER, str(err))
    except (OSError, ssl.SSLError) as err:
        return Probe(AWAY, f"{type(err).__name__}: {err}")


def smtp_probe(cfg: Config, *, timeout: float = 15.0) -> Probe:
    """Connect with the configured TLS (465, or STARTTLS required), EHLO, then AUTH as [smtp]
    auth says (password or XOAUTH2); no mail is sent."""
    s = cfg.smtp
    steps: list[str] = []
    try:
        smtp, steps = smtplib_connect(s, timeout=timeout)
        with smtp:
            done = smtplib_login(smtp, s, cfg.oauth2)
            if done:
                steps.append(done)
    except SilentServer as err:
        return Probe(AWAY, str(err), tuple(steps))
    except ServerSecurityError as err:
        return Probe(TLS, str(err), tuple(steps))
    except OAuth2Refused as err:
        return Probe(REFUSED, str(err), tuple(steps))
    except OAuth2Unavailable as err:
        return Probe(AWAY, str(err), tuple(steps))
    except smtplib.SMTPAuthenticationError as err:
        said = err.smtp_error.decode("utf-8", "replace") if isinstance(err.smtp_error, bytes) else str(err.smtp_error)
        return Probe(REFUSED, f"{err.smtp_code} {said}", tuple(steps))
    except smtplib.SMTPNotSupportedError as err:
        return Probe(OTHER, f"サーバーが対応していません: {err}", tuple(steps))
    except ConnectionRefusedError:
        return Probe(AWAY, "接続が拒否されました", tuple(steps))
    except (socket.timeout, TimeoutError):
        return Probe(AWAY, "時間内に応答がありません", tuple(steps))
    except (OSError, smtplib.SMTPException, ssl.SSLError) as err:
        return Probe(AWAY, f"{type(err).__name__}: {err}", tuple(steps))
    return Probe(OK, steps=tuple(steps))


def since_problem(first_day: dt.date | None, oldest: dt.datetime | None, tz: dt.tzinfo,
                  today: dt.date) -> tuple[str, str] | None:
    """(what was found, the fix) when the mailbox holds mail from before today and nothing
    keeps the bot off it; None when the history is left alone or there is none."""
    if oldest is None or first_day is not None:
        return None
    day = oldest.astimezone(tz).date() if oldest.tzinfo else oldest.date()
    if day >= today:
        return None
    return (f"受信箱に {day} からのメールがあり、[mailbox] since が未設定です（起動するとすべてに返信します）",
            f"[mailbox] since = \"{today.isoformat()}\"（この日以降に届いたメールだけを処理）を設定してください")


def refuse_wrong_credentials(cfg: Config, factory: sessionmaker[Session], settings: MailboxSettings) -> None:
    """`bot run`'s start: ConfigError (exit 2, naming the key) for a refused IMAP or SMTP login,
    and for a mailbox with history and no ``since`` on the first start (no mail stored yet).
    A server that cannot be reached is only logged: the daemon waits for it as before."""
    with factory() as session:
        first_start = session.scalar(select(Mail.id).limit(1)) is None
    # The oldest mail is read on the first start only (a restart stays as quick as before).
    imap = imap_probe(settings, oldest=first_start and settings.oldest_date() is None)
    if imap.outcome == REFUSED:
        keys = "[oauth2]" if settings.auth == "oauth2" else "[mailbox] password（BOT_MAILBOX_PASSWORD）"
        raise ConfigError(f"{keys} / [mailbox] user: IMAP のログインが拒否されました / login refused: {imap.detail}")
    if imap.outcome == TLS:
        raise ConfigError(f"IMAP: {imap.detail}")
    problem = since_problem(settings.oldest_date(), imap.oldest, cfg.office.tz, dt.datetime.now(cfg.office.tz).date())
    if imap.outcome == OK and problem:
        raise ConfigError(f"[mailbox] since: {problem[0]} → {problem[1]}")
    smtp = smtp_probe(cfg)
    if smtp.outcome == REFUSED:
        keys = "[oauth2]" if cfg.smtp.auth_mode == "oauth2" else "[smtp] password（BOT_SMTP_PASSWORD）"
        raise ConfigError(f"{keys} / [smtp] user: SMTP の認証が拒否されました / authentication refused: {smtp.detail}")
    if smtp.outcome == TLS:
        raise ConfigError(f"SMTP: {smtp.detail}")
    if smtp.outcome != OK:
        log.warning("SMTP %s:%s: %s; replies wait in the outbox until it answers", cfg.smtp.host, cfg.smtp.port,
                    smtp.detail)


def wait_for_database(url: str, stop: threading.Event, *, on_wait: Callable[[str], None], initial: float = 1.0,
                      maximum: float = 60.0) -> bool:
    """Bring the schema to head, waiting (with backoff) while the database is away: a bot started
    before its database must not exit. One log line when it starts waiting, one when the database
    is back; `on_wait` hears why it waits (the heartbeat's detail). False when stopped while
    waiting. Wrong credentials or a database that does not exist are no outage: ConfigError
    naming BOT_DATABASE_URL (exit 2)."""
    delay, since = initial, None
    while not stop.is_set():
        try:
            db.upgrade(url)
        except db.UNAVAILABLE as err:
            wrong = database_misconfigured(err)
            if wrong:
                raise ConfigError(wrong) from None
            on_wait(f"データベースに接続できません（{db.error_line(err)}）")
            if since is None:
                since = time.monotonic()
                log.warning("database unavailable at start (%s); waiting for it, retrying with backoff", db.error_line(err))
            stop.wait(delay)
            delay = min(delay * 2, maximum)
            continue
        if since is not None:
            log.info("database available after %.0f s", time.monotonic() - since)
        return True
    return False

