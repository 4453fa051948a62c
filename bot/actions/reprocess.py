"""``bot reprocess``: decide quarantined mails again, after a fix (a new version, a raised
limit, a repaired template).

The mail is decided from its stored bytes by the pipeline's own code, in ONE transaction
with the row locked and checked to be still quarantined: the reset and the new decision (its
reply in the outbox, its vendor rows, its ledger events) commit together or not at all. A mail
that fails again stays quarantined, with the new error; nothing half-done is left behind.
The IMAP mail then moves from the Quarantine folder into its new decision's folder (after
the commit, as the runner files; when IMAP is away the daemon's refile job moves it later).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import traceback
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import db
from bot.config import Config
from bot.db.models import DECIDED, FILED, QUARANTINED, STORED, Mail
from bot.forms.workers import ReaderFailed
from bot.pipeline.outcome import Outcome
from bot.pipeline.processor import Processor

log = logging.getLogger("bot.actions.reprocess")


@dataclass(frozen=True)
class Reprocessed:
    mail_id: int
    done: bool  # decided (False: refused, or failed again and still quarantined)
    outcome: Outcome | None = None
    message: str = ""  # Japanese: what happened, for the operator
    moved: str = ""  # where the IMAP mail went (or why not yet)


def quarantined_ids(factory: sessionmaker[Session]) -> list[int]:
    with factory() as session:
        return list(session.scalars(select(Mail.id).where(Mail.status == QUARANTINED).order_by(Mail.id)))


def reprocess(cfg: Config, processor: Processor, mail_id: int, *, now: dt.datetime, refile: bool = True,
              imap_settings: object | None = None) -> Reprocessed:
    try:
        outcome = _decide_again(processor.factory, processor, mail_id)
    except _Refused as err:
        return Reprocessed(mail_id, False, message=str(err))
    except db.UNAVAILABLE:
        raise
    except Exception as err:  # noqa: BLE001 - still failing: it stays quarantined, with the new error
        _record_failure(processor.factory, mail_id, err)
        detail = (f"{err.detail}（上限 {err.limit}）" if err.limit else err.detail) if isinstance(err, ReaderFailed) \
            else f"{type(err).__name__}: {err}"
        return Reprocessed(mail_id, False, message=f"再処理でも失敗しました（隔離のまま）: {detail}")
    moved = ""
    if refile:
        from bot.actions.resolve import refile as move

        moved = move(cfg, processor.factory, mail_id, now=now, settings=imap_settings).message
    return Reprocessed(mail_id, True, outcome, message=f"{outcome.decision}", moved=moved)


class _Refused(Exception):
    pass


def _decide_again(factory: sessionmaker[Session], processor: Processor, mail_id: int) -> Outcome:
    with db.transaction(factory) as session:
        row = session.scalar(select(Mail).where(Mail.id == mail_id).with_for_update())
        if row is None:
            raise _Refused(f"メール #{mail_id} は見つかりません")
        if row.status != QUARANTINED:
            raise _Refused(f"メール #{mail_id} は隔離されていません（状態 {row.status}、判定 {row.decision or '-'}）")
        filed = (row.filed_folder, row.filed_at)
        previous = (row.error or "").strip().splitlines()[-1:] or [""]
        row.status, row.attempts, row.error, row.decision = STORED, 0, None, None
        row.facts = {k: v for k, v in (row.facts or {}).items() if k != "reason"}
        outcome = processor.decide_row(session, row)
        row.facts = {**(row.facts or {}), "reprocessed": {"previous_error": previous[0][:300]}}
        if filed[1] is not None:
            # The IMAP mail sits in the Quarantine folder: recorded there, moved by refile().
            row.status, (row.filed_folder, row.filed_at) = FILED, filed
        else:
            row.status = DECIDED  # still in the watched folder: the runner files it
        log.info("mail %s reprocessed: %s %s", mail_id, outcome.decision, ",".join(outcome.defects))
        return dataclasses.replace(outcome, folder=outcome.folder)


def _record_failure(factory: sessionmaker[Session], mail_id: int, err: BaseException) -> None:
    with db.transaction(factory) as session:
        row = session.get(Mail, mail_id)
        if row is not None and row.status == QUARANTINED:
            row.error = "".join(traceback.format_exception(err))[-8000:]
    log.warning("mail %s: reprocessing failed again: %s: %s", mail_id, type(err).__name__, err)
