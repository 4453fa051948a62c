"""回線: LINE_KIND_MISSING (neither or both of フレッツ光ネクスト / Bフレッツ) and LINE_TYPE_MISSING
(Bフレッツ without ファミリー/マンション; 光ネクスト needs none, manual §I)."""

from __future__ import annotations

from bot.checks.base import Defect, Facts

LINE_KIND_MISSING = "LINE_KIND_MISSING"
LINE_TYPE_MISSING = "LINE_TYPE_MISSING"


def kind_and_type(f: Facts) -> list[Defect]:
    form = f.form
    if form is None or form.fields is None:
        return []  # no readable form: reported by the attachment check or held for a person
    if form.fields.line_kind not in ("hikari_next", "b_flets"):
        return [Defect(LINE_KIND_MISSING)]
    if form.fields.line_kind == "b_flets" and form.fields.line_type not in ("family", "mansion"):
        return [Defect(LINE_TYPE_MISSING)]
    return []
