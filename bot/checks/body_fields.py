"""Required body lines per kind (manual §II): BODY_FIELD_MISSING names each missing label.

リンク品使用 and SPOT Plus該当 are answered 有 or 無.  A line that is there but cannot be read
as either (未定, the template's 有/無 left as is) is not an answer: it is reported under the
same code, naming the label and what was written (detail ``unreadable``), rather than letting
the order pass as if the answer were 無.
"""

from __future__ import annotations

from bot.checks.base import Defect, Facts
from bot.mail.body import (
    LABEL_CHANGE,
    LABEL_CURRENT_MODEL,
    LABEL_LINK_ITEM,
    LABEL_NEW_MODEL,
    LABEL_NEW_SERIAL,
    LABEL_OLD_SERIAL,
    LABEL_PLUS,
    LABEL_REASON,
    LABEL_UNIT_ROLE,
    parse_yes_no,
)

BODY_FIELD_MISSING = "BODY_FIELD_MISSING"

# 器材発注依頼 body of manual §II: 顧客CD, 店舗名, リンク品使用, SPOT Plus該当, 送付支店名, 担当者名.
EQUIPMENT_ORDER_LABELS = ("顧客CD", "店舗名", "リンク品使用", "SPOT Plus該当", "送付支店名", "担当者名")
# Labels whose value must read as 有 or 無.
YES_NO_LABELS = frozenset({LABEL_LINK_ITEM, LABEL_PLUS})


def required(labels: tuple[str, ...]):  # noqa: ANN201 - returns a Check
    def check(f: Facts) -> list[Defect]:
        missing = [label for label in labels if not (f.body.get(label) or "").strip()]
        unreadable = [
            f"{label}「{f.body.raw_values.get(label) or f.body.get(label)}」"
            for label in labels
            if label in YES_NO_LABELS and label not in missing and parse_yes_no(f.body.get(label)) is None
        ]
        if not missing and not unreadable:
            return []
        detail = {}
        if missing:
            detail["labels"] = "、".join(missing)
        if unreadable:
            detail["unreadable"] = "、".join(unreadable)
        return [Defect(BODY_FIELD_MISSING, detail)]

    check.__name__ = "required_" + "_".join(labels)
    return check


equipment_order = required(EQUIPMENT_ORDER_LABELS)
child_unit = required(("顧客CD", "送付支店名", "担当者名"))
contract_change = required(("変更内容",))
relocation = required(("移設先住所",))
# ルーター交換依頼 (manual V): what テクニカルサポート課 writes for FG社.
router_exchange = required((LABEL_CURRENT_MODEL, LABEL_NEW_MODEL, LABEL_UNIT_ROLE, LABEL_REASON))

# リンク品使用連絡 (故障交換): the serials of both routers, and which of the customer's it was.
link_item = required((LABEL_OLD_SERIAL, LABEL_NEW_SERIAL, LABEL_UNIT_ROLE))

CHANGE_CONTENT_MISSING = "CHANGE_CONTENT_MISSING"


def customer_info_change(f: Facts) -> list[Defect]:
    """顧客情報変更 without what changed (its own code: the branch is told what to write)."""
    return [] if (f.body.get(LABEL_CHANGE) or "").strip() else [Defect(CHANGE_CONTENT_MISSING)]
