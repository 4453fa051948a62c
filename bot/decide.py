"""Facts → Decision. Pure: the rule chain per request kind is data, read top to bottom.

Every mail ends in exactly one decision (DESIGN.md "Decisions"):
``accepted`` (action done or queued), ``rejected`` (差戻 listing every defect),
``manual`` (held for office staff) or ``ignored`` (never answered).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from bot import classify, scans, termination_scans
from bot.checks import (
    attachment,
    authentication,
    body_fields,
    cc_manager,
    corporate,
    customer,
    customer_code,
    integrated,
    line,
    mail_address,
    plus,
    relocation,
    router,
    sender,
    shop_name,
    ssid,
    termination,
    unis_order,
    units,
    warnings,
)
from bot.checks.authentication import Verdict
from bot.checks.base import Check, Defect, Facts, RuleSettings
from bot.classify import Classification
from bot.ledger import STATE_LABELS
from bot.mail import InboundMail

ACCEPTED = "accepted"
REJECTED = "rejected"
MANUAL = "manual"
IGNORED = "ignored"

UNKNOWN_KIND = "UNKNOWN_KIND"

# Sub-kinds of 器材発注依頼: a new install with the application form, or a child unit
# (子機) added or exchanged for an active customer, which needs no form (manual §V).
NEW_INSTALL = "new_install"
CHILD_UNIT = "child_unit"


@dataclass(frozen=True)
class Decision:
    kind: str | None
    customer_code: str | None
    decision: str
    defects: tuple[Defect, ...] = ()
    warnings: tuple[Defect, ...] = ()
    reason: str = ""  # why manual/ignored, in words for the digest and the log
    variant: str | None = None  # e.g. new_install / child_unit

    @property
    def defect_codes(self) -> list[str]:
        return [d.code for d in self.defects]

    @property
    def warning_codes(self) -> list[str]:
        return [w.code for w in self.warnings]


# The chains, one per request kind (DESIGN.md). Each entry is a pure check; all run, and all
# defects are reported together in one 差戻. Read top to bottom.
EQUIPMENT_ORDER_NEW: tuple[Check, ...] = (
    customer_code.present,  # 件名に顧客コード
    customer_code.agreement,  # 件名・本文・申込書の顧客コードが一致
    body_fields.equipment_order,  # 本文の必須行 (manual §II)
    attachment.form_required,  # 申込書PDF: 添付あり・パスワード付き・読める
    line.kind_and_type,  # 回線種別/タイプ
    mail_address.address,  # ご希望のメールアドレスとフリガナ
    ssid.half_width,  # Original SSID は半角のみ
    units.count_given,  # 複数台なら親〇台 子〇台
    plus.agreement,  # 本文 SPOT Plus該当 と申込書の Plus
    integrated.spot_selected,  # 統合申込書の「USEN SPOT」欄にチェック
    unis_order.order_exists,  # UNIS受注登録 (法人は対象外)
    cc_manager.manager_in_cc,  # CCに支店長
)
EQUIPMENT_ORDER_CHILD: tuple[Check, ...] = (  # 子機 追加/交換 (manual §V): no form
    customer_code.present,
    customer_code.agreement,
    body_fields.child_unit,  # 顧客CD, 送付支店名, 担当者名
    customer.known,  # UNIS か管理台帳にある顧客
    customer.state_allows("child_unit", "子機の追加/交換"),  # 設置済など稼働中の顧客
    units.child_count_given,  # 子機〇台
    cc_manager.manager_in_cc,
)
CONTRACT_CHANGE: tuple[Check, ...] = (
    customer_code.present,
    body_fields.contract_change,  # 変更内容
    customer.known,
    customer.state_allows("change", "契約変更"),
    cc_manager.manager_in_cc,
)
CANCELLATION: tuple[Check, ...] = (
    customer_code.present,
    customer.known,
    customer.state_allows("cancel", "キャンセル申請"),  # 設置前のみ
    cc_manager.manager_in_cc,
)
TERMINATION: tuple[Check, ...] = (
    customer_code.present,
    customer_code.agreement,  # 解約申請書の顧客CD
    attachment.form_required,  # 解約申請書PDF: 添付あり・パスワード付き・読める
    termination.date_given,  # 解約日
    customer.known,
    customer.state_allows("schedule_termination", "解約申請"),
    cc_manager.manager_in_cc,
)
ROUTER_NOT_REMOVED: tuple[Check, ...] = (
    customer_code.present,
    router.reason_given,  # 未撤去の理由
    customer.known,
    customer.state_allows("router_not_removed", "ルーター未撤去の報告"),
    cc_manager.manager_in_cc,
)
RELOCATION: tuple[Check, ...] = (
    customer_code.present,
    relocation.line_given,  # 移設先回線種別
    body_fields.relocation,  # 移設先住所
    customer.known,
    customer.state_allows("relocate", "移設依頼"),
    cc_manager.manager_in_cc,
)
TERMINATION_WITHDRAWAL: tuple[Check, ...] = (
    customer_code.present,
    customer.known,
    customer.state_allows("withdraw_termination", "解約キャンセル依頼"),
    termination.withdrawal_in_time,  # 解約日の3営業日前まで
    cc_manager.manager_in_cc,
)
CORPORATE_ORDER: tuple[Check, ...] = (  # 法人一括発注依頼 (manual §IX): no customer code in the subject
    corporate.list_usable,  # 顧客リスト (.xlsx/.csv): 添付あり・読める・必須の列
    corporate.rows_valid,  # 全行: 必須項目・台数・Enterprise・SSID半角・重複（リスト内・管理台帳）
    # no unis_order.order_exists: 法人営業案件 is registered in UNIS by 登録G afterwards (FAQ 3)
)

CHAINS: dict[str, tuple[tuple[Check, ...], tuple[Check, ...]]] = {
    NEW_INSTALL: (EQUIPMENT_ORDER_NEW, (shop_name.same_as_unis,)),
    CHILD_UNIT: (EQUIPMENT_ORDER_CHILD, ()),
    classify.CONTRACT_CHANGE: (CONTRACT_CHANGE, ()),
    classify.CANCELLATION: (CANCELLATION, (warnings.cancel_costs, warnings.router_return_due)),
    classify.TERMINATION: (TERMINATION, ()),
    classify.ROUTER_NOT_REMOVED: (ROUTER_NOT_REMOVED, ()),
    classify.RELOCATION: (RELOCATION, ()),
    classify.TERMINATION_WITHDRAWAL: (TERMINATION_WITHDRAWAL, ()),
    classify.CORPORATE_ORDER: (CORPORATE_ORDER, ()),
}

_CHILD_UNIT_RE = re.compile(r"子機.{0,20}?(追加|交換)|(追加|交換).{0,10}?子機")


def equipment_variant(f: Facts) -> str:
    """A 器材発注依頼 without a PDF whose body says 子機 追加/交換 is a child-unit order."""
    if f.mail.pdf_attachments():
        return NEW_INSTALL
    text = unicodedata.normalize("NFKC", "\n".join(f.body.lines))
    return CHILD_UNIT if _CHILD_UNIT_RE.search(text) else NEW_INSTALL


def run_checks(checks: Sequence[Check], f: Facts) -> tuple[Defect, ...]:
    found: list[Defect] = []
    for check in checks:
        for defect in check(f):
            if defect not in found:
                found.append(defect)
    return tuple(found)


def screen(mail: InboundMail, c: Classification, settings: RuleSettings, auth: Verdict | None) -> Decision | None:
    """The decisions made before any attachment is opened: outsiders and machines cost nothing,
    and a mail over the limits is held. None: go on and read the mail."""
    # 1. Never answer a machine: bounces, auto-replies, lists.
    why = sender.machine_reason(mail)
    if why:
        return Decision(c.kind, c.customer_code, IGNORED, reason=why)
    # 2. Only the company's own staff may write.
    if not sender.domain_allowed(mail.from_addr, settings.allowed_domains):
        return Decision(c.kind, c.customer_code, IGNORED, reason=f"許可ドメイン外の送信者 {mail.from_addr or '(なし)'}")
    # 3. ...and the From domain must be proven by our MTA (DESIGN.md: held, never answered).
    if auth is not None and not auth.passed:
        if settings.authentication == authentication.IGNORE:
            return Decision(c.kind, c.customer_code, IGNORED, reason=auth.reason)
        return Decision(c.kind, c.customer_code, MANUAL, reason=f"{auth.reason}（返信していません）")
    # 4. A mail over the limits (bot/limits.py) is for a person, not for a 差戻.
    if mail.limit_exceeded:
        return Decision(c.kind, c.customer_code, MANUAL,
                        reason=f"メールが処理の上限を超えています（{mail.limit_exceeded}）：目視確認が必要です")
    return None


def corporate_gate(mail: InboundMail, c: Classification, settings: RuleSettings) -> Decision | None:
    """A 法人一括発注依頼 is 法人営業's alone ([corporate] senders): from anyone else it is held for
    a person, never acted on nor answered; and it needs 登録G's address to be acted on."""
    cs = settings.corporate
    if cs is None or not cs.is_corporate_sender(mail.from_addr):
        return Decision(c.kind, None, MANUAL, reason=f"法人一括発注依頼の送信者 {mail.from_addr or '(なし)'} は法人営業"
                        "（[corporate] senders）ではありません：自動処理していません（返信していません）")
    if not cs.registration_to:
        return Decision(c.kind, None, MANUAL, reason="法人一括発注依頼：登録Gの宛先（[corporate] registration_to）が"
                        "未設定のため自動処理していません")
    return None


