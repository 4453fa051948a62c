"""The 解約申請書: 顧客CD and 解約日 (labelled text, or AcroForm fields)."""

from __future__ import annotations

import logging
import re

from bot.config.limits import DEFAULT, Limits
from bot.forms.normalise import (  # the date: in normalise, for scans too
    customer_code_of,
    fold_with_map,
    parse_date,
)
from bot.forms.text import has_text
from bot.forms.unlock import Document, FormReadError, one_line, open_pdf
from bot.forms.vocabulary import (
    PDF_UNREADABLE,
    SHAPE_FILLABLE,
    SHAPE_SCANNED,
    SHAPE_TYPED,
    SHAPE_UNKNOWN,
    TerminationReading,
)

log = logging.getLogger(__name__)


_TERMINATION_LABELS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("customer_code", re.compile(r"(?:unis)?顧客(?:コード|cd|番号|no\.?)")),
    ("date", re.compile(r"解約(?:希望|予定)?日")),
)

def read_termination_form(
    data: bytes, *, password: str, limits: Limits = DEFAULT
) -> TerminationReading:
    """Read a 解約申請書 PDF: 顧客CD and 解約日 (a scan by OCR, see :func:`_read_scan`).  Never
    raises for bad input.

    A missing or unreadable date gives ``termination_date=None`` without a defect: the
    caller turns that into TERMINATION_DATE_MISSING.
    """
    try:
        doc = open_pdf(data, password, limits=limits)
    except FormReadError as err:
        log.info("termination form unreadable: %s (%s)", err.defect, err.detail)
        return TerminationReading(shape=SHAPE_UNKNOWN, customer_code=None, termination_date=None,
                                  defects=(err.defect,), detail=err.detail, encrypted=err.encrypted,
                                  limit=err.limit)
    except Exception as err:  # noqa: BLE001 - contract: never raise for bad input
        log.exception("unexpected failure reading a termination form")
        return TerminationReading(shape=SHAPE_UNKNOWN, customer_code=None, termination_date=None,
                                  defects=(PDF_UNREADABLE,), detail=f"unexpected error: {one_line(err)}",
                                  encrypted=False)

    notes = list(doc.notes)
    code: str | None = None
    date_text: str | None = None
    date_label_seen = False
    shape = SHAPE_TYPED
    acro_code = doc.acro.get("customer_code")
    acro_date = doc.acro.get("termination_date")
    if acro_code or acro_date:
        shape = SHAPE_FILLABLE
        code = customer_code_of(str(acro_code)) if acro_code else None
        date_text = str(acro_date) if acro_date else None
    else:
        for i, line in enumerate(doc.lines):
            folded, origin = fold_with_map(line.text)
            for key, regex in _TERMINATION_LABELS:
                m = regex.match(folded)
                if not m:
                    continue
                value = line.text[origin[m.end() - 1] + 1:].lstrip(" \t\u3000:：").strip()
                below = doc.lines[i + 1] if i + 1 < len(doc.lines) else None
                if not value and below is not None and below.page == line.page:
                    # Stacked layout: the value is the next line, if it is one (a blank
                    # 解約日 must not swallow the 解約理由 row below it).
                    candidate = below.text.strip()
                    if (key == "date" and parse_date(candidate)) or (
                            key == "customer_code" and re.fullmatch(r"\d{9}", customer_code_of(candidate) or "")):
                        value = candidate
                if key == "customer_code" and code is None:
                    code = customer_code_of(value) or None
                elif key == "date" and date_text is None:
                    date_text = value
                    date_label_seen = True
                break
        if code is None and date_text is None:
            if not has_text(doc.lines) or doc.has_images:
                shape = SHAPE_SCANNED
                notes.append("no 顧客CD / 解約日 label in the text layer (image only)")
            else:
                shape = SHAPE_UNKNOWN
                notes.append("the PDF has text but no 顧客CD / 解約日 label")
    date = parse_date(date_text)
    if date_text and date is None:
        notes.append(f"解約日 {date_text!r} is not a date")
    elif date is None and shape in {SHAPE_TYPED, SHAPE_FILLABLE}:
        seen_label = date_label_seen or acro_date is not None
        notes.append("解約日 is empty or not a date" if seen_label else "no 解約日 label")
    reading = TerminationReading(
        shape=shape, customer_code=code, termination_date=date, defects=doc.defects,
        detail="; ".join(notes) if notes else f"read as {shape} form", encrypted=doc.encrypted,
    )
    return _read_scan(doc, reading, limits) if shape == SHAPE_SCANNED else reading


def _read_scan(doc: Document, reading: TerminationReading, limits: Limits) -> TerminationReading:
    """A scan is read by OCR (:mod:`bot.forms.scan_text`) from the document already unlocked: a
    value the reader is not sure of is None and named in ``unsure``; over
    ``ocr_page_seconds`` the reading names that limit."""
    from dataclasses import replace

    from bot.forms import (  # OpenCV and Tesseract load only when a scan comes
        ocr,
        scan_text,
    )

    try:
        scan = scan_text.read_termination_scan(doc.plain, limits)
    except ocr.OcrTimeout:
        return replace(reading, detail=f"{reading.detail}; reading the scan took over "
                       f"{limits.ocr_page_seconds:g} s a page (limit ocr_page_seconds)", limit="ocr_page_seconds")
    except ocr.OcrUnavailable as err:
        log.error("scanned termination form not read: %s", err)
        return replace(reading, detail=f"{reading.detail}; OCR is not available: {err}")
    except MemoryError:
        raise
    except Exception as err:  # noqa: BLE001 - contract: never raise for bad input
        log.exception("unexpected failure reading a scanned termination form")
        return replace(reading, detail=f"{reading.detail}; the scan could not be read: {one_line(err)}")
    notes = [reading.detail, *scan.notes]
    if scan.unsure:
        notes.append("unsure: " + ", ".join(scan.unsure))
    return replace(reading, customer_code=scan.customer_code, termination_date=scan.termination_date,
                   readings=scan.readings, unsure=scan.unsure, detail="; ".join(notes))
