"""統合申込書 (manual §I): its 「USEN SPOT」 row must be ticked (SPOT_NOT_SELECTED).

The integrated form lists every service of the company; a form whose USEN SPOT row is not
ticked does not apply for USEN SPOT, whatever else is filled in.  USEN SPOT Tourist is another
service: ticked alone it is still SPOT_NOT_SELECTED.  Only a SURE unticked row is a defect (a
typed form, or a scan whose reader is sure the box is empty); a scan in doubt carries
``spot_selected`` None and is held for a person by the scan rules (bot/decide/scans.py).
"""

from __future__ import annotations

from bot.checks.base import Defect, Facts

SPOT_NOT_SELECTED = "SPOT_NOT_SELECTED"


def spot_selected(f: Facts) -> list[Defect]:
    form = f.form
    if form is None or form.fields is None or form.form != "integrated":
        return []
    if form.spot_selected is not False:
        return []  # ticked, or a scan not sure of the mark
    detail = {"tourist": "有"} if "tourist" in form.services else {}
    return [Defect(SPOT_NOT_SELECTED, detail)]
