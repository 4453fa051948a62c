"""Required body lines per kind (manual §II): BODY_FIELD_MISSING names each missing label."""

from __future__ import annotations

from bot.checks.base import Defect, Facts

BODY_FIELD_MISSING = "BODY_FIELD_MISSING"

# 器材発注依頼 body of manual §II: 顧客CD, 店舗名, リンク品使用, SPOT Plus該当, 送付支店名, 担当者名.
EQUIPMENT_ORDER_LABELS = ("顧客CD", "店舗名", "リンク品使用", "SPOT Plus該当", "送付支店名", "担当者名")


def required(labels: tuple[str, ...]):  # noqa: ANN201 - returns a Check
    def check(f: Facts) -> list[Defect]:
        missing = [label for label in labels if not (f.body.get(label) or "").strip()]
        if not missing:
            return []
        return [Defect(BODY_FIELD_MISSING, {"labels": "、".join(missing)})]

    check.__name__ = "required_" + "_".join(labels)
    return check


equipment_order = required(EQUIPMENT_ORDER_LABELS)
child_unit = required(("顧客CD", "送付支店名", "担当者名"))
contract_change = required(("変更内容",))
relocation = required(("移設先住所",))
