"""Every limit on what one mail can make the bot spend, in one place.

The limits are applied at the edge, where bytes come in (intake, the MIME walk, the PDF
pre-scan) and where a worker is started (memory and wall time of the reader process); the
readers themselves stay plain code. A mail over a limit gets a clear outcome that names the
limit (``PDF_UNREADABLE`` for a PDF no real form would be, ``manual`` for a mail a person
should look at, quarantine for a reader that crashed or timed out twice, or a mail that was
alone in the bot's hands each time the bot died, ``solo_deaths`` times), never a crash.

This module imports nothing of the bot: config, intake, mail, forms and workers all use it.
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """[limits] in the config. Defaults are generous for real branch mail (a 300 dpi colour
    scan of a 3-page form is ~3 MB as a PDF and ~26 MB per page decoded) and small enough that
    the daemon survives any input on a 2-core, 1 GiB budget."""

    # -- a mail (intake and the MIME walk)
    mail_bytes: int = 30 * MIB  # a bigger mail is not fetched whole: held for a person
    attachments: int = 20  # attachments read per mail; more → held for a person
    mime_parts: int = 500  # parts walked per mail (nested multiparts included)
    mime_depth: int = 20  # multipart nesting depth
    header_bytes: int = 256 * 1024  # all header lines together
    # -- a PDF (pre-scan before any reader touches it)
    pdf_bytes: int = 20_000_000  # the file as attached
    pdf_pages: int = 20
    pdf_objects: int = 50_000
    pdf_stream_bytes: int = 64 * MIB  # one stream, decompressed
    pdf_document_bytes: int = 256 * MIB  # every stream of one document, decompressed
    pdf_field_nodes: int = 5_000  # AcroForm field tree nodes (each visited once)
    pdf_image_pixels: int = 60_000_000  # one image's width x height (a 300 dpi A3 is ~17.5 M)
    # -- the reader process
    pdf_seconds: float = 40.0  # wall time to read one PDF (a scan: up to ocr_pages pages of OCR)
    mail_seconds: float = 90.0  # wall time to read all of one mail's PDFs
    worker_memory_mb: int = 1024  # address space of a reader process (RLIMIT_AS)
    reader_attempts: int = 2  # a mail whose reader crashed or ran over its limits this often is quarantined
    # A mail that was the only one in the bot's hands when the bot died, this many times, is
    # quarantined (bot/pipeline/claim.py). A kill from outside (OOM killer, deploy, power cut) lands on a
    # lone mail by chance now and then, a mail that kills the bot does it every time: 3 in a row
    # tells them apart. Deaths while several mails were in hand count against none of them.
    solo_deaths: int = 3
    workers: int = 0  # reader processes; 0 = one per core
    # -- scanned forms (OCR inside the reader process)
    ocr_page_seconds: float = 8.0  # wall time to find and read the form on one scanned page
    ocr_pages: int = 4  # pages of one scan looked at for the form (cover sheets, blank pages)

    def describe(self, name: str) -> str:
        """A limit as a person reads it in a reason or a 差戻 detail: ``pdf_pages=20``."""
        return f"{name}={getattr(self, name)}"


DEFAULT = Limits()

# The values [limits] accepts, checked when the config is loaded (bot/config/__init__.py): a limit of 0
# would refuse every mail, a limit of 10**12 is no limit at all, and either is a typo rather
# than a choice. The bounds are wide: they stop the impossible, not the unusual.
GIB = 1024 * MIB
RANGES: dict[str, tuple[float, float, str]] = {
    # name: (lowest, highest, unit as the message says it)
    "mail_bytes": (64 * 1024, 1 * GIB, "bytes"),
    "attachments": (1, 1_000, "attachments"),
    "mime_parts": (1, 100_000, "parts"),
    "mime_depth": (1, 100, "levels"),
    "header_bytes": (4 * 1024, 16 * MIB, "bytes"),
    "pdf_bytes": (16 * 1024, 1 * GIB, "bytes"),
    "pdf_pages": (1, 10_000, "pages"),
    "pdf_objects": (100, 10_000_000, "objects"),
    "pdf_stream_bytes": (64 * 1024, 16 * GIB, "bytes"),
    "pdf_document_bytes": (64 * 1024, 64 * GIB, "bytes"),
    "pdf_field_nodes": (1, 1_000_000, "nodes"),
    "pdf_image_pixels": (100_000, 2_000_000_000, "pixels"),
    "pdf_seconds": (1, 3_600, "seconds"),
    "mail_seconds": (1, 3_600, "seconds"),
    # Below ~256 MiB a reader cannot even load pikepdf, OpenCV and Tesseract: every mail would
    # crash its reader and end in quarantine.
    "worker_memory_mb": (256, 1024 * 1024, "MiB"),
    "reader_attempts": (1, 10, "attempts"),
    # 1 would quarantine a mail for the first kill from outside that found it alone in hand.
    "solo_deaths": (2, 20, "deaths"),
    "workers": (0, 256, "processes (0 = one per CPU core)"),
    "ocr_page_seconds": (0.5, 600, "seconds"),
    "ocr_pages": (1, 100, "pages"),
}


class LimitExceeded(Exception):
    """Input over one of :class:`Limits`; ``limit`` is the field name, ``detail`` says by how much."""

    def __init__(self, limit: str, detail: str) -> None:
        super().__init__(f"{detail} (limit {limit})")
        self.limit = limit
        self.detail = detail
