"""What every action of a person on a held mail (保留) shares: the refusals, the pipeline's
pieces (:class:`Tools`), the row locked while it is still held, closing it with the person's
decision, and 対応中 (a person takes the mail: others see who and since when).

Used by :mod:`bot.actions.resolve` (受付, filing) and :mod:`bot.actions.person_reject` (差戻).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import decide as deciding
from bot.checks.base import RuleSettings
from bot.config import Config
from bot.db.models import QUARANTINED, Mail
from bot.decide import Decision
from bot.domain import vocab
from bot.domain.calendar import BusinessCalendar
from bot.forms.reader import PdfReader
from bot.forms.workers import shared_pool
from bot.pipeline.gather import settings_from
from bot.templating import Templates


class ResolveError(Exception):
    """The action was refused; the message (Japanese) is what the person reads."""


class StaleError(ResolveError):
    """The mail is no longer held (someone else acted on it, or it was never held)."""


class ClaimedError(StaleError):
    """Another person has taken the mail (対応中): only they act on it, or an admin releases it."""

    def __init__(self, mail_id: int, owner: str, since: dt.datetime) -> None:
        super().__init__(f"メール #{mail_id} は {owner} さんが対応中です。")
        self.mail_id, self.owner, self.since = mail_id, owner, since


@dataclass(frozen=True)
class Tools:
    """The pieces of the pipeline's Processor an action needs (not the Processor itself:
    the console decides nothing, it only acts)."""

    cfg: Config
    settings: RuleSettings
    calendar: BusinessCalendar
    templates: Templates
    reader: PdfReader

    @classmethod
    def from_config(cls, cfg: Config, templates: Templates | None = None) -> Tools:
        settings = settings_from(cfg)
        return cls(cfg, settings, settings.calendar, templates or Templates.from_config(cfg),
                   PdfReader(cfg.pdf.password, cfg.limits, pool=shared_pool(cfg.limits)))

    @property
    def vouched_cfg(self) -> Config:
        """The config with sender authentication off: a person accepting a mail held for its
        authentication vouches for the sender, so its PDFs are read as for any other mail."""
        return self.cfg.replace(senders=dataclasses.replace(self.cfg.senders, authentication="off"))


@dataclass(frozen=True)
class Done:
    mail_id: int
    decision: str
    note: str
    outbox_id: int | None = None
    reply_to: tuple[str, ...] = ()
    typed: tuple[tuple[str, Any], ...] = ()  # a scan's values typed in: (payload key, value as stored)


class Detail(dict[str, Any]):
    """A chosen defect's detail: a key nobody recorded reads as 不明 in the sentence, rather
    than failing the 差戻 (the person sees the exact sentence before sending)."""

    def __missing__(self, key: str) -> str:
        return "不明"


# -- the row --------------------------------------------------------------------------------

def locked_held(session: Session, mail_id: int, *, quarantined_ok: bool = False, by: str | None = None) -> Mail:
    """The mail's row, locked until the transaction ends, if a person may still act on it.
    `by`: the person acting; a mail another person has taken (対応中) is refused."""
    row = session.scalar(select(Mail).where(Mail.id == mail_id).with_for_update())
    if row is None:
        raise StaleError(f"メール #{mail_id} は見つかりません。")
    if row.resolved_at is not None:
        raise StaleError(f"メール #{mail_id} は {row.resolved_by} さんが対応済みです"
                         f"（{row.resolution or ''}）。保留一覧を開き直してください。")
    if row.status == QUARANTINED and not quarantined_ok:
        raise ResolveError(f"メール #{mail_id} は隔離中です。受付・差戻はできません（対応済みにするか、管理者が再判定します）。")
    if row.status != QUARANTINED and row.decision != deciding.MANUAL:
        decided = vocab.DECISIONS.get(row.decision or "undecided", "その他")
        raise StaleError(f"メール #{mail_id} は保留中ではありません（判定：{decided}）。")
    if by is not None and row.claimed_by and row.claimed_by != by:
        raise ClaimedError(mail_id, row.claimed_by, row.claimed_at or row.received_at)
    return row


def close(row: Mail, decision: Decision, *, by: str, now: dt.datetime, resolution: str,
          facts: dict[str, Any]) -> None:
    row.kind, row.customer_code, row.decision = decision.kind, decision.customer_code, decision.decision
    row.defects = [d.as_dict() for d in decision.defects]
    row.warnings = [w.as_dict() for w in decision.warnings]
    # The bot's reason for holding stays readable next to what the person decided.
    row.facts = {**(row.facts or {}), **facts, "decided_by": by}
    row.decided_at = now
    row.resolved_at, row.resolved_by, row.resolution = now, by, resolution


# -- 対応中 (taking a held mail) -------------------------------------------------------------

@dataclass(frozen=True)
class Claim:
    mail_id: int
    owner: str | None  # None: released
    since: dt.datetime | None
    before: str | None  # who had it before (an admin's release names them)


def take(session: Session, mail_id: int, *, by: str, now: dt.datetime) -> Claim:
    """`by` takes the held mail (対応中). Taking one's own again keeps the first time; a mail
    someone else has is refused (ClaimedError): an admin releases it first."""
    row = locked_held(session, mail_id, quarantined_ok=True, by=by)
    before = row.claimed_by
    if row.claimed_by != by:
        row.claimed_by, row.claimed_at = by, now
    return Claim(mail_id, by, row.claimed_at, before)


def release(session: Session, mail_id: int, *, by: str, admin: bool) -> Claim:
    """The mail goes back to the queue unowned: by its owner, or by an admin for anyone."""
    row = locked_held(session, mail_id, quarantined_ok=True)
    before = row.claimed_by
    if before is None:
        raise StaleError(f"メール #{mail_id} は誰も対応中にしていません。")
    if before != by and not admin:
        raise ClaimedError(mail_id, before, row.claimed_at or row.received_at)
    row.claimed_by, row.claimed_at = None, None
    return Claim(mail_id, None, None, before)
