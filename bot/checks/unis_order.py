"""UNIS受注登録 must exist before the order mail (manual §II ①, FAQ 3): UNIS_ORDER_MISSING.

Corporate (法人) orders are registered by the office itself and are exempt. A code the bot
cannot know (missing from the subject) is left to CUSTOMER_CODE_MISSING.
"""

from __future__ import annotations

from bot.checks.base import Defect, Facts
from bot.domain.classify import CORPORATE_ORDER

UNIS_ORDER_MISSING = "UNIS_ORDER_MISSING"
LIVE = ("受注", "確定")


def order_exists(f: Facts) -> list[Defect]:
    if not f.code:
        return []
    if f.classification.kind == CORPORATE_ORDER:  # 法人一括発注依頼: 登録G registers it afterwards
        return []
    if any(line.acquisition == "法人" for line in f.unis):
        return []
    if any(line.status in LIVE for line in f.unis):
        return []
    return [Defect(UNIS_ORDER_MISSING, {"code": f.code})]
