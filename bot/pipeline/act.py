"""The act stage: what a decision does, inside the decision's transaction (nothing is sent or
filed before its commit): a 差戻 goes into the outbox, capped per sender per hour (over the cap
the mail is held instead); an accepted request moves the 管理台帳 and queues vendor rows."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from bot import db
from bot import decide as deciding
from bot.actions.reply import build_reply, queue_reply, reply_recipient
from bot.actions.requests import act
from bot.checks.base import Facts, RuleSettings
from bot.checks.cc_manager import find_branch
from bot.config import Config
from bot.db.models import ReplyCount
from bot.decide import Decision
from bot.domain.calendar import BusinessCalendar
from bot.mail import InboundMail
from bot.templating import Templates


@dataclass(frozen=True)
class Acted:
    decision: Decision  # as decided, or held when the reply cap was reached
    note: str = ""  # what an accepted request scheduled
    reply_to: tuple[str, ...] = ()  # the 差戻's recipients


class Acting:
    def __init__(self, cfg: Config, settings: RuleSettings, templates: Templates, calendar: BusinessCalendar) -> None:
        self.cfg, self.settings, self.templates, self.calendar = cfg, settings, templates, calendar

    def act(self, session: Session, *, mail_id: int, mail: InboundMail, facts: Facts, decision: Decision,
            received_at: dt.datetime, now: dt.datetime) -> Acted:
        if decision.decision == deciding.REJECTED and not self.reply_allowed(session, mail, now):
            held = Decision(decision.kind, decision.customer_code, deciding.MANUAL, decision.defects, decision.warnings,
                            reason=f"返信上限（{self.cfg.senders.max_replies_per_hour}通/時）に達したため "
                            f"{reply_recipient(mail, self.cfg.senders.allowed_domains)} へ返信していません",
                            variant=decision.variant)
            return Acted(held)
        if decision.decision == deciding.REJECTED:
            # DESIGN.md: a 差戻 goes to the sender, CC the branch manager (when the directory knows them).
            branch = find_branch(facts, self.settings.branches)
            msg = build_reply(
                mail, decision, templates=self.templates, from_addr=self.cfg.smtp.from_addr,
                own_addresses=(self.cfg.mailbox.user,), received_at=received_at, tz=self.cfg.office.tz, now=now,
                extra_cc=(branch.manager,) if branch is not None and branch.manager else (),
                allowed_domains=self.cfg.senders.allowed_domains, max_recipients=self.cfg.senders.max_reply_recipients,
            )
            out = queue_reply(session, msg, mail_id=mail_id, now=now)
            return Acted(decision, reply_to=tuple(out.rcpt_to))
        if decision.decision == deciding.ACCEPTED:
            return Acted(decision, note=act(session, facts, decision, mail_id=mail_id, calendar=self.calendar, now=now))
        return Acted(decision)

    def reply_allowed(self, session: Session, mail: InboundMail, now: dt.datetime) -> bool:
        """Cap replies per sender per hour: a misbehaving sender can never make the bot flood."""
        address = (reply_recipient(mail, self.cfg.senders.allowed_domains) or "").lower()
        hour = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
        cap = self.cfg.senders.max_replies_per_hour
        if cap <= 0:
            return False
        # One statement, without a race: the hour's first reply creates the row, the next ones
        # count up while under the cap (two processes answering the same sender in the same hour
        # neither fail on the unique key nor both take the last reply). No row back: capped.
        counted = db.dialect_insert(session, ReplyCount).values(address=address, hour=hour, count=1)
        counted = counted.on_conflict_do_update(
            index_elements=[ReplyCount.address, ReplyCount.hour], set_={"count": ReplyCount.count + 1},
            where=ReplyCount.count < cap,
        ).returning(ReplyCount.count)
        return session.execute(counted).scalar() is not None
