"""状態 (every signed-in user): is the bot healthy, and what waits. Read through
:func:`bot.daemon.health.collect`, the same function as ``bot status`` (and /healthz): the page says
正常 / 異常 with the same reasons, in the same words.

The header of every page shows a red 「異常」 badge linking here when the bot is unhealthy.
That badge must not make every page pay for ``collect`` (about ten queries, one of them over
today's mails), so it reads a :class:`HealthBadge`: the last verdict, reused for
:data:`BADGE_SECONDS`; this page always reads afresh and refreshes it. So a page costs no
query at all for the badge, and the whole app at most one ``collect`` per interval.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import Response

from bot.actions.scan_report import (
    BOT_LABELS,
    FORM_KINDS,
    FORM_LABELS,
    OUTCOME_LABELS,
    OUTCOMES,
    report,
)
from bot.checks.base import Defect
from bot.daemon.health import Health, collect
from bot.domain import vocab
from bot.web.pages import Page, page
from bot.web.queries import DECISIONS, KINDS

JOBS = ("vendor-batch", "digest")  # the jobs `bot status` reports (bot/commands/status.py)
JOB_LABELS = vocab.JOBS
_JOB_CLASSES = {"done": "ok", "failed": "bad", "running": "hold", "skipped": "muted"}
JOB_STATUS: dict[str | None, tuple[str, str]] = {
    **{k: (label, _JOB_CLASSES[k]) for k, label in vocab.JOB_STATUSES.items()}, None: ("未実行", "muted")}
PROCESS_STATES = vocab.PROCESS_STATES
BADGE_SECONDS = 30.0


def forget_health(p: Page) -> None:
    badge = getattr(p.request.app.state, "health_badge", None)
    if badge is not None:
        badge.forget()


def read_health(session: Session, *, now: dt.datetime, tz: dt.tzinfo) -> Health:
    return collect(session, now=now, tz=tz, jobs=JOBS)


class HealthBadge:
    """The header's verdict: (healthy, problems), at most BADGE_SECONDS old. Any failure to
    read is no badge (a page must never fail for its header)."""

    def __init__(self, read: sessionmaker[Session], clock: Callable[[], dt.datetime], tz: dt.tzinfo) -> None:
        self._read, self._clock, self._tz = read, clock, tz
        self._lock = threading.Lock()
        self._value: tuple[bool, tuple[str, ...]] | None = None
        self._at = -BADGE_SECONDS - 1.0

    def put(self, health: Health) -> tuple[bool, tuple[str, ...]]:
        value = (health.healthy, tuple(for_people(x) for x in health.problems))
        with self._lock:
            self._value, self._at = value, time.monotonic()
        return value

    def forget(self) -> None:
        """After an action that may change the verdict (再送, 再処理): read afresh next time."""
        with self._lock:
            self._value = None

    def __call__(self) -> tuple[bool, tuple[str, ...]]:
        with self._lock:
            if self._value is not None and time.monotonic() - self._at < BADGE_SECONDS:
                return self._value
        try:
            with self._read() as session:
                health = read_health(session, now=self._clock(), tz=self._tz)
        except Exception:  # noqa: BLE001 - the header shows nothing rather than break the page
            return True, ()
        return self.put(health)


_COMMAND_HINT = re.compile(r"（`bot [^`]+`）$")
_JOB_IN_SENTENCE = re.compile(r"ジョブ ([a-z-]+)（")


def for_people(sentence: str) -> str:
    """`bot status`'s sentence in the office's words: without its trailing command hint
    (（`bot outbox list`）: here the tiles below link to the page that does it), a job by its
    name (日次レポート, not digest), no command or English left (bot/domain/vocab.py)."""
    sentence = _COMMAND_HINT.sub("", sentence)
    sentence = _JOB_IN_SENTENCE.sub(lambda m: f"ジョブ「{vocab.JOBS.get(m.group(1), 'その他')}」（", sentence)
    head, sep, tail = sentence.partition(": ")
    return vocab.plain(head) + (f"：{vocab.technical(tail)}" if sep else "")


def ago(moment: dt.datetime | None, now: dt.datetime) -> str:
    """`bot status`'s wording: 45 秒前 / 12 分前 / 3 時間前."""
    if moment is None:
        return ""
    seconds = max(0, int((now - moment).total_seconds()))
    return f"{seconds} 秒前" if seconds < 120 else f"{seconds // 60} 分前" if seconds < 7200 else f"{seconds // 3600} 時間前"


@dataclass(frozen=True)
class JobLine:
    job: str
    label: str
    period: str
    status: str
    status_class: str
    finished: str
    detail: str
    next_run: str


def _jobs(h: Health, when: Callable[[dt.datetime | None], str]) -> list[JobLine]:
    lines = []
    for j in h.jobs:
        label, css = JOB_STATUS.get(j.last_status, ("不明", "muted"))
        nxt = when(dt.datetime.fromisoformat(j.next_run)) if j.next_run else ""
        lines.append(JobLine(j.job, JOB_LABELS.get(j.job, "その他のジョブ"), j.last_period or "", label, css,
                             when(j.last_finished_at), vocab.technical(j.detail) if j.detail else "", nxt))
    return lines


class _Unspecified(dict[str, str]):
    """A defect's detail on the shadow figures: its sentence without the specifics of one mail."""

    def __missing__(self, key: str) -> str:
        return "…"


def field_label(name: str) -> str:
    """A field as staff read it, without its English name."""
    return vocab.field_name(name)


def shadow(p: Page) -> dict[str, object]:
    """The shadow figures (issue 19 point 6), as ``bot scans report`` counts them."""
    found = report(p.db, tz=p.cfg.office.tz)
    return {"r": found, "field_label": field_label, "bot_labels": BOT_LABELS, "outcome_labels": OUTCOME_LABELS,
            "outcomes": OUTCOMES, "form_kinds": FORM_KINDS, "form_labels": FORM_LABELS,
            "defects": [(Defect(d.code, _Unspecified()), d) for d in found.defects]}


@page()
def status(p: Page) -> Response:
    tz = p.cfg.office.tz
    health = read_health(p.db, now=p.now, tz=tz)
    badge = getattr(p.request.app.state, "health_badge", None)
    if badge is not None:
        badge.put(health)

    def when(moment: dt.datetime | None) -> str:
        return moment.astimezone(tz).strftime("%Y/%m/%d %H:%M:%S") if moment is not None else ""

    decisions = [(KINDS.get(kind, kind), [(DECISIONS.get(d, (d, "muted")), n) for d, n in sorted(counts.items())])
                 for kind, counts in sorted(health.decisions_today.items())]
    return p.render("status.html", title="状態", h=health, when=when, ago=lambda m: ago(m, health.now),
                    problems=[for_people(x) for x in health.problems], notices=[for_people(x) for x in health.notices],
                    jobs=_jobs(health, when), decisions=decisions, states=PROCESS_STATES, shadow=shadow(p))
