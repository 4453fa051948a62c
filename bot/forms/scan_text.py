"""Scanned pages read as running text: the 解約申請書 (顧客CD and 解約日 where printed).

The termination form has no choices to mark: its page is put upright (:mod:`.raster`) and
read whole by Tesseract (automatic page segmentation), then the labels of
:mod:`bot.forms.termination` are looked for line by line.  A value is sure when every
character of it was read at :data:`SURE` or better and it has the form a value must have
(nine digits; a valid date); otherwise it is None and named in ``unsure``.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from bot.forms import ocr, raster
from bot.forms.normalise import _customer_code, _fold_with_map
from bot.forms.vocabulary import STATE_READ, STATE_UNSURE, FieldReading
from bot.limits import Limits

SURE = 0.85


@dataclass
class TerminationScan:
    customer_code: str | None
    termination_date: dt.date | None
    readings: tuple[FieldReading, ...]
    unsure: tuple[str, ...]
    notes: list[str]


def read_termination_scan(plain: bytes, limits: Limits) -> TerminationScan:
    """Raises ocr.OcrTimeout (the caller names ``ocr_page_seconds``)."""
    from bot.forms.termination import _TERMINATION_LABELS, parse_date

    found: dict[str, tuple[str, float, tuple[int, float, float, float, float]]] = {}
    notes: list[str] = []
    for page in raster.content_pages(plain, pages=limits.ocr_pages, seconds=limits.ocr_page_seconds, notes=notes):
        index, deadline, up = page.index, page.deadline, page.upright
        lv = raster.levels(page.image)
        span = max(1.0, lv.paper - lv.ink)
        norm = ((up.image.astype("float32") - lv.ink) * (255.0 / span)).clip(0, 255).astype("uint8")
        res = ocr.recognise(norm, psm=ocr.PSM_AUTO, seconds=deadline - time.monotonic())
        for line in res.lines():
            text = line.text
            folded, origin = _fold_with_map(text)
            for key, regex in _TERMINATION_LABELS:
                m = regex.search(folded)
                if not m or key in found:
                    continue
                cut = origin[m.end() - 1] + 1
                # the value: the characters after the label, with their confidences
                chars = [s for s in line.symbols]
                pos, value_syms = 0, []
                for s in chars:
                    if pos >= cut:
                        value_syms.append(s)
                    pos += len(s.text) + (0)
                value = text[cut:].lstrip(" \t\u3000:：").strip()
                conf = min((s.conf for s in value_syms), default=0.0)
                xs = [s.box for s in line.symbols]
                box = (min(b[0] for b in xs), min(b[1] for b in xs), max(b[2] for b in xs), max(b[3] for b in xs))
                found[key] = (value, conf, (index, *up.box_in_page(box)))
        if found:
            break
    readings: list[FieldReading] = []
    unsure: list[str] = []
    code: str | None = None
    date: dt.date | None = None
    if "customer_code" in found:
        value, conf, box = found["customer_code"]
        cc = _customer_code(value.split(" ")[0] if value else "")
        if cc and cc.isdigit() and len(cc) == 9 and conf >= SURE:
            code = cc
            readings.append(FieldReading("customer_code", cc, STATE_READ, round(conf, 3), True, False, box))
        else:
            unsure.append("customer_code")
            readings.append(FieldReading("customer_code", cc or None, STATE_UNSURE, round(conf, 3), False, None, box))
    if "date" in found:
        value, conf, box = found["date"]
        parsed = parse_date(value)
        if parsed is not None and conf >= SURE:
            date = parsed
            readings.append(FieldReading("termination_date", parsed.isoformat(), STATE_READ, round(conf, 3), True,
                                         False, box))
        else:
            unsure.append("termination_date")
            readings.append(FieldReading("termination_date", value or None, STATE_UNSURE, round(conf, 3), False,
                                         None, box))
    if not found:
        notes.append("no 顧客CD / 解約日 label read on the scan")
        unsure.extend(["customer_code", "termination_date"])
    return TerminationScan(code, date, tuple(readings), tuple(unsure), notes)
