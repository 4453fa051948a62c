"""Shadow figures (issue 19 point 6): a held scan a person finished, beside what the bot had
read and would have decided. ``bot scans report`` and the console's 状態 page count them
(:mod:`bot.actions.scan_report`), so the office decides from its own mail when to let the bot decide more.

When a person finishes a held scan (受付 with or without typed values, 差戻, 対応済み), one
:class:`~bot.db.models.ScanShadow` row is written in the transaction of their action:
- the bot's side comes from what the pipeline stored with the mail when it held it
  (``Mail.facts``: ``form_readings``, ``form_unsure``, ``form_kind``; ``termination_readings`` for a
  解約申請書), never from the PDF read again: per field the value, its state and the reader's
  sure flag; and the decision :func:`bot.decide.decide` gives on those readings with scans
  allowed to decide (``[scans] accept`` on, every form defect a scan may rest on in
  ``reject_codes``, the 統合申込書 decided), with the UNIS lines and ledger of the moment the
  person finishes (taken before their action changes the ledger);
- the person's side: the outcome, the defect codes of their 差戻, and per field the final value:
  typed in (at 受付, or later until the vendor row is sent: :func:`note_typed`), else on 受付 the
  bot's sure value that the person let through to the vendor (``kept``).

Once per mail (unique ``mail_id``, looked up under the mail's row lock): a finish retried after
a crash finds the mail resolved (or the row written) and counts nothing again. A failure to
work out the bot's side is logged and costs only the figure: a person's action never fails for it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from bot import decide as deciding
from bot.actions import queue as manual
from bot.actions.scan_report import (
    ACCEPT,
    ACCEPTED,
    DONE,
    HOLD,
    REJECT,
    REJECTED,
    stands,
)
from bot.actions.scan_values import stored_reading
from bot.actions.vendor_queue import LINE_KIND_LABELS, LINE_TYPE_LABELS
from bot.checks.base import RuleSettings
from bot.config import Config
from bot.db.models import Mail, ScanShadow, VendorRow
from bot.decide import scans
from bot.forms import FormReading, TerminationReading
from bot.forms.vocabulary import SHAPE_SCANNED, STATE_READ, FieldReading
from bot.mail import parse_mail
from bot.pipeline.gather import Attachments, gather
from bot.vendor.forms import SetResult

log = logging.getLogger("bot.actions.scan_shadow")

TERMINATION = "termination"  # ScanShadow.form_kind beside the application form's dedicated / integrated
# Scans allowed to decide: every form defect a scan may be sent back for (bot/decide/scans.py EVIDENCE);
# for a scanned 解約申請書, those of bot/decide/termination_scans.py (issue 19 point 5).
SHADOW_REJECT_CODES = tuple(code for code, evidence in scans.EVIDENCE.items() if evidence is not None)
SHADOW_TERMINATION_REJECT_CODES = ("CUSTOMER_CODE_MISMATCH", "TERMINATION_DATE_MISSING")
# A value typed in (vendor payload key, bot/vendor/forms.py) → the reading it stands for.
TYPED_FIELDS = {"mail_address": "mail_local"}
_CHOICE_IDS = {label: key for key, label in {**LINE_KIND_LABELS, **LINE_TYPE_LABELS}.items()}


@dataclass(frozen=True)
class Seen:
    """The bot's side of one held scan: what it had read, and what it would have decided."""

    mail_id: int
    form_kind: str  # dedicated | integrated | termination
    bot_decision: str  # accept | reject | hold
    bot_defects: tuple[str, ...]
    fields: Mapping[str, Mapping[str, Any]]  # field → {"value", "state", "sure"}


# -- the bot's side -------------------------------------------------------------------------

def allowed(settings: RuleSettings) -> RuleSettings:
    """The rule settings with scans allowed to decide everything a scan may decide."""
    changes: dict[str, Any] = {
        "scan_accept": True, "scan_reject_codes": SHADOW_REJECT_CODES, "scan_integrated_decide": True,
        "scan_termination_accept": True, "scan_termination_reject_codes": SHADOW_TERMINATION_REJECT_CODES}
    # Only the settings this version has (the 解約申請書's came with issue 19 point 5).
    known = {f.name for f in dataclasses.fields(settings)}
    return dataclasses.replace(settings, **{k: v for k, v in changes.items() if k in known})


def _readings(stored: Any, unsure: Any) -> dict[str, dict[str, Any]]:
    """Per field (options such as ``line_kind.b_flets`` left out): value, state, and sure (the
    reader's flag, false for a field it named unsure)."""
    doubtful = set(unsure or ())
    return {str(name): {"value": r.get("value"), "state": str(r.get("state") or ""),
                        "sure": bool(r.get("sure")) and name not in doubtful}
            for name, r in (stored or {}).items() if "." not in str(name) and isinstance(r, dict)}


def _stored_form(facts: Mapping[str, Any]) -> FormReading | None:
    form = stored_reading(facts)
    if form is None:
        return None
    spot = form.reading("spot_selected")
    known = spot is not None and spot.sure and spot.state == STATE_READ and "spot_selected" not in form.unsure
    return dataclasses.replace(form, form=str(facts.get("form_kind") or "dedicated"),
                               spot_selected=(spot.value == "true") if known and spot is not None else None)


