"""How a scanned 解約申請書 is decided: only on what its reader is sure of (DESIGN.md "Decisions").

The rule of a scanned application form (:mod:`bot.decide.scans`), for the termination form's two
readings, 顧客CD and 解約日 (:mod:`bot.forms.scan_text`):
- a defect that rests on the form stands only when every reading it rests on is SURE (a code or
  a date read from print, a 解約日 cell surely empty), or, for a code mismatch, when it stands
  without the form too (the subject and the body disagree); and only codes in
  ``[scans] termination_reject_codes`` may send a scan back;
- the scan is accepted only when ``[scans] accept`` is on and both readings the action needs
  were read sure (the 解約日 the vendor and the ledger get is the one on the form);
- anything else is held for a person, naming the readings that were not sure.
A misreading must never reach a branch: handwriting is never read sure. Pure: facts and defects
in, a verdict out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from bot.checks.base import (
    SCAN_TERMINATION_REJECT_CODES,
    Check,
    Defect,
    Facts,
    run_checks,
)
from bot.decide.scans import ScanVerdict, label  # noqa: F401 - label: the office's words, as for a 申込書
from bot.forms import TerminationReading

# The readings each form defect rests on (the names of FieldReading on the termination scan).
EVIDENCE: dict[str, tuple[str, ...]] = {
    "CUSTOMER_CODE_MISMATCH": ("customer_code",),
    "TERMINATION_DATE_MISSING": ("termination_date",),
}
# A mismatch cannot be undone by the form: standing without it (subject vs body), it is sure.
_STANDS_WITHOUT_FORM = frozenset({"CUSTOMER_CODE_MISMATCH"})
# What must be read sure (a value, not merely "empty") before a scan can be accepted.
NEEDED = ("customer_code", "termination_date")
DEFAULT_REJECT_CODES = SCAN_TERMINATION_REJECT_CODES
_KNOWN = frozenset({"read", "empty"})


def scanned_termination(f: Facts) -> TerminationReading | None:
    """The mail's scanned 解約申請書 (the first, if a branch attached several)."""
    return next((r for r in f.termination_forms if r.shape == "scanned"), None)


def _known(form: TerminationReading, name: str, states: frozenset[str]) -> bool:
    reading = next((r for r in form.readings if r.name == name), None)
    return reading is not None and reading.sure and reading.state in states and name not in form.unsure


def unreadable(form: TerminationReading) -> str | None:
    """Why the scan gave nothing to decide on (in Japanese), or None."""
    if form.limit == "ocr_page_seconds":
        return "読み取りが制限時間を超えました（上限 ocr_page_seconds）"
    if not form.readings:
        return "顧客CD・解約日の欄を見つけられませんでした"
    return None


def judge(f: Facts, defects: Sequence[Defect], chain: Sequence[Check], *,
          reject_codes: Sequence[str] = DEFAULT_REJECT_CODES) -> ScanVerdict:
    """Split a termination scan's defects into sure ones and ones that rest on unsure readings."""
    form = scanned_termination(f)
    assert form is not None
    without_form: set[str] | None = None
    sure: list[Defect] = []
    unsure: list[str] = []
    held: list[str] = []  # sure from the form's readings, but not a code a scan is sent back for
    for defect in defects:
        evidence = EVIDENCE.get(defect.code, ())
        if not evidence:
            sure.append(defect)  # not about the form (subject, body, PDF, UNIS, ledger, CC)
            continue
        if defect.code in _STANDS_WITHOUT_FORM:
            if without_form is None:
                without_form = {d.code for d in run_checks(chain, dataclasses.replace(f, termination_forms=()))}
            if defect.code in without_form:
                sure.append(defect)
                continue
        missing = [n for n in evidence if not _known(form, n, _KNOWN)]
        if missing:
            unsure.extend(missing)
            continue
        sure.append(defect)
        if defect.code not in reject_codes:
            held.append(defect.code)
    return ScanVerdict(tuple(sure), tuple(dict.fromkeys(unsure)), tuple(held))


def unread_needed(f: Facts) -> tuple[str, ...]:
    """The readings acceptance needs that were not read sure."""
    form = scanned_termination(f)
    assert form is not None
    return tuple(n for n in NEEDED if not _known(form, n, frozenset({"read"})))


def surely_empty(f: Facts) -> frozenset[str]:
    """The readings the reader is sure were left blank."""
    form = scanned_termination(f)
    assert form is not None
    return frozenset(n for n in NEEDED if _known(form, n, frozenset({"empty"})))
