"""The digest as a mail: rendered from the templates (:func:`build_digest`), queued in the
outbox once per day (:func:`send_digest`), and the scheduler's morning job that catches up on
days not yet reported (:func:`digest_job`)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import db
from bot.actions.outbox import enqueue, office_message
from bot.config import Config
from bot.db.models import OutboxMessage
from bot.digest.collect import collect, first_line
from bot.digest.model import (
    OUTBOX_STATUS_LABELS,
    PURPOSE,
    Digest,
    DigestData,
    DigestError,
)
from bot.templating import Templates

log = logging.getLogger("bot.digest")


def render(data: DigestData, templates: Templates) -> tuple[str, str, str]:
    """(subject, text, html) from the digest templates (the admin's when they work)."""
    ctx = data.context()
    text = templates.render_mail("digest.txt.j2", ctx, required=("subject",))
    # One header line whatever the template did: no line breaks can reach the Subject.
    subject = " ".join(str(text.exports["subject"]).split())
    html = templates.render("digest.html.j2", {**ctx, "subject": subject})
    return subject, text.text, html


def build_digest(
    session: Session, *, cfg: Config, day: dt.date, now: dt.datetime, templates: Templates,
    last_fetch_at: dt.datetime | None = None, health: bool = False,
) -> Digest:
    """The digest for office-local `day`, rendered."""
    reported = tuple(templates.breakages)
    data = collect(session, cfg=cfg, day=day, now=now, templates=templates, last_fetch_at=last_fetch_at,
                   health=health)
    subject, text, html = render(data, templates)
    return Digest(day=day, generated_at=now, subject=subject, text=text, html=html, data=data,
                  reported_breakages=reported)


def digest_message(digest: Digest, cfg: Config) -> EmailMessage:
    """multipart/alternative (text, then HTML), UTF-8, marked as automatic."""
    msg = office_message(from_addr=cfg.smtp.from_addr, to=cfg.office.digest_to, subject=digest.subject,
                         text=digest.text, date=digest.generated_at.astimezone(cfg.office.tz))
    msg.add_alternative(digest.html, subtype="html", charset="utf-8")
    return msg


def require_recipients(cfg: Config) -> None:
    """DigestError unless [office] digest_to names someone."""
    if not cfg.office.digest_to:
        raise DigestError(
            f"{cfg.source}: [office] digest_to is empty: set the office addresses "
            "(or $BOT_OFFICE_DIGEST_TO) before sending the digest"
        )


def digest_ref(day: dt.date) -> str:
    """The outbox `ref` of the digest that covers `day`."""
    return f"{PURPOSE}:{day.isoformat()}"


def send_digest(
    factory: sessionmaker[Session], *, cfg: Config, day: dt.date, now: dt.datetime, templates: Templates,
    last_fetch_at: dt.datetime | None = None, once: bool = False, health: bool = False,
) -> int | None:
    """Build the digest of `day` and put it in the outbox in one transaction, then flush.
    Returns the outbox row id (None when `once` and that day's digest was already queued).
    A failed send stays in the outbox and is retried."""
    from bot.actions import outbox

    require_recipients(cfg)
    with factory() as session, session.begin():
        if once:
            # Several bot processes (PostgreSQL) run the same scheduled job: the lock makes the
            # check and the enqueue one step, so exactly one of them queues the day's digest.
            db.serialise(session, digest_ref(day))
            if already_sent(session, day=day):
                log.info("digest for %s already queued: not sent again", day)
                return None
        digest = build_digest(session, cfg=cfg, day=day, now=now, templates=templates, last_fetch_at=last_fetch_at,
                              health=health)
        row_id = enqueue(session, digest_message(digest, cfg), purpose=PURPOSE, now=now, ref=digest_ref(day)).id
    # Reported once; a template still broken is recorded again when next used.
    templates.forget_breakages(digest.reported_breakages)
    log.info("digest for %s queued as outbox %s to %s", day, row_id, ", ".join(cfg.office.digest_to))
    outbox.flush(factory, cfg.smtp, now=now, oauth2=cfg.oauth2)
    return row_id


def already_sent(session: Session, *, day: dt.date) -> bool:
    """The digest covering `day` is already in the outbox (sent or on its way)."""
    return session.scalar(
        select(OutboxMessage.id).where(OutboxMessage.ref == digest_ref(day)).limit(1)
    ) is not None


# A digest job that finds earlier days unreported (the daemon was down) sends them too, but
# not further back than this: a week-old digest is history, not news.
CATCH_UP_DAYS = 7


def days_to_report(session: Session, *, today: dt.date) -> list[dt.date]:
    """The days a morning digest run owes: every day since the last digested one, up to
    yesterday (weekends and holidays included: mail arrives then too, and a rejection sent on
    a Saturday must reach the office on Monday)."""
    yesterday = today - dt.timedelta(days=1)
    refs = session.scalars(
        select(OutboxMessage.ref).where(OutboxMessage.purpose == PURPOSE, OutboxMessage.ref.is_not(None))
    ).all()
    covered = [dt.date.fromisoformat(r.split(":", 1)[1]) for r in refs if r and ":" in r]
    last = max((d for d in covered if d <= yesterday), default=None)
    start = yesterday if last is None else last + dt.timedelta(days=1)
    start = max(start, yesterday - dt.timedelta(days=CATCH_UP_DAYS - 1))
    return [start + dt.timedelta(days=i) for i in range((yesterday - start).days + 1)]


def digest_job(
    factory: sessionmaker[Session], cfg: Config, templates: Templates, now_fn: Callable[[], dt.datetime],
    last_fetch_fn: Callable[[], dt.datetime | None],
) -> None:
    """Scheduler job (business-day mornings): the digest of every office day not yet reported,
    up to yesterday, so evening and weekend mail is never left out. Never raises."""
    try:
        now = now_fn()
        today = now.astimezone(cfg.office.tz).date()
        if not cfg.office.digest_to:
            log.warning("digest not sent: [office] digest_to is empty")
            return
        with factory() as session:
            days = days_to_report(session, today=today)
        for day in days:
            row_id = send_digest(factory, cfg=cfg, day=day, now=now, templates=templates,
                                 last_fetch_at=last_fetch_fn(), once=True, health=True)
            if row_id is not None:
                log.info("digest for %s: outbox %s", day, row_id)
    except Exception:  # noqa: BLE001 - a failing digest must not take the scheduler down
        log.exception("digest job failed")


def outbox_status(session: Session, row_id: int | None) -> tuple[str, str]:
    """(status label, the last error's telling line) of a queued digest, as `bot digest --send`
    reports it; ``("?", "")`` when the row is gone."""
    row = session.get(OutboxMessage, row_id) if row_id is not None else None
    if row is None:
        return "?", ""
    return OUTBOX_STATUS_LABELS.get(row.status, row.status), first_line(row.last_error)