def _stored_termination(facts: Mapping[str, Any]) -> TerminationReading | None:
    """The scanned 解約申請書's reading as the pipeline stored it (``termination_readings``)."""
    if facts.get("termination_shape") != SHAPE_SCANNED:
        return None
    unsure = tuple(str(n) for n in facts.get("termination_unsure") or ())
    readings = tuple(FieldReading(str(name), r.get("value"), str(r.get("state") or ""),
                                  float(r.get("confidence") or 0.0), bool(r.get("sure")))
                     for name, r in (facts.get("termination_readings") or {}).items() if isinstance(r, dict))
    sure = {r.name: str(r.value) for r in readings
            if r.sure and r.state == STATE_READ and r.value and r.name not in unsure}
    day = sure.get("termination_date")
    return TerminationReading(shape=SHAPE_SCANNED, customer_code=sure.get("customer_code"),
                              termination_date=dt.date.fromisoformat(day) if day else None, defects=(), detail="",
                              encrypted=True, readings=readings, unsure=unsure)


def observe(session: Session, row: Mail, *, cfg: Config, settings: RuleSettings) -> Seen | None:
    """The bot's side of this held mail; None when its form was no scan (or it cannot be told)."""
    facts = dict(row.facts or {})
    if facts.get("form_shape") != SHAPE_SCANNED and facts.get("termination_shape") != SHAPE_SCANNED:
        return None
    try:
        form, termination = _stored_form(facts), _stored_termination(facts)
        if form is not None:
            kind, fields = form.form, _readings(facts.get("form_readings"), facts.get("form_unsure"))
        else:
            kind, fields = TERMINATION, _readings(facts.get("termination_readings"), facts.get("termination_unsure"))
        mail = parse_mail(row.raw, cfg.limits)
        attachments = Attachments(forms=(form,) if form else (), terminations=(termination,) if termination else ())
        f = gather(mail, cfg=cfg, session=session, received_at=row.received_at, settings=allowed(settings),
                   attachments=attachments)
        decision = deciding.decide(f)
    except Exception:  # noqa: BLE001 - a figure is never worth a person's action
        log.warning("mail %s: the bot's would-be decision could not be worked out; not counted", row.id, exc_info=True)
        return None
    would = {deciding.ACCEPTED: ACCEPT, deciding.REJECTED: REJECT}.get(decision.decision, HOLD)
    return Seen(row.id, kind, would, tuple(decision.defect_codes) if would == REJECT else (), fields)


# -- the person's side ----------------------------------------------------------------------

def _typed(fields: dict[str, dict[str, Any]], typed: Mapping[str, Any]) -> None:
    """Values typed in (payload key → the value as stored for the vendor) as the person's."""
    for key, value in typed.items():
        name = TYPED_FIELDS.get(key, key)
        if key == "mail_address":
            value = str(value).split("@", 1)[0]
        elif isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, str):
            value = _CHOICE_IDS.get(value, value)
        entry = fields.setdefault(name, {"value": None, "state": "", "sure": False})  # a cell the bot never read
        entry["person"], entry["source"] = value, "typed"


def record(session: Session, seen: Seen | None, *, outcome: str, by: str, now: dt.datetime,
           typed: Mapping[str, Any] | None = None, person_defects: Sequence[str] = ()) -> ScanShadow | None:
    """The finished scan's row, once: a second finish of the same mail leaves the first row."""
    if seen is None:
        return None
    existing = session.scalar(select(ScanShadow).where(ScanShadow.mail_id == seen.mail_id))
    if existing is not None:
        log.info("mail %s: shadow figures already recorded (%s); not counted again", seen.mail_id, existing.outcome)
        return existing
    fields: dict[str, dict[str, Any]] = {}
    for name, bot in seen.fields.items():
        kept = outcome == ACCEPTED and stands(bot)
        fields[name] = {**bot, "person": bot["value"] if kept else None, "source": "kept" if kept else None}
    _typed(fields, typed or {})
    shadow = ScanShadow(mail_id=seen.mail_id, form_kind=seen.form_kind, finished_at=now, finished_by=by,
                        outcome=outcome, bot_decision=seen.bot_decision, bot_defects=list(seen.bot_defects),
                        person_defects=list(dict.fromkeys(person_defects)) if outcome == REJECTED else [],
                        fields=fields)
    session.add(shadow)
    session.flush()
    log.info("mail %s: shadow figures: person %s, bot would %s", seen.mail_id, outcome, seen.bot_decision)
    return shadow


def note_typed(session: Session, results: Sequence[SetResult]) -> None:
    """Values typed into an accepted scan's vendor row after 受付 (the console, ``bot scan-values
    set``): the person's final values of its shadow row, in the caller's transaction."""
    by_mail: dict[int, dict[str, Any]] = {}
    for result in results:
        row = session.get(VendorRow, result.row_id)
        if row is not None and row.mail_id is not None:
            by_mail.setdefault(row.mail_id, {})[result.key] = result.after
    for mail_id, typed in by_mail.items():
        shadow = session.scalar(select(ScanShadow).where(ScanShadow.mail_id == mail_id))
        if shadow is None:
            continue
        fields = {name: dict(entry) for name, entry in (shadow.fields or {}).items()}
        _typed(fields, typed)
        shadow.fields = fields
        flag_modified(shadow, "fields")


def dismiss(session: Session, mail_id: int, *, cfg: Config, settings: RuleSettings, by: str, note: str,
            now: dt.datetime) -> Mail:
    """対応済み (:func:`bot.actions.queue.resolve`) and, for a scan, its shadow row, in the caller's
    transaction (the console's and ``bot manual resolve``'s)."""
    row = manual.resolve(session, mail_id, by=by, note=note, now=now)
    record(session, observe(session, row, cfg=cfg, settings=settings), outcome=DONE, by=by, now=now)
    return row
