"""移設依頼: the destination's line type must be stated (DESTINATION_LINE_MISSING): フレッツ光ネクスト,
or Bフレッツ with ファミリー/マンション (manual §II 移設時の連絡, §I 回線種別)."""

from __future__ import annotations

import unicodedata

from bot.checks.base import Defect, Facts
from bot.mail.body import LABEL_DEST_LINE

DESTINATION_LINE_MISSING = "DESTINATION_LINE_MISSING"


def destination_line(f: Facts) -> tuple[str | None, str | None]:
    """(line kind, line type) from the 移設先回線種別 line."""
    text = unicodedata.normalize("NFKC", f.body.get(LABEL_DEST_LINE) or "").replace(" ", "")
    kind: str | None = None
    if "光ネクスト" in text or "ネクスト" in text:
        kind = "hikari_next"
    if "Bフレッツ" in text.upper().replace("Ｂ", "B") or "bフレッツ" in text:
        kind = None if kind else "b_flets"  # both named: ambiguous
    line_type = "family" if "ファミリー" in text else "mansion" if "マンション" in text else None
    return kind, line_type


def line_given(f: Facts) -> list[Defect]:
    kind, line_type = destination_line(f)
    if kind == "hikari_next" or (kind == "b_flets" and line_type is not None):
        return []
    return [Defect(DESTINATION_LINE_MISSING)]
