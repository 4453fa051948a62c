"""Unlock a PDF and take out what the readers need (AcroForm values, text lines)."""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import pikepdf

from bot.config.limits import DEFAULT, LimitExceeded, Limits
from bot.forms import aes256, guard
from bot.forms.fillable import acro_values
from bot.forms.text import Line, text_lines
from bot.forms.vocabulary import PDF_NOT_ENCRYPTED, PDF_UNREADABLE, PDF_WRONG_PASSWORD


class FormReadError(Exception):
    """A PDF that cannot be read; carries the PDF_* defect code."""

    def __init__(self, defect: str, detail: str, *, encrypted: bool = False, pages: int = 0,
                 limit: str | None = None) -> None:
        super().__init__(detail)
        self.limit = limit  # the Limits field crossed, if that is why
        self.defect = defect
        self.detail = detail
        self.encrypted = encrypted
        self.pages = pages




@dataclass(frozen=True)
class Document:
    encrypted: bool  # protected by a non-empty user password
    pages: int
    notes: tuple[str, ...]  # detail notes (e.g. why PDF_NOT_ENCRYPTED)
    defects: tuple[str, ...]
    acro: Mapping[str, object]  # fully qualified field name -> value (str / bool-ish / None)
    lines: tuple[Line, ...]
    has_images: bool
    plain: bytes = b""  # the document without encryption, for rasterising (scans)


def open_pdf(data: bytes, password: str, *, limits: Limits = DEFAULT) -> Document:
    """Unlock and extract everything we need; raises FormReadError for PDF_* failures.

    Every limit of :mod:`bot.forms.guard` is checked before the part it protects is read; a
    PDF over one is ``PDF_UNREADABLE`` with the limit named in the detail.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise FormReadError(PDF_UNREADABLE, f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    try:
        return _open_checked(data, password, limits)
    except LimitExceeded as err:
        raise FormReadError(PDF_UNREADABLE, f"{err.detail} (limit {err.limit})", limit=err.limit) from err
    except MemoryError as err:
        # Only inside a reader process with an address-space limit: the input asked for more.
        raise FormReadError(PDF_UNREADABLE, "reading the PDF needs more memory than allowed (limit "
                            "worker_memory_mb)", limit="worker_memory_mb") from err


def _open_checked(data: bytes, password: str, limits: Limits) -> Document:
    if b"%PDF-" not in data[:1024]:
        head = data[:16].decode("ascii", "replace").encode("unicode_escape").decode("ascii")
        raise FormReadError(PDF_UNREADABLE, f"not a PDF: no %PDF- header in the first 1 KiB (starts {head!r})")
    guard.check_raw(data, limits)

    defects: list[str] = []
    notes: list[str] = []
    # The usual form (AES-256, the configured user password) is unlocked by bot/forms/aes256.py
    # in a third of the time; every other case takes qpdf's own path below.
    pdf = aes256.open_with_user_password(data, password)
    if pdf is not None:
        encrypted = True
    else:
        pdf, encrypted = _open_general(data, password, defects, notes)
    with pdf:
        n_pages = 0
        try:
            n_pages = guard.check_document(pdf, limits)
            if n_pages == 0:
                raise FormReadError(PDF_UNREADABLE, "PDF has no pages", encrypted=encrypted)
            acro = acro_values(pdf, max_nodes=limits.pdf_field_nodes)
            if pdf.is_encrypted:
                # Hand PDFium a decrypted copy: cheaper than a second AES-256 key derivation
                # (measured 11 ms vs 15.5 ms a form), and PDFium never sees the password.
                out = io.BytesIO()
                pdf.save(out, encryption=False)
                plain = out.getvalue()
            else:
                plain = data
        except (FormReadError, LimitExceeded, MemoryError):
            raise
        except Exception as err:  # noqa: BLE001 - damaged objects surface only when touched
            raise FormReadError(PDF_UNREADABLE, f"PDF structure is damaged: {one_line(err)}",
                                encrypted=encrypted, pages=n_pages) from err

    try:
        lines, has_images = text_lines(plain)
    except MemoryError:
        raise
    except Exception as err:  # noqa: BLE001 - PDFium raises PdfiumError and friends
        raise FormReadError(PDF_UNREADABLE, f"PDF text could not be extracted: {one_line(err)}",
                            encrypted=encrypted, pages=n_pages) from err
    return Document(
        encrypted=encrypted, pages=n_pages, notes=tuple(notes), defects=tuple(defects),
        acro=acro, lines=lines, has_images=has_images, plain=plain,
    )


def _open_general(data: bytes, password: str, defects: list[str], notes: list[str]) -> tuple[pikepdf.Pdf, bool]:
    """qpdf's own path: the empty password first, then the configured one.

    A PDF anyone can open is not password-protected in the manual's sense (§II ②), whether it
    has no encryption, an empty user password, or an empty OWNER password (qpdf tries a
    password as user, then as owner). It is still read, so every defect of the mail is
    reported at once.
    """
    pdf = _open(data, "")
    if pdf is not None:
        defects.append(PDF_NOT_ENCRYPTED)
        notes.append("PDF opens without a password (its user or owner password is empty)"
                     if pdf.is_encrypted else "PDF has no password")
        encrypted = False
    else:
        pdf = _open(data, password)
        if pdf is None:
            raise FormReadError(PDF_WRONG_PASSWORD, "the configured password does not open the PDF",
                                encrypted=True)
        encrypted = True
    return pdf, encrypted


def _open(data: bytes, password: str) -> pikepdf.Pdf | None:
    """The document, or None when `password` does not open it; FormReadError when it is damaged.

    ``attempt_recovery=False``: qpdf "repairs" a truncated encrypted PDF into an unencrypted,
    empty one; without recovery it raises, so a cut-off upload is PDF_UNREADABLE.
    """
    try:
        with warnings.catch_warnings():
            # pikepdf warns when a password was given to an unencrypted file; we report
            # that as PDF_NOT_ENCRYPTED ourselves.
            warnings.filterwarnings("ignore", message="A password was provided, but no password was needed")
            return pikepdf.open(io.BytesIO(data), password=password, attempt_recovery=False)
    except pikepdf.PasswordError:
        return None
    except MemoryError:
        raise
    except pikepdf.PdfError as err:
        raise FormReadError(
            PDF_UNREADABLE, f"PDF is damaged or truncated (not repaired on purpose): {one_line(err)}"
        ) from err
    except Exception as err:  # noqa: BLE001 - qpdf raises several types for corrupt input
        raise FormReadError(PDF_UNREADABLE, f"PDF could not be opened: {one_line(err)}") from err


def one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    # qpdf prefixes messages with the stream's repr ("<_io.BytesIO object at 0x…>: …").
    return re.sub(r"^(stream )?<_io\.BytesIO object at 0x[0-9a-f]+>:?\s*", "", text)[:300]
