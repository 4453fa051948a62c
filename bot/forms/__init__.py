"""Application form (ご加入申込書) and termination form (解約申請書) PDFs → fields.

Pure: bytes in, a frozen reading out; never raises for bad input (every failure is a
``PDF_*`` defect plus a precise ``detail``), no I/O besides parsing the bytes given.

How a PDF is read, step by step:

1. **Unlock** with pikepdf (qpdf) and ``attempt_recovery=False``.  qpdf silently "repairs"
   a truncated encrypted PDF into an *unencrypted, empty* one; with recovery off it raises
   instead, so a cut-off upload is ``PDF_UNREADABLE`` and never ``PDF_NOT_ENCRYPTED``.
   A file that opens only with the empty password (owner password only, e.g. Word's
   "restrict editing") is not password-protected in the manual's sense: ``PDF_NOT_ENCRYPTED``,
   and it is still read so every defect of a mail can be reported at once.
2. **Fillable** (AcroForm): values come from the fields, by the configured field names.
3. **Typed**: the text layer, read by LABEL and BLOCK (ご契約者 / 設置先 / メール …), never by
   absolute coordinates; geometry only orders the text into lines and tells a value that
   belongs under a label from a footer far below it.
4. **Scanned**: no text and no field values → shape ``scanned``, fields None, no defect
   (the caller decides ``manual``).

Text library: **pypdfium2** (PDFium), not pdfplumber.  Measured on these forms
(shared/LAB-NOTES.md): pdfplumber maps the CID font's full-width hyphen － to U+2212,
spreads letter-spaced text (``U S E N``) and turns U+3000 into a space, which would corrupt
exactly the values we must keep raw (the SSID is checked for full-width characters); PDFium
gets all three right and is 3–20x faster (2–11 ms vs 34–53 ms a page, 0.23 s vs 14–17 s
for 500 pages).  It is a direct dependency (pyproject.toml).  PDFium is not
thread-safe, so every call into it holds :data:`_PDFIUM_LOCK`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from bot.config.limits import DEFAULT, Limits
from bot.forms import integrated
from bot.forms.fillable import from_acro
from bot.forms.normalise import units_from_text
from bot.forms.termination import parse_date, read_termination_form
from bot.forms.text import has_text
from bot.forms.typed import parse_typed
from bot.forms.unlock import Document, FormReadError, one_line, open_pdf
from bot.forms.vocabulary import (
    DEFAULT_FIELD_NAMES,
    FIELD_NAMES,
    PDF_NOT_ENCRYPTED,
    PDF_UNREADABLE,
    PDF_WRONG_PASSWORD,
    SHAPE_FILLABLE,
    SHAPE_SCANNED,
    SHAPE_TYPED,
    SHAPE_UNKNOWN,
    FieldReading,
    FormFields,
    FormReading,
    TerminationReading,
)

__all__ = [
    "DEFAULT_FIELD_NAMES",
    "FIELD_NAMES",
    "PDF_NOT_ENCRYPTED",
    "PDF_UNREADABLE",
    "PDF_WRONG_PASSWORD",
    "SHAPE_FILLABLE",
    "SHAPE_SCANNED",
    "SHAPE_TYPED",
    "SHAPE_UNKNOWN",
    "FieldReading",
    "FormFields",
    "FormReadError",
    "FormReading",
    "TerminationReading",
    "parse_date",
    "read_form",
    "read_termination_form",
]

log = logging.getLogger(__name__)




def _build_fields(values: Mapping[str, object]) -> FormFields:
    merged = dict(values)
    # 台数 written only in 備考 (親1台、子2台): fill the empty (or unreadable) unit fields from it.
    def readable(key: str) -> bool:
        return str(merged.get(key) or "").isdigit()

    if not readable("parent_units") or not readable("child_units"):
        parent, child = units_from_text(merged.get("remarks") if isinstance(merged.get("remarks"), str) else None)
        if not readable("parent_units") and parent is not None:
            merged["parent_units"] = parent
        if not readable("child_units") and child is not None:
            merged["child_units"] = child
    for key in ("parent_units", "child_units"):
        if merged.get(key) == "":
            merged[key] = None
    kwargs = {name: merged[name] for name in FIELD_NAMES if name in merged}
    kwargs["plus"] = bool(merged.get("plus", False))
    return FormFields(**kwargs)  # type: ignore[arg-type]


def _scanned(doc: Document, notes: list[str], limits: Limits) -> FormReading:
    """The scanned branch: the page image read by :mod:`bot.forms.scanned` (OCR, marks)."""
    from bot.forms import (  # OpenCV and Tesseract load only when a scan comes
        ocr,
        scanned,
    )

    def done(fields: FormFields | None, *, readings: tuple = (), unsure: tuple[str, ...] = (),
             limit: str | None = None, form_page: int | None = None, **form: object) -> FormReading:
        return FormReading(shape=SHAPE_SCANNED, fields=fields, defects=doc.defects, detail="; ".join(notes),
                           encrypted=doc.encrypted, pages=doc.pages, readings=readings, unsure=unsure,
                           limit=limit, form_page=form_page, **form)  # type: ignore[arg-type]

    try:
        result = scanned.read_scan(doc.plain, limits)
    except scanned.PageTimeout as err:
        notes.append(f"reading page {err.page + 1} took over {limits.ocr_page_seconds:g} s "
                     f"(limit ocr_page_seconds)")
        return done(None, limit="ocr_page_seconds")
    except ocr.OcrUnavailable as err:
        log.error("scanned form not read: %s", err)
        notes.append(f"OCR is not available: {err}")
        return done(None)
    except MemoryError:
        raise
    except Exception as err:  # noqa: BLE001 - contract: never raise for bad input
        log.exception("unexpected failure reading a scanned form")
        notes.append(f"the scan could not be read: {one_line(err)}")
        return done(None)
    notes.extend(result.notes)
    if result.unsure:
        notes.append("unsure: " + ", ".join(result.unsure))
    return done(result.fields, readings=result.readings, unsure=result.unsure, form_page=result.form_page,
                form=result.form, spot_selected=result.spot_selected, services=result.services)


def read_form(
    data: bytes,
    *,
    password: str,
    field_names: Mapping[str, str] | None = None,
    limits: Limits = DEFAULT,
) -> FormReading:
    """Read a ご加入申込書 PDF.  Never raises for bad input.

    Shapes: ``fillable`` (AcroForm with the configured field names), ``typed`` (labels in
    the text layer), ``scanned`` (no text and no field values: fields None, no defect; the
    caller decides ``manual``), ``unknown`` (not opened, or text without any form label:
    fields None).  ``field_names`` overrides single entries of :data:`DEFAULT_FIELD_NAMES`.

    ``fields`` is None without a defect in three cases, all for a person to look at rather
    than a rejection: a scan; a text PDF that is not the form (``unknown``); an AcroForm
    filled under names the config does not map (``fillable``; ``detail`` says so).
    A non-encrypted PDF gives PDF_NOT_ENCRYPTED *and* its fields.
    """
    names = {**DEFAULT_FIELD_NAMES, **(field_names or {})}
    try:
        doc = open_pdf(data, password, limits=limits)
    except FormReadError as err:
        log.info("application form unreadable: %s (%s)", err.defect, err.detail)
        return FormReading(shape=SHAPE_UNKNOWN, fields=None, defects=(err.defect,), detail=err.detail,
                           encrypted=err.encrypted, pages=err.pages, limit=err.limit)
    except Exception as err:  # noqa: BLE001 - contract: never raise for bad input
        log.exception("unexpected failure reading an application form")
        return FormReading(shape=SHAPE_UNKNOWN, fields=None, defects=(PDF_UNREADABLE,),
                           detail=f"unexpected error reading the PDF: {one_line(err)}", encrypted=False, pages=0)

    notes = list(doc.notes)
    mapped_present = [f for f in FIELD_NAMES if names.get(f, f) in doc.acro]
    mapped_filled = [f for f in mapped_present if doc.acro[names.get(f, f)] not in (None, "", "Off")]

    def reading(shape: str, fields: FormFields | None, **form: object) -> FormReading:
        detail = "; ".join(notes) if notes else f"read as {shape} form"
        return FormReading(shape=shape, fields=fields, defects=doc.defects, detail=detail,
                           encrypted=doc.encrypted, pages=doc.pages, **form)  # type: ignore[arg-type]

    if mapped_filled or len(mapped_present) >= 3:
        values, acro_notes = from_acro(doc.acro, names)
        notes.extend(acro_notes)
        if not mapped_filled:
            notes.append("AcroForm fields are all empty")
        return reading(SHAPE_FILLABLE, _build_fields(values))

    # The 統合申込書: its services table taken out of the text, read by bot/forms/integrated.py.
    services = integrated.typed_services(doc.lines)
    typed = parse_typed(services.rest if services is not None else doc.lines)
    typed_has_values = any(isinstance(v, str) and v for v in typed.values.values())
    filled_other = sorted(name for name, v in doc.acro.items() if v not in (None, "", "Off"))
    if typed.labels_found >= 2 and (typed_has_values or not filled_other):
        notes.extend(typed.notes)
        if services is None:
            return reading(SHAPE_TYPED, _build_fields(typed.values))
        if services.spot_selected is None:
            notes.append("a services table (サービス名称/コース) without a USEN SPOT row: "
                         "neither the ご加入申込書 nor the 統合申込書")
            return reading(SHAPE_UNKNOWN, None)
        return reading(SHAPE_TYPED, _build_fields({**typed.values, "plus": services.plus}),
                       form=integrated.FORM_INTEGRATED, spot_selected=services.spot_selected,
                       services=services.services)
    if filled_other:
        # Values exist but under names the config does not know: reading them as empty
        # would reject the branch's mail for our mapping problem.  Fields None: a person looks.
        shown = ", ".join(filled_other[:8]) + (" …" if len(filled_other) > 8 else "")
        notes.append(
            f"AcroForm has {len(filled_other)} filled field(s) ({shown}) but none under the "
            "configured field names; check the form field-name mapping in the config"
        )
        log.warning("application form fields not mapped by the config: %s", shown)
        return reading(SHAPE_FILLABLE, None)
    if not has_text(doc.lines) or doc.has_images:
        notes.append("no text layer and no form field values (image only)" if not has_text(doc.lines)
                     else "an image with stray text but no form label (scanned)")
        return _scanned(doc, notes, limits)
    notes.append("the PDF has text but none of the application form's labels")
    return reading(SHAPE_UNKNOWN, None)
