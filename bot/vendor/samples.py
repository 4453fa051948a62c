"""Sample data of the vendor batch mail (``vendor_batch.txt.j2``) for ``bot templates
check`` / ``preview`` and the console's template editor. Registered with
bot/templating/samples.py, which loads this module by name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.templating.samples import register_sample
from bot.vendor.csvfiles import REPLACEMENT_CHAR
from bot.vendor.model import CATEGORIES, FORCED_TERMINATION, TEMPLATE

TEMPLATE_SAMPLE: Mapping[str, Any] = {
    "batch_date": "2026/11/24",
    "batch_id": 12,
    "total": 3,
    "counts": [{"category": c, "count": n} for c, n in zip(CATEGORIES, (1, 0, 1, 0, 0, 0, 0, 0, 1), strict=True)],
    "csv_name": "usen_spot_20261124.csv",
    "ledger_name": "usen_spot_ledger_20261124.csv",
    "ledger_count": 2,
    "ledger_since": "2026/11/20 17:00",
    "notes": [{"line": 4, "customer_code": "988776654", "category": FORCED_TERMINATION,
               "note": "UNIS強制解約 解約日 2026/11/30"}],
    "replacements": [{"file": "usen_spot_20261124.csv", "line": 2, "customer_code": "988776655", "column": "店舗名",
                      "original": "𠮷", "codepoints": "U+20BB7"}],
    "replacement_char": REPLACEMENT_CHAR,
    "encoding": "Shift_JIS・CP932",
    "forced_count": 1,
    # 法人営業の一括発注 (bot/corporate): its rows kept apart, here in their own file.
    "corporate": {"count": 2, "file": "usen_spot_houjin_20261124.csv", "separate": True},
    "forms": [{"name": "申込書_988776656.pdf", "customer_code": "988776656", "line": 3,
               "cells": ["設置先住所", "メールアドレス"]}],
}

register_sample(TEMPLATE, TEMPLATE_SAMPLE)
