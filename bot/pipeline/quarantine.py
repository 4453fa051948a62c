"""A mail the bot cannot finish gets a clear outcome and never blocks the others: quarantined
with its error (a bug on it, its reader failing `reader_attempts` times, the bot dying with it
alone in hand `solo_deaths` times: bot/pipeline/claim.py), or held for a person when it left
the folder before it was decided."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from bot import decide as deciding
from bot.config.limits import Limits
from bot.db.models import FILED, STORED, Mail
from bot.pipeline import claim
from bot.pipeline.outcome import Outcome, outcome_of

log = logging.getLogger("bot.pipeline")


class Quarantining:
    def __init__(self, factory: sessionmaker[Session], owner: str, limits: Limits,
                 clock: Callable[[], dt.datetime]) -> None:
        self.factory, self.owner, self.limits, self.clock = factory, owner, limits, clock

    def quarantine(self, mail_id: int, err: BaseException | None) -> Outcome | None:
        """Quarantine the mail for `err`; without one, only a stored mail free to take whose
        solo deaths reached the limit (else None: not ours to do)."""
        with self.factory() as session, session.begin():
            if err is None:
                row, err = claim.over_the_limit(session, mail_id, self.owner, self.limits.solo_deaths)
            else:
                row = session.get(Mail, mail_id)
            if row is None or err is None:
                return None
            claim.quarantine(row, err, self.limits, self.clock())
            return outcome_of(row, f"quarantined: {type(err).__name__}: {err}", ())

    def hold_vanished(self, mail_id: int) -> None:
        """A stored mail left the folder before it was decided: hold it for a person."""
        with self.factory() as session, session.begin():
            row = session.get(Mail, mail_id)
            if row is None or row.status != STORED:
                return
            row.status, row.decision, row.decided_at = FILED, deciding.MANUAL, self.clock()
            row.facts = {**(row.facts or {}), "reason": "判定前にメールがフォルダから移動または削除されました（内容は保存済み）"}
            log.warning("mail %s left %s before it was decided: held for a person", mail_id, row.folder)
