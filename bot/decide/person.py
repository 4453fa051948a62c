"""A person's 受付 of a held mail, as an input to the one decision (:func:`bot.decide.decide`).

The person vouches for the sender (authentication is not asked again), for the 管理台帳's
doubts (a second order, an order the bot never sent) and for a scan's values the bot did not
read; the person never vouches for a defect the bot is sure of, nor for a mail the bot cannot
act on. Refused: MANUAL with the reason in the office's words (the console shows it).
"""

from __future__ import annotations

from bot.checks.base import Facts, run_checks
from bot.decide import scans
from bot.decide.chains import Chain
from bot.decide.outcome import ACCEPTED, MANUAL, Decision
from bot.decide.scanned import vouched_scan
from bot.domain import classify


def refused(f: Facts, reason: str, variant: str | None = None) -> Decision:
    c = f.classification
    return Decision(c.kind, c.customer_code, MANUAL, reason=reason, variant=variant)


def person_accepts(f: Facts, variant: str | None, chain: Chain | None) -> Decision:
    c = f.classification
    if f.settled is not None:
        return refused(f, f"受付できません：{f.settled.reason}")
    if c.kind is None or not c.customer_code:
        return refused(f, "件名から依頼の種類または顧客コードが分からないため受付できません。差戻すか、対応済みにしてください。")
    if chain is None:
        return refused(f, f"この種類（{classify.LABELS.get(c.kind, c.kind)}）は自動で受付できません。対応済みにしてください。",
                       variant)
    why = _unread(f)
    if why:
        return refused(f, why, variant)
    checks, warning_checks = chain
    defects = run_checks(checks, f)
    warnings = run_checks(warning_checks, f)
    if scans.scanned_form(f) is not None:
        warnings, why = vouched_scan(f, checks, defects, warnings, variant=variant)
        if why:
            return refused(f, why, variant)
    elif defects:
        return refused(f, "不備があるため受付できません（" + "、".join(d.code for d in defects)
                       + "）。差戻すか、対応済みにしてください。", variant)
    return Decision(c.kind, c.customer_code, ACCEPTED, warnings=warnings, variant=variant)


def _unread(f: Facts) -> str:
    """A value the bot did not read is never guessed: a scanned application form (the first
    PDF) is vouched for by the person; any other scan, or a form not read at all, is refused."""
    if any(r.shape == "scanned" for r in (*f.forms[1:], *f.termination_forms)):
        return ("添付がスキャン画像です（解約申請書、または2通目以降のPDF）。ここでは受付できません。"
                "差戻すか、従来の手順で対応して「対応済みにする」を使ってください。")
    if any(r.fields is None and not r.defects and r.shape != "scanned" for r in f.forms):
        return "申込書の項目を読み取れていないため受付できません。差戻すか、対応済みにしてください。"
    return ""
