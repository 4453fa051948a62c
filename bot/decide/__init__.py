"""Facts → Decision. Pure: the rule chain per request kind is data, read top to bottom.

Every mail ends in exactly one decision (DESIGN.md "Decisions"):
``accepted`` (action done or queued), ``rejected`` (差戻 listing every defect),
``manual`` (held for office staff) or ``ignored`` (never answered).

    first_look.py   classify, authenticate, screen: once, before any attachment is opened
    chains.py       the chain of checks of each kind (and 器材発注's variant)
    scanned.py      a scan decided on what its reader is sure of
    holds.py        no defect, but the 管理台帳 asks for a person
    person.py       a person's 受付: the same decision with the person's vouching as input

:func:`decide` is the one decision: the daemon, ``bot process``, ``bot reprocess`` and a
person's 受付 in the console all call it.
"""

from __future__ import annotations

from bot.checks.base import Defect, Facts, run_checks
from bot.decide import scans, termination_scans
from bot.decide.chains import CHAINS, Chain, chain_for, equipment_variant
from bot.decide.first_look import FirstLook, corporate_gate, first_look, screen
from bot.decide.holds import after_checks
from bot.decide.outcome import (
    ACCEPTED,
    CHILD_UNIT,
    IGNORED,
    MANUAL,
    NEW_INSTALL,
    REJECTED,
    UNKNOWN_KIND,
    Decision,
)
from bot.decide.person import person_accepts
from bot.decide.scanned import decide_scan, decide_termination_scan
from bot.domain import classify

__all__ = [
    "ACCEPTED", "CHAINS", "CHILD_UNIT", "IGNORED", "MANUAL", "NEW_INSTALL", "REJECTED", "UNKNOWN_KIND",
    "Chain", "Decision", "FirstLook", "chain_for", "corporate_gate", "decide", "equipment_variant", "first_look",
    "run_checks", "screen",
]


def decide(f: Facts, *, by_person: bool = False) -> Decision:
    """The decision on a mail from its facts. `by_person`: a person in the console accepts it
    (bot/decide/person.py): accepted, or MANUAL with why the 受付 is refused."""
    c = f.classification
    variant, chain = chain_for(f)
    if by_person:
        return person_accepts(f, variant, chain)
    if f.settled is not None:  # the first look settled it (bot/decide/first_look.py)
        return f.settled
    # 5. What is it about?
    if c.kind is None:
        if c.names_spot or c.customer_code:
            return Decision(None, c.customer_code, REJECTED, defects=(Defect(UNKNOWN_KIND),))
        return Decision(None, None, MANUAL, reason="件名にUSEN SPOTも顧客コードもありません（自動判定の対象外）")
    if chain is None:
        return Decision(c.kind, c.customer_code, MANUAL, variant=variant,
                        reason=f"{classify.LABELS.get(c.kind, c.kind)}は自動判定の対象外です：事務センターで対応してください")
    checks, warning_checks = chain
    defects = run_checks(checks, f)
    warnings = run_checks(warning_checks, f)
    # 6. A scanned form is decided only on what its reader is sure of (bot/decide/scans.py).
    if scans.scanned_form(f) is not None:
        return decide_scan(f, checks, defects, warnings, variant)
    # A scanned 解約申請書 is decided on the same sure-only rule (bot/decide/termination_scans.py).
    if termination_scans.scanned_termination(f) is not None:
        return decide_termination_scan(f, checks, defects, warnings)
    # A PDF that opened but gave no fields (not the form, or a fillable form whose field names
    # the config does not map) must not pass unchecked, nor be blamed on the branch.
    unread = [r for r in f.forms if r.fields is None and not r.defects]
    if unread:
        return Decision(
            c.kind, c.customer_code, MANUAL, defects=defects, warnings=warnings, variant=variant,
            reason=f"申込書の項目を読み取れません（{unread[0].shape}）: {unread[0].detail}",
        )
    if defects:
        return Decision(c.kind, c.customer_code, REJECTED, defects=defects, warnings=warnings, variant=variant)
    return after_checks(f, warnings, variant)
