"""The decide stage: one transaction per mail. The row is locked (another process deciding it is
skipped), the mail's first look and facts gathered (bot/pipeline/gather.py), the one decision taken
(:func:`bot.decide.decide`), handed to the act stage, and recorded on the row, all committed
together; nothing is sent or filed before that commit."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import db
from bot import decide as deciding
from bot.checks.base import RuleSettings
from bot.config import Config
from bot.db.models import DECIDED, STORED, Mail
from bot.decide import Decision
from bot.forms.reader import PdfReader
from bot.mail import InboundMail, parse_mail
from bot.pipeline.act import Acting
from bot.pipeline.gather import gather, look
from bot.pipeline.outcome import Outcome, facts_summary, outcome_of
from bot.pipeline.read import ReadAhead

log = logging.getLogger("bot.pipeline")


class Deciding:
    def __init__(self, cfg: Config, factory: sessionmaker[Session], settings: RuleSettings, reader: PdfReader,
                 acting: Acting, clock: Callable[[], dt.datetime]) -> None:
        self.cfg, self.factory, self.settings, self.reader = cfg, factory, settings, reader
        self.acting, self.clock = acting, clock

    def decide(self, mail_id: int, ahead: ReadAhead | None = None) -> Outcome | None:
        """Decide a stored mail and act, in one transaction; None when it is not ours to do
        (decided already, or another process holds its row). Raises what fails: the caller
        counts a reader's failure and quarantines on anything else."""
        with self.factory() as session, session.begin():
            row = session.scalar(select(Mail).where(Mail.id == mail_id).with_for_update(skip_locked=True))
            if row is None or row.status != STORED:
                return None
            return self.decide_row(session, row, ahead)

    def decide_row(self, session: Session, row: Mail, ahead: ReadAhead | None = None) -> Outcome:
        """Decide `row` (locked by the caller) and act, in the caller's transaction."""
        now = self.clock()
        if ahead is not None and ahead.failure is not None:
            raise ahead.failure  # counted against this attempt by the caller
        mail = ahead.mail if ahead is not None else parse_mail(row.raw, self.cfg.limits)
        oversize = (row.facts or {}).get("oversize")
        if oversize:
            return self._hold(row, mail, now, f"メールが大きすぎます（{oversize:,} バイト、上限 mail_bytes="
                              f"{self.cfg.limits.mail_bytes:,}）：本文と添付は取り込んでいません。IMAPの受信箱で確認してください")
        first = (ahead.first if ahead is not None else None) or look(mail, cfg=self.cfg, settings=self.settings)
        if first.customer_code:
            # One decision per customer at a time: two processes deciding mails about the same
            # customer must not both read the ledger before either moves it.
            db.serialise(session, f"customer:{first.customer_code}")
        facts = gather(mail, cfg=self.cfg, session=session, received_at=row.received_at, settings=self.settings,
                       reader=self.reader, attachments=ahead.attachments if ahead is not None else None, first=first)
        acted = self.acting.act(session, mail_id=row.id, mail=mail, facts=facts, decision=deciding.decide(facts),
                                received_at=row.received_at, now=now)
        decision = acted.decision
        row.kind = decision.kind
        row.customer_code = decision.customer_code
        row.decision = decision.decision
        row.defects = [d.as_dict() for d in decision.defects]
        row.warnings = [w.as_dict() for w in decision.warnings]
        row.facts = facts_summary(facts, decision)
        if acted.note:
            row.facts = {**row.facts, "schedule": acted.note}
        row.status = DECIDED
        row.decided_at = now
        row.error = None
        row.reading_by = row.reading_at = None  # out of hand: no death of ours is about it now
        log.info("mail %s uid %s: %s %s %s defects=%s warnings=%s %s", row.id, row.uid, decision.kind,
                 decision.customer_code, decision.decision, decision.defect_codes, decision.warning_codes,
                 decision.reason, extra={"mail_id": row.id, "uid": row.uid, "kind": decision.kind,
                                         "customer_code": decision.customer_code, "decision": decision.decision,
                                         "defects": list(decision.defect_codes)})
        return outcome_of(row, decision.reason or acted.note, acted.reply_to)

    def _hold(self, row: Mail, mail: InboundMail, now: dt.datetime, reason: str) -> Outcome:
        """Held for a person without reading the mail (its first look still decides first)."""
        first = look(mail, cfg=self.cfg, settings=self.settings)
        c = first.classification
        decision = first.settled or Decision(c.kind, c.customer_code, deciding.MANUAL, reason=reason)
        row.kind, row.customer_code, row.decision = decision.kind, decision.customer_code, decision.decision
        row.defects, row.warnings = [], []
        row.facts = {**(row.facts or {}), "reason": decision.reason}
        row.status, row.decided_at, row.error = DECIDED, now, None
        log.info("mail %s uid %s: %s (%s)", row.id, row.uid, decision.decision, decision.reason)
        return outcome_of(row, decision.reason, ())
