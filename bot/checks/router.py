"""ルーター未撤去: the body must say why the router was not removed (REASON_MISSING)."""

from __future__ import annotations

import re
import unicodedata

from bot.body import LABEL_REASON
from bot.checks.base import Defect, Facts

REASON_MISSING = "REASON_MISSING"

# Lines that carry no reason: greetings, the customer code line, sign-offs.
_NOT_A_REASON = re.compile(
    r"^(お疲れ様|お疲れさま|おつかれさま|お世話になって|いつもお世話|事務センター|開業支援|御中|宜しく|よろしく|以上|"
    r"顧客(CD|コード|番号)|店舗名|送付支店|担当者|(総務|営業)(\s+\S{1,12})?$|様$|[-=_*]+$|"
    r"\S{0,12}支店(\s+\S{1,12}){0,3}$)"  # a sign-off: 青山支店 総務 内田 (but not 青山支店で保管中)
)


def reason_text(f: Facts) -> str | None:
    labelled = (f.body.get(LABEL_REASON) or "").strip()
    if labelled:
        return labelled
    free = [line for line in f.body.lines if not _NOT_A_REASON.search(unicodedata.normalize("NFKC", line).strip())]
    text = " ".join(line.strip() for line in free if line.strip())
    return text or None


def reason_given(f: Facts) -> list[Defect]:
    return [] if reason_text(f) else [Defect(REASON_MISSING)]
