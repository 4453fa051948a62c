"""隔離 (admins only): the mails the pipeline gave up on (a limit reached, an unexpected error),
with why; and 再処理: :func:`bot.actions.reprocess.reprocess`, the action ``bot reprocess``
runs (after a fix: a new version, a raised limit, a repaired template).

It decides the mail from its stored bytes with the pipeline's own :class:`bot.pipeline.processor.Processor`
in one transaction (the row locked and still quarantined), then moves the IMAP mail from
Quarantine into its new folder. The audit row is written inside that same transaction (the
processor's ``decide_row`` is the step reprocess runs in it), so a decision without its audit
row cannot happen; a mail that fails again stays quarantined with the new error, and that
attempt is audited afterwards. The page then shows what the mail became, read back from its
row and its audit entry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import RedirectResponse, Response

from bot.actions.reprocess import reprocess
from bot.config import Config
from bot.db.models import QUARANTINED, Mail
from bot.pipeline.outcome import Outcome
from bot.pipeline.processor import Processor
from bot.templating import Templates
from bot.web import audit
from bot.web.ops_queries import quarantined, reprocess_result
from bot.web.pages import Page, client_ip, page
from bot.web.queries import DECISIONS, decision_key
from bot.web.views.status import forget_health


class AuditedProcessor(Processor):
    """The pipeline's Processor; a redo of a quarantined mail also writes its audit row in the
    decision's own transaction (``reprocess`` calls :meth:`decide_row` inside it)."""

    def __init__(self, cfg: Config, factory: sessionmaker[Session], templates: Templates, *,
                 clock: Callable[[], dt.datetime], who: dict[str, Any]) -> None:
        super().__init__(cfg, factory, templates, clock=clock)
        self.who = who  # audit.record's who/where

    def decide_row(self, session: Session, row: Mail) -> Outcome:
        outcome = super().decide_row(session, row)
        audit.record(session, action=audit.MAIL_REPROCESS, at=self.clock(), mail_id=row.id, **self.who,
                     detail={"done": True, "decision": outcome.decision, "defects": list(outcome.defects),
                             "kind": outcome.kind, "customer_code": outcome.customer_code})
        return outcome


@page(admin=True)
def quarantine_list(p: Page) -> Response:
    return _show(p)


def _show(p: Page, *, refused: str = "", status: int = 200) -> Response:
    lines, total = quarantined(p.db, cfg=p.cfg, directory=p.directory)
    result = None
    try:
        done_id = int(p.request.query_params.get("done", ""))
    except ValueError:
        done_id = 0
    if done_id:
        result = reprocess_result(p.db, done_id, tz=p.cfg.office.tz)
    return p.render("quarantine.html", title="隔離", lines=lines, total=total, result=result, refused=refused,
                    status=status)


@page(admin=True)
def reprocess_mail(p: Page) -> Response:
    assert p.user is not None
    mail_id = int(p.request.path_params["mail_id"])
    row = p.db.get(Mail, mail_id)
    # A quick look first (reprocess checks again under the row's lock): a stale page or a
    # second click must not cost a PDF reading.
    if row is None:
        return _show(p, refused=f"メール #{mail_id} は見つかりません。", status=404)
    if row.status != QUARANTINED or row.resolved_at is not None:
        return _show(p, refused=f"メール #{mail_id} はもう隔離されていません（{_state(row)}）。", status=409)
    who = {"username": p.user.username, "user_id": p.user.id, "ip": client_ip(p.request)}
    cfg = p.cfg
    # Made per click (a rare action): the rule settings and templates as the daemon has them now.
    processor = AuditedProcessor(cfg, p.console.write, Templates.from_config(cfg), clock=p.console.clock, who=who)
    result = reprocess(cfg, processor, mail_id, now=p.now, imap_settings=None)
    if not result.done:
        # Refused (nothing changed), or failed again (still quarantined, the new error kept).
        with p.console.transaction() as w:
            audit.record(w, action=audit.MAIL_REPROCESS, at=p.now, mail_id=mail_id, **who,
                         detail={"done": False, "message": result.message})
    forget_health(p)
    return RedirectResponse(f"/quarantine?done={mail_id}#result", status_code=303)


def _state(row: Mail) -> str:
    if row.resolved_at is not None:
        return f"{row.resolved_by or ''} さんが対応済み"
    return f"判定 {DECISIONS.get(decision_key(row), (row.decision or '', ''))[0]}"
