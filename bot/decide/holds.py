"""After the checks found no defect: accepted, unless the 管理台帳 says a person must look."""

from __future__ import annotations

from bot.checks.base import Defect, Facts
from bot.decide.outcome import ACCEPTED, MANUAL, NEW_INSTALL, Decision
from bot.domain import classify
from bot.ledger import STATE_LABELS
from bot.mail.body import LABEL_UNIT_ROLE


def after_checks(f: Facts, warnings: tuple[Defect, ...], variant: str | None) -> Decision:
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
    # 9. A link item put in for a 子機: the manual says it cannot be (不具合対応: 「子機はリンク品が使用
    # できません」, a 子機 is a 機材発注依頼 of the branch). No code says so: a person looks.
    if c.kind == classify.LINK_ITEM_USED and "子機" in (f.body.get(LABEL_UNIT_ROLE) or ""):
        return Decision(c.kind, c.customer_code, MANUAL, warnings=warnings, variant=variant,
                        reason="子機はリンク品が使用できません（マニュアル 不具合対応）：子機の機材発注依頼が必要か確認してください")
    # 10. An Original SSID request whose form gives no SSID: nothing to set (a person looks; no
    # code for it in DESIGN.md, and an unread handwritten SSID is no defect of the branch).
    if c.kind == classify.ORIGINAL_SSID and not (f.form and f.form.fields and f.form.fields.ssid):
        return Decision(c.kind, c.customer_code, MANUAL, warnings=warnings, variant=variant,
                        reason="申込書のSSID欄が空欄か読み取れません：Original SSIDを目視で確認してください")
    return Decision(c.kind, c.customer_code, ACCEPTED, warnings=warnings, variant=variant)
