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
            defect = Defect(code)
            if defect not in defects:
                defects.append(defect)
    return defects