def decide(f: Facts) -> Decision:
    mail = f.mail
    c = f.classification
    screened = screen(mail, c, f.settings, f.auth)
    if screened is not None:
        return screened
    # 5. What is it about?
    if c.kind is None:
        if c.names_spot or c.customer_code:
            return Decision(None, c.customer_code, REJECTED, defects=(Defect(UNKNOWN_KIND),))
        return Decision(None, None, MANUAL, reason="件名にUSEN SPOTも顧客コードもありません（自動判定の対象外）")
    if c.kind == classify.CORPORATE_ORDER:
        held = corporate_gate(mail, c, f.settings)
        if held is not None:
            return held
    if c.kind == classify.EQUIPMENT_ORDER:
        variant = equipment_variant(f)
    else:
        variant = None
    chain = CHAINS.get(variant or c.kind)
    if chain is None:
        return Decision(c.kind, c.customer_code, MANUAL, reason=f"{c.kind}: 自動判定の対象外", variant=variant)
    checks, warning_checks = chain
    defects = run_checks(checks, f)
    warnings = run_checks(warning_checks, f)
    # 6. A scanned form is decided only on what its reader is sure of (bot/scans.py).
    if scans.scanned_form(f) is not None:
        return _decide_scan(f, checks, defects, warnings, variant)
    # A scanned 解約申請書 is decided on the same sure-only rule (bot/termination_scans.py).
    if termination_scans.scanned_termination(f) is not None:
        return _decide_termination_scan(f, checks, defects, warnings)
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
    return _after_checks(f, warnings, variant)


