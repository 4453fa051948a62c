"""What a person adds to a scanned form (DESIGN.md "The form"; bot/vendor/forms.py).

A scan is held when its reader is not sure of something; the person looking at the page image
decides instead. Accepting it (the console's 受付) does what the pipeline does for an accepted
scan, the vendor row carrying 申込書参照 wherever the reader did not read the value, except
where the person typed the value in; until the row is sent, more values may be typed in
(the console's version of ``bot scan-values set``). A typed value is checked by the same
:func:`bot.vendor.forms.validate` as ``bot scan-values set`` and stored the same way
(:func:`bot.vendor.forms.set_row_value`: the payload, ``form_refer``, ``typed``, the ledger).

What a person's 受付 may and may not override, on a scan (:func:`vouch`):
- a defect resting on a reading the bot is not sure of: the person saw the page (that is why
  it was held); a value they typed replaces 申込書参照 for the vendor;
- never a defect the bot is sure of (a value read surely that a check refuses included):
  that is a 差戻, as it would be for a typed PDF.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import db
from bot import decide as deciding
from bot.checks.base import Facts
from bot.db.models import VendorRow
from bot.forms import FormReading
from bot.forms.vocabulary import FIELD_NAMES, SHAPE_SCANNED, FieldReading, FormFields
from bot.vendor.forms import (
    HEADERS,
    ScanValueError,
    SetResult,
    is_scan_row,
    set_row_value,
    validate,
)

# The form's inputs are named value_<payload key> (one per HEADERS key).
INPUT_PREFIX = "value_"


class ScanRefused(Exception):
    """The scan's action was refused; the message (Japanese) is what the person reads."""


class TypedValueErrors(Exception):
    """Typed values the checks refuse: payload key → why (Japanese); nothing was written."""

    def __init__(self, errors: Mapping[str, str], typed: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{HEADERS[k]}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)
        self.typed = dict(typed)  # every value as typed, the refused ones too (to show them again)


def japanese(err: ScanValueError) -> str:
    """The Japanese half of a ScanValueError ("日本語 / English")."""
    # The code in brackets (「（SSID_NOT_HALFWIDTH）」) is for the CLI's admins, not for staff.
    return re.sub(r"（[A-Z][A-Z_]{4,}）", "", str(err).split(" / ", 1)[0])


def typed_from(form: Mapping[str, str]) -> dict[str, str]:
    """The values typed in the form (``value_<key>``), each checked as ``bot scan-values set``
    checks it; blank ones are left out (they stay 申込書参照). TypedValueErrors names every
    refused one."""
    typed: dict[str, str] = {}
    errors: dict[str, str] = {}
    for key in HEADERS:
        text = " ".join((form.get(INPUT_PREFIX + key) or "").split())
        if not text:
            continue
        typed[key] = text
        try:
            validate(key, text)
        except ScanValueError as err:
            errors[key] = japanese(err)
    if errors:
        raise TypedValueErrors(errors, typed)
    return typed


# -- the reading stored with the mail ---------------------------------------------------------

def stored_reading(facts: Mapping[str, Any]) -> FormReading | None:
    """The scan reader's result as the pipeline stored it (Mail.facts: ``form``, ``form_readings``,
    ``form_unsure``), without opening the PDF; None when the mail's form was no scan."""
    if facts.get("form_shape") != SHAPE_SCANNED:
        return None
    readings = []
    for name, r in (facts.get("form_readings") or {}).items():
        if not isinstance(r, dict):
            continue
        box = r.get("box")
        readings.append(FieldReading(
            str(name), r.get("value"), str(r.get("state") or ""), float(r.get("confidence") or 0.0),
            bool(r.get("sure")), r.get("hand"),
            (int(box[0]), float(box[1]), float(box[2]), float(box[3]), float(box[4]))
            if isinstance(box, list) and len(box) == 5 else None))
    stored = facts.get("form")
    fields = (FormFields(**{k: v for k, v in stored.items() if k in FIELD_NAMES})  # type: ignore[arg-type]
              if isinstance(stored, dict) else None)
    return FormReading(shape=SHAPE_SCANNED, fields=fields, defects=(), detail=str(facts.get("form_detail") or ""),
                       encrypted=True, pages=0, readings=tuple(readings),
                       unsure=tuple(str(n) for n in facts.get("form_unsure") or ()),
                       form=str(facts.get("form_kind") or "dedicated"))  # the 統合申込書 lacks some cells


# -- accepting a scan -------------------------------------------------------------------------

def accept_refusal(f: Facts) -> str:
    """Why 受付 would be refused for this scan, from the stored reading (`f` holds it), so the
    page says so before the click; "" when it would go through. The POST decides again on the
    PDF read afresh (the same decision: :func:`bot.decide.decide`)."""
    decision = deciding.decide(f, by_person=True)
    return "" if decision.decision == deciding.ACCEPTED else decision.reason


def _rows_of(session: Session, mail_id: int) -> list[VendorRow]:
    """The mail's vendor rows of a scanned form, newest first, as the database has them now."""
    rows = session.scalars(select(VendorRow).where(VendorRow.mail_id == mail_id).order_by(VendorRow.id.desc())
                           .execution_options(populate_existing=True))
    return [r for r in rows if is_scan_row(r)]


def _set_all(session: Session, row: VendorRow, typed: Mapping[str, str], *, now: dt.datetime,
             by: str) -> list[SetResult]:
    results = []
    for key, text in typed.items():
        try:
            results.append(set_row_value(session, row, key, text, now=now, by=by))
        except ScanValueError as err:  # checked before; a change of the checks since then
            raise ScanRefused(f"{HEADERS.get(key, key)}: {japanese(err)}") from err
    return results


def apply_typed(session: Session, mail_id: int, typed: Mapping[str, str], *, now: dt.datetime,
                by: str) -> list[SetResult]:
    """The typed values into the vendor row this mail's 受付 just queued (same transaction: the
    row is not committed yet, so no batch can have taken it)."""
    if not typed:
        return []
    rows = [r for r in _rows_of(session, mail_id) if r.batch_id is None and r.cancelled_at is None]
    if not rows:
        raise ScanRefused("入力した値を記録するベンダー行（スキャン申込書）がありません。")
    return _set_all(session, rows[0], typed, now=now, by=by)


def open_row(session: Session, mail_id: int) -> VendorRow | None:
    """The mail's newest scanned-form vendor row (sent or not); None when it has none."""
    rows = _rows_of(session, mail_id)
    return rows[0] if rows else None


def type_values(session: Session, mail_id: int, typed: Mapping[str, str], *, now: dt.datetime,
                by: str) -> list[SetResult]:
    """``bot scan-values set`` for an accepted mail's row, in the caller's transaction: under the
    vendor batch's lock, refused once a batch sent the row or it was cancelled."""
    if not typed:
        raise ScanRefused("値が入力されていません。")
    db.serialise(session, "vendor-batch")  # a batch being built now finishes first; its rows stay sent
    row = open_row(session, mail_id)
    if row is None:
        raise ScanRefused(f"メール #{mail_id} にはスキャン申込書のベンダー行がありません。")
    if row.batch_id is not None:
        raise ScanRefused(f"ベンダー行は便 #{row.batch_id} で送信済みのため変更できません。変更はベンダーへ直接連絡してください。")
    if row.cancelled_at is not None:
        raise ScanRefused("ベンダー行は取消済みのため変更できません。")
    return _set_all(session, row, typed, now=now, by=by)
