"""The daemon loop around a mailbox: connect, handle, wait, and reconnect with backoff.
"""


from __future__ import annotations

import imaplib
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING



if TYPE_CHECKING:
    pass

log = logging.getLogger("bot.intake")

from bot.intake.settings import HandlerUnavailable, IntakeError, IntakeLoginError, MailboxSettings
from bot.intake.mailbox import Mailbox


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
            delay = backoff(failures, backoff_initial, backoff_max)
            level = logging.ERROR if isinstance(err, IntakeLoginError) else logging.WARNING
            outage = _report(outage, type(err).__name__, f"{err}", level, delay, on_state)
        except (OSError, imaplib.IMAP4.error) as err:
            delay = backoff(failures, backoff_initial, backoff_max)
            outage = _report(outage, type(err).__name__, f"IMAP {settings.host}:{settings.port} folder "
                             f"{settings.folder}: {type(err).__name__}: {err}", logging.WARNING, delay, on_state)
        except HandlerUnavailable as err:
            # The database is away (stopped, full disk): the mails wait in the folder and are
            # decided once it is back.
            delay = backoff(failures, backoff_initial, backoff_max)
            cause = type(err.__cause__).__name__ if err.__cause__ is not None else "database"
            outage = _report(outage, f"database:{cause}", str(err), logging.WARNING, delay, on_state)
        except Exception as err:
            # A bug or a failing database inside handle: keep the daemon alive, but loudly
            # (the traceback once per kind of failure).
            delay = backoff(failures, backoff_initial, backoff_max)
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


def backoff(failures: int, initial: float, maximum: float) -> float:
    """Exponential backoff with jitter: many bots restarting together do not stampede."""
    base = min(maximum, initial * (2 ** min(failures, 30)))
    return random.uniform(base / 2, base)