def _after_checks(f: Facts, warnings: tuple[Defect, ...], variant: str | None) -> Decision:
    """No defect: accepted, unless the ledger says a person must look (7, 8)."""
    c = f.classification
    # 7. A cancellation of an order the bot never sent (the customer is known only from UNIS, so
    # no 新規 row went to the vendor through the bot): 事務センター cancels the order with the
    # vendor itself (manual §VI キャンセル処理方法), so a person handles it; accepting it would
    # tell nobody.
    if c.kind == classify.CANCELLATION and (f.ledger is None or not f.ledger.has_order):
        return Decision(
            c.kind, c.customer_code, MANUAL, warnings=warnings, variant=variant,
            reason=(f"顧客 {f.code} の発注はシステムから送られていません（UNISのみ、またはシステム経由の発注なし）："
                    "ファイバーゲート社への発注キャンセルが必要か確認してください"),
        )
    # 8. A second new-install order for a customer the ledger already has live is not sent twice.
    if variant == NEW_INSTALL and f.ledger is not None and f.ledger.state not in ("cancelled", "terminated"):
        return Decision(
            c.kind, c.customer_code, MANUAL, warnings=warnings, variant=variant,
            reason=f"顧客 {f.code} は管理台帳で既に「{STATE_LABELS.get(f.ledger.state, f.ledger.state)}」です：二重発注の可能性",
        )
    return Decision(c.kind, c.customer_code, ACCEPTED, warnings=warnings, variant=variant)


def _hold_integrated_scan(f: Facts, verdict: scans.ScanVerdict, warnings: tuple[Defect, ...],
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


def _decide_scan(f: Facts, checks: Sequence[Check], defects: tuple[Defect, ...], warnings: tuple[Defect, ...],
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
    verdict = scans.judge(f, defects, checks, reject_codes=f.settings.scan_reject_codes, run=run_checks)
    names = "、".join(scans.label(n) for n in verdict.unsure)
    if form.form == "integrated" and not f.settings.scan_integrated_decide:
        return _hold_integrated_scan(f, verdict, warnings, variant)
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
    return _after_checks(f, warnings, variant)


def _decide_termination_scan(f: Facts, checks: Sequence[Check], defects: tuple[Defect, ...],
                             warnings: tuple[Defect, ...]) -> Decision:
    """差戻 only for defects the reader is sure of, 受付 only with 顧客CD and 解約日 read sure."""
    c = f.classification
    form = termination_scans.scanned_termination(f)
    assert form is not None
    why = termination_scans.unreadable(form)
    if why is not None:
        return Decision(c.kind, c.customer_code, MANUAL, warnings=warnings,
                        reason=f"解約申請書（スキャン）を読み取れません：{why}（目視確認が必要）")
    verdict = termination_scans.judge(f, defects, checks, reject_codes=f.settings.scan_termination_reject_codes,
                                      run=run_checks)
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
    return _after_checks(f, warnings, None)
