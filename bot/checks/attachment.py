"""The required PDF: ATTACHMENT_MISSING, and the PDF_* defects found while unlocking it."""

from __future__ import annotations

from bot.checks.base import Defect, Facts

ATTACHMENT_MISSING = "ATTACHMENT_MISSING"


def form_required(f: Facts) -> list[Defect]:
    """Application form (申込書) or termination form (解約申請書): present, encrypted, readable."""
    readings = list(f.forms) + list(f.termination_forms)
    if not readings:
        return [Defect(ATTACHMENT_MISSING)]
    defects: list[Defect] = []
    for reading in readings:
        for code in reading.defects:
            # A PDF over one of bot/config/limits.py's limits: the 差戻 names which (templates/_defects.j2).
            limit = getattr(reading, "limit", None) if code == "PDF_UNREADABLE" else None
            defect = Defect(code, {"limit": limit} if limit else {})
            if defect not in defects:
                defects.append(defect)
    return defects
