"""The rule chain of each request kind, as data read top to bottom (DESIGN.md): every check
runs, and every defect goes into one 差戻. Which chain a mail takes is :func:`chain_for`."""

from __future__ import annotations

import re
import unicodedata

from bot.checks import (
    attachment,
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
    roles,
    router,
    serials,
    shop_name,
    ssid,
    termination,
    unis_order,
    units,
    warnings,
)
from bot.checks.base import Check, Facts
from bot.decide.outcome import CHILD_UNIT, NEW_INSTALL
from bot.domain import classify

Chain = tuple[tuple[Check, ...], tuple[Check, ...]]  # (defect checks, warning checks)

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

# The manual's second part (DESIGN.md).
CUSTOMER_INFO_CHANGE: tuple[Check, ...] = (  # §II 移設: 「顧客情報変更」として事務センターへメール連絡
    customer_code.present,
    body_fields.customer_info_change,  # 変更内容 (CHANGE_CONTENT_MISSING)
    customer.known,
    customer.state_allows("info_change", "顧客情報変更"),
    cc_manager.manager_in_cc,
)
NOTICE_RESEND: tuple[Check, ...] = (  # IV: CS asks after correcting the CS screen
    customer_code.present,
    roles.permitted,  # サポートセンター（CS） only
    customer.known,
    customer.state_allows("notice_resend", "登録通知書発送依頼"),
)
ROUTER_EXCHANGE: tuple[Check, ...] = (  # V: CR-1 → FGN600/1000, テクニカルサポート課 only
    customer_code.present,
    roles.permitted,
    body_fields.router_exchange,  # 現行機種, 交換機種, 親機/子機, 理由
    customer.known,
    customer.state_allows("router_exchange", "ルーター交換依頼"),
)
LINK_ITEM_USED: tuple[Check, ...] = (  # 故障交換: an engineer (or テクサポ課) used a link item
    customer_code.present,
    roles.permitted,
    body_fields.link_item,  # 旧シリアル, 新シリアル, 親機/子機
    serials.link_item,  # SERIAL_INVALID (§VIII)
    customer.known,
    customer.state_allows("link_item", "リンク品使用連絡"),
)
ORIGINAL_SSID: tuple[Check, ...] = (  # IV: 既存SPOT利用顧客からの追加, 事務センターでUNIS確定
    customer_code.present,
    customer_code.agreement,  # 件名・本文・申込書の顧客コード
    attachment.form_required,  # 申込書PDF: 添付あり・パスワード付き・読める
    ssid.half_width,  # 「※SSIDは半角オンリーです」
    customer.known,
    customer.state_allows("original_ssid", "OriginalSSID追加申請"),  # an existing (installed) customer
    cc_manager.manager_in_cc,
)

CHAINS: dict[str, Chain] = {
    NEW_INSTALL: (EQUIPMENT_ORDER_NEW, (shop_name.same_as_unis,)),
    CHILD_UNIT: (EQUIPMENT_ORDER_CHILD, ()),
    classify.CONTRACT_CHANGE: (CONTRACT_CHANGE, ()),
    classify.CANCELLATION: (CANCELLATION, (warnings.cancel_costs, warnings.router_return_due)),
    classify.TERMINATION: (TERMINATION, ()),
    classify.ROUTER_NOT_REMOVED: (ROUTER_NOT_REMOVED, ()),
    classify.RELOCATION: (RELOCATION, ()),
    classify.TERMINATION_WITHDRAWAL: (TERMINATION_WITHDRAWAL, ()),
    classify.CORPORATE_ORDER: (CORPORATE_ORDER, ()),
    classify.CUSTOMER_INFO_CHANGE: (CUSTOMER_INFO_CHANGE, ()),
    classify.NOTICE_RESEND: (NOTICE_RESEND, ()),
    classify.ROUTER_EXCHANGE: (ROUTER_EXCHANGE, ()),
    classify.LINK_ITEM_USED: (LINK_ITEM_USED, ()),
    classify.ORIGINAL_SSID: (ORIGINAL_SSID, ()),
}

_CHILD_UNIT_RE = re.compile(r"子機.{0,20}?(追加|交換)|(追加|交換).{0,10}?子機")


def equipment_variant(f: Facts) -> str:
    """A 器材発注依頼 without a PDF whose body says 子機 追加/交換 is a child-unit order."""
    if f.mail.pdf_attachments():
        return NEW_INSTALL
    text = unicodedata.normalize("NFKC", "\n".join(f.body.lines))
    return CHILD_UNIT if _CHILD_UNIT_RE.search(text) else NEW_INSTALL


def chain_for(f: Facts) -> tuple[str | None, Chain | None]:
    """The mail's variant (器材発注依頼 only) and its chain; None for a kind without one."""
    kind = f.classification.kind
    if kind is None:
        return None, None
    variant = equipment_variant(f) if kind == classify.EQUIPMENT_ORDER else None
    return variant, CHAINS.get(variant or kind)
