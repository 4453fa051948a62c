"""A PDF attachment as page images for the console: unlocked with the configured password
through :func:`bot.forms.unlock.open_pdf` (every limit of :mod:`bot.forms.guard` checked
first), then drawn by PDFium and written as PNG by OpenCV (both already dependencies).

These functions run inside a reader process (:func:`bot.forms.workers.shared_pool`), bounded in
memory and time like the pipeline's readers: a hostile PDF costs the console a killed worker,
never the server. This module imports no web code, so a reader can unpickle it cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.config.limits import Limits

# Width of a rendered page in pixels: an A4 page is readable at this size on a desktop, and a
# phone scales it down.
PAGE_WIDTH = 1100


@dataclass(frozen=True)
class PdfOutline:
    pages: int  # pages that can be drawn (0 when the PDF cannot be opened)
    encrypted: bool
    defect: str | None  # the PDF_* code when it cannot be opened
    detail: str


def outline(data: bytes, password: str, limits: Limits) -> PdfOutline:
    from bot.forms.unlock import FormReadError, open_pdf

    try:
        doc = open_pdf(data, password, limits=limits)
    except FormReadError as err:
        return PdfOutline(0, err.encrypted, err.defect, err.detail)
    return PdfOutline(doc.pages, doc.encrypted, None, "; ".join(doc.notes))


def render_page(data: bytes, password: str, limits: Limits, index: int, width: int = PAGE_WIDTH) -> bytes:
    """Page `index` (0-based) as PNG bytes; ValueError for a page the PDF does not have."""
    import cv2
    import pypdfium2

    from bot.forms.unlock import open_pdf

    doc = open_pdf(data, password, limits=limits)
    if not 0 <= index < doc.pages:
        raise ValueError(f"page {index + 1} of {doc.pages}")
    pdf = pypdfium2.PdfDocument(doc.plain)
    try:
        page = pdf[index]
        scale = min(width / max(page.get_width(), 1.0), 4.0)
        bitmap = page.render(scale=scale, may_draw_forms=True)  # BGR, as OpenCV expects
        ok, png = cv2.imencode(".png", bitmap.to_numpy(), [cv2.IMWRITE_PNG_COMPRESSION, 3])
        page.close()
    finally:
        pdf.close()
    if not ok:
        raise ValueError("PNG encoding failed")
    return png.tobytes()
