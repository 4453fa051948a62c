"""The daemon's upkeep jobs beside the office's own (bot/daemon/main.py schedules them):

- retention, once per office day at :data:`RETENTION_AT` (and at start when that time has
  passed and no process did today's), claimed across processes (bot/jobs/__init__.py);
- the SMTP check behind ``usen_spot_bot_smtp_up``: connect, EHLO, TLS and login as the outbox
  does, then QUIT, every :data:`SMTP_CHECK_EVERY` seconds.

Neither ever raises into the scheduler: a failure is logged (and recorded as a failed job run).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from bot import db, jobs
from bot.config import Config
from bot.intake.connect import smtp_connect
from bot.jobs import retention

log = logging.getLogger("bot.jobs.upkeep")

RETENTION_AT = dt.time(4, 10)  # office time: after the night, before the office opens
SMTP_CHECK_EVERY = 300.0


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def retention_due(cfg: Config, now: dt.datetime) -> str | None:
    """Today's period (the office date) when its time has passed, else None."""
    local = now.astimezone(cfg.office.tz)
    return local.date().isoformat() if local.time() >= RETENTION_AT else None


def run_retention(factory: sessionmaker[Session], cfg: Config, *, count: Callable[[jobs.RunResult], None],
                  now_fn: Callable[[], dt.datetime] = _utcnow) -> jobs.RunResult | None:
    """Today's retention run, once across processes; None when its time has not come."""
    period = retention_due(cfg, now_fn())
    if period is None:
        return None
    try:
        result = jobs.run_once(factory, jobs.RETENTION, period,
                               lambda: retention.run(factory, cfg.retention, now=now_fn(),
                                                     drop_dir=cfg.unis.drop_dir).note(), now_fn=now_fn)
    except db.UNAVAILABLE as err:
        log.warning("retention: database unavailable (%s); tried again at the next trigger", db.error_line(err))
        return None
    except Exception:
        log.exception("retention job failed")
        return None
    count(result)
    return result


def check_smtp(cfg: Config) -> tuple[bool, str]:
    """(reachable, why not): connect and log in as the outbox does, then QUIT."""

    async def probe() -> None:
        client = await smtp_connect(cfg.smtp, cfg.oauth2 if cfg.smtp.auth_mode == "oauth2" else None)
        try:
            await client.quit()
        except Exception:  # noqa: BLE001 - reached and logged in: a rude goodbye changes nothing
            client.close()

    try:
        asyncio.run(asyncio.wait_for(probe(), timeout=cfg.smtp.timeout + 5))
    except Exception as err:  # noqa: BLE001 - any failure is "not reachable", said in one line
        return False, f"{type(err).__name__}: {err}"
    return True, ""


class SmtpWatch:
    """Sets the smtp_up gauge; logs a change (unreachable, reachable again) once."""

    def __init__(self, cfg: Config, gauge: object) -> None:
        self.cfg, self.gauge = cfg, gauge
        self.up: bool | None = None

    def __call__(self) -> None:
        up, why = check_smtp(self.cfg)
        self.gauge.set(1 if up else 0)  # type: ignore[attr-defined]
        if up != self.up:
            if not up:
                log.warning("SMTP %s:%s not reachable: %s", self.cfg.smtp.host, self.cfg.smtp.port, why)
            elif self.up is not None:
                log.info("SMTP %s:%s reachable again", self.cfg.smtp.host, self.cfg.smtp.port)
        self.up = up
