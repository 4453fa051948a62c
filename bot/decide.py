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

from bot import classify
from bot.checks import (
    attachment,
    body_fields,
    cc_manager,
    customer,
    customer_code,
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
from bot.checks.base import Check, Defect, Facts
from bot.ledger import STATE_LABELS

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

CHAINS: dict[str, tuple[tuple[Check, ...], tuple[Check, ...]]] = {
    NEW_INSTALL: (EQUIPMENT_ORDER_NEW, (shop_name.same_as_unis,)),
    CHILD_UNIT: (EQUIPMENT_ORDER_CHILD, ()),
    classify.CONTRACT_CHANGE: (CONTRACT_CHANGE, ()),
    classify.CANCELLATION: (CANCELLATION, (warnings.cancel_costs, warnings.router_return_due)),
    classify.TERMINATION: (TERMINATION, ()),
    classify.ROUTER_NOT_REMOVED: (ROUTER_NOT_REMOVED, ()),
    classify.RELOCATION: (RELOCATION, ()),
    classify.TERMINATION_WITHDRAWAL: (TERMINATION_WITHDRAWAL, ()),
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


def decide(f: Facts) -> Decision:
    mail = f.mail
    c = f.classification
    # 1. Never answer a machine: bounces, auto-replies, lists.
    why = sender.machine_reason(mail)
    if why:
        return Decision(c.kind, c.customer_code, IGNORED, reason=why)
    # 2. Only the company's own staff may write.
    if not sender.domain_allowed(mail.from_addr, f.settings.allowed_domains):
        return Decision(c.kind, c.customer_code, IGNORED, reason=f"許可ドメイン外の送信者 {mail.from_addr or '(なし)'}")
    # 3. What is it about?
    if c.kind is None:
        if c.names_spot or c.customer_code:
            return Decision(None, c.customer_code, REJECTED, defects=(Defect(UNKNOWN_KIND),))
        return Decision(None, None, MANUAL, reason="件名にUSEN SPOTも顧客コードもありません（自動判定の対象外）")
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
    # 4. A scan cannot be read by the bot: a person looks at it; never a rejection.
    # The 解約申請書 too (DESIGN.md: "A form with no text layer (a scan) is manual").
    scanned = [r for r in (*f.forms, *f.termination_forms) if r.shape == "scanned"]
    if scanned:
        return Decision(
            c.kind, c.customer_code, MANUAL, defects=defects, warnings=warnings,
            reason=f"{'解約申請書' if f.termination_forms else '申込書'}がスキャン画像のため読み取れません（目視確認が必要）",
            variant=variant,
        )
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
    # 5. A cancellation of an order the bot never sent (the customer is known only from UNIS, so
    # no 新規 row went to the vendor through the bot): 事務センター cancels the order with the
    # vendor itself (manual §VI キャンセル処理方法), so a person handles it; accepting it would
    # tell nobody.
    if c.kind == classify.CANCELLATION and (f.ledger is None or not f.ledger.has_order):
        return Decision(
            c.kind, c.customer_code, MANUAL, warnings=warnings, variant=variant,
            reason=(f"顧客 {f.code} の発注はシステムから送られていません（UNISのみ、またはシステム経由の発注なし）："
                    "ファイバーゲート社への発注キャンセルが必要か確認してください"),
        )
    # 6. A second new-install order for a customer the ledger already has live is not sent twice.
    if variant == NEW_INSTALL and f.ledger is not None and f.ledger.state not in ("cancelled", "terminated"):
        return Decision(
            c.kind, c.customer_code, MANUAL, warnings=warnings, variant=variant,
            reason=f"顧客 {f.code} は管理台帳で既に「{STATE_LABELS.get(f.ledger.state, f.ledger.state)}」です：二重発注の可能性",
        )
    return Decision(c.kind, c.customer_code, ACCEPTED, warnings=warnings, variant=variant)
