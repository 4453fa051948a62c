"""A scanned form is decided only on what its reader is sure of (bot/decide/scans.py,
bot/decide/termination_scans.py): a 差戻 for sure defects of the codes a scan may be sent back for,
受付 only with every needed value read sure, else held for a person with what was unsure."""

from __future__ import annotations

from collections.abc import Sequence

from bot.checks.base import Check, Defect, Facts
from bot.decide import scans, termination_scans
from bot.decide.holds import after_checks
from bot.decide.outcome import MANUAL, NEW_INSTALL, REJECTED, Decision


def hold_integrated_scan(f: Facts, verdict: scans.ScanVerdict, warnings: tuple[Defect, ...],
                          variant: str | None) -> Decision:
    """A scanned 統合申込書 ([scans] integrated = "hold"): held for a person with what the reader
    found, never sent back or accepted on its reading alone."""
    c = f.classification
    found = "、".join(d.code for d in verdict.defects)
    names = "、".join(scans.label(n) for n in dict.fromkeys((*verdict.unsure, *scans.unread_needed(f))))
    parts = [f"不備の候補 {found}" if found else "不備は見つかりませんでした",
             *([f"確実に読み取れなかった項目: {names}"] if names else [])]
    return Decision(c.kind, c.customer_code, MANUAL, defects=verdict.defects, warnings=warnings, variant=variant,
                    reason="統合申込書（スキャン）は目視で確認してください（[scans] integrated = \"hold\"）：" + "。".join(parts))


def decide_scan(f: Facts, checks: Sequence[Check], defects: tuple[Defect, ...], warnings: tuple[Defect, ...],
                 variant: str | None) -> Decision:
    c = f.classification
    form = scans.scanned_form(f)
    assert form is not None
    warnings = tuple(w for w in warnings if scans.EVIDENCE.get(w.code, ()) == ())
    if form.fields is None or form.limit:
        # The reader's own words (English, per page) stay in the stored facts (form_detail).
        why = ("読み取りが制限時間を超えました（上限 ocr_page_seconds）" if form.limit == "ocr_page_seconds"
               else "申込書のページを見つけられませんでした")
        return Decision(c.kind, c.customer_code, MANUAL, warnings=warnings, variant=variant,
                        reason=f"申込書（スキャン）を読み取れません：{why}（目視確認が必要）")
    verdict = scans.judge(f, defects, checks, reject_codes=f.settings.scan_reject_codes)
    names = "、".join(scans.label(n) for n in verdict.unsure)
    if form.form == "integrated" and not f.settings.scan_integrated_decide:
        return hold_integrated_scan(f, verdict, warnings, variant)
    if verdict.defects and not verdict.held:
        return Decision(c.kind, c.customer_code, REJECTED, defects=verdict.defects, warnings=warnings, variant=variant,
                        reason=f"スキャンの確実な読み取りのみで判定（不確実: {names}）" if names else "")
    if verdict.defects:
        return Decision(c.kind, c.customer_code, MANUAL, defects=verdict.defects, warnings=warnings, variant=variant,
                        reason=f"申込書（スキャン）の不備 {', '.join(verdict.held)} は目視で確認してください")
    unread = scans.unread_needed(f)
    if verdict.unsure or unread:
        missing = "、".join(scans.label(n) for n in dict.fromkeys((*verdict.unsure, *unread)))
        return Decision(c.kind, c.customer_code, MANUAL, warnings=warnings, variant=variant,
                        reason=f"申込書（スキャン）の次の項目を確実に読み取れませんでした: {missing}")
    if not f.settings.scan_accept:
        return Decision(c.kind, c.customer_code, MANUAL, warnings=warnings, variant=variant,
                        reason="申込書（スキャン）に不備は見つかりませんでした：受付前に目視で確認してください"
                               f"（{f.settings.scan_hold_reason}）")
    return after_checks(f, warnings, variant)


def decide_termination_scan(f: Facts, checks: Sequence[Check], defects: tuple[Defect, ...],
                             warnings: tuple[Defect, ...]) -> Decision:
    """差戻 only for defects the reader is sure of, 受付 only with 顧客CD and 解約日 read sure."""
    c = f.classification
    form = termination_scans.scanned_termination(f)
    assert form is not None
    why = termination_scans.unreadable(form)
    if why is not None:
        return Decision(c.kind, c.customer_code, MANUAL, warnings=warnings,
                        reason=f"解約申請書（スキャン）を読み取れません：{why}（目視確認が必要）")
    verdict = termination_scans.judge(f, defects, checks, reject_codes=f.settings.scan_termination_reject_codes)
    # Not read sure: what kept a defect from being decided, and what acceptance would need (a
    # 解約日 surely empty is known, not unsure: its defect says it).
    unread = [n for n in termination_scans.unread_needed(f) if n not in termination_scans.surely_empty(f)]
    names = "、".join(termination_scans.label(n) for n in dict.fromkeys((*verdict.unsure, *unread)))
    if verdict.defects and not verdict.held:
        return Decision(c.kind, c.customer_code, REJECTED, defects=verdict.defects, warnings=warnings,
                        reason=f"スキャンの確実な読み取りのみで判定（不確実: {names}）" if names else "")
    if verdict.defects:
        return Decision(c.kind, c.customer_code, MANUAL, defects=verdict.defects, warnings=warnings,
                        reason=f"解約申請書（スキャン）の不備 {', '.join(verdict.held)} は目視で確認してください")
    if names:
        return Decision(c.kind, c.customer_code, MANUAL, warnings=warnings,
                        reason=f"解約申請書（スキャン）の次の項目を確実に読み取れませんでした: {names}")
    if not f.settings.scan_termination_accept:
        return Decision(c.kind, c.customer_code, MANUAL, warnings=warnings,
                        reason="解約申請書（スキャン）に不備は見つかりませんでした：受付前に目視で確認してください"
                               "（[scans] accept = false）")
    return after_checks(f, warnings, None)


def vouched_scan(f: Facts, checks: Sequence[Check], defects: Sequence[Defect], warnings: Sequence[Defect], *,
                 variant: str | None) -> tuple[tuple[Defect, ...], str]:
    """A person accepts this scan (vouching for what the bot did not read): the warnings the
    pipeline keeps for a scan and "", or () and why it is refused (a defect stands on what the
    bot is sure of, or the form was not read at all)."""
    form = scans.scanned_form(f)
    assert form is not None
    if variant != NEW_INSTALL:
        return (), "スキャン画像の申込書を受付できるのは器材発注（新規）だけです。差戻すか、対応済みにしてください。"
    if form.fields is None or form.limit:
        return (), ("申込書（スキャン）のページを読み取れていないため受付できません。"
                    "差戻すか、従来の手順で対応して「対応済みにする」を使ってください。")
    verdict = scans.judge(f, defects, checks, reject_codes=tuple(d.code for d in defects))
    # A defect code in `unsure` is one never decided from a scan (a value read surely that a
    # check refuses, e.g. MAIL_ADDRESS_INVALID): not for a person to wave through either.
    standing = [d.code for d in verdict.defects] + [n for n in verdict.unsure if scans.EVIDENCE.get(n, ()) is None]
    if standing:
        return (), "不備があるため受付できません（" + "、".join(dict.fromkeys(standing)) + "）。差戻すか、対応済みにしてください。"
    return tuple(w for w in warnings if scans.EVIDENCE.get(w.code, ()) == ()), ""
