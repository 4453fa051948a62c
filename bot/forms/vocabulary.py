"""The one vocabulary of the form readers: field names (FORM-SPEC.md), shapes, PDF_* codes,
and the frozen readings every reader returns."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

PDF_NOT_ENCRYPTED = "PDF_NOT_ENCRYPTED"
PDF_WRONG_PASSWORD = "PDF_WRONG_PASSWORD"
PDF_UNREADABLE = "PDF_UNREADABLE"

SHAPE_FILLABLE = "fillable"
SHAPE_TYPED = "typed"
SHAPE_SCANNED = "scanned"
SHAPE_UNKNOWN = "unknown"


# =========================================================================== results


@dataclass(frozen=True)
class FormFields:
    """The fields of one application form, named as in FORM-SPEC.md.

    Strings are as read (stripped), ``None`` when the label/field is absent, ``""`` when it
    is present but empty.  Normalised, as noted: ``customer_code`` (NFKC, spaces removed;
    hyphens too when that leaves 9 digits), the ``*_zip``/``*_phone`` values (NFKC, every
    hyphen variant − － ‐ ー → ``-``), the choice fields (ids below; none or several
    marked → None), ``parent_units``/``child_units`` (ASCII digits; a box holding something
    that is no count keeps that text, NFKC, for the units check to send back), ``mail_local``
    (the part before ``@``).  ``ssid`` is RAW, full-width characters kept, so a check can find them.
    """

    customer_code: str | None = None
    contractor_kana: str | None = None
    contractor_name: str | None = None
    contractor_zip: str | None = None
    contractor_address: str | None = None
    contractor_phone: str | None = None
    shop_kana: str | None = None
    shop_name: str | None = None
    shop_zip: str | None = None
    shop_address: str | None = None
    shop_phone: str | None = None
    line_kind: str | None = None  # "hikari_next" | "b_flets"
    line_type: str | None = None  # "family" | "mansion"
    check_method: str | None = None  # "notice" | "bill" | "ntt116"
    mail_local: str | None = None
    mail_reading: str | None = None
    contact_last: str | None = None
    contact_first: str | None = None
    plus: bool = False
    ssid: str | None = None
    parent_units: str | None = None
    child_units: str | None = None
    remarks: str | None = None

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(FormFields))

# FORM-SPEC field -> AcroForm field name; identity by default, the config may override.
DEFAULT_FIELD_NAMES: Mapping[str, str] = MappingProxyType({name: name for name in FIELD_NAMES})


# States of what a scan reader saw in a field (FieldReading.state).
STATE_READ = "read"  # a machine-printed value was read (FieldReading.value)
STATE_FILLED = "filled"  # the cell has writing (handwriting: not read)
STATE_EMPTY = "empty"  # the cell has no writing
STATE_MARKED = "marked"  # an option is marked
STATE_UNMARKED = "unmarked"
STATE_UNSURE = "unsure"  # the reader could not tell


@dataclass(frozen=True)
class FieldReading:
    """What the scan reader saw in one field or option, for the checks, the digest and a review.

    ``name`` is a FORM-SPEC field (``customer_code``, ``line_kind`` …) or an option
    (``line_kind.b_flets``, ``plus.on``).  ``value`` is the value read (a printed value, or a
    choice id), ``state`` one of the STATE_* strings, ``conf`` 0–1, ``sure`` whether the reader
    stands by it (only sure values reach :attr:`FormReading.fields`), ``hand`` whether the cell
    was written by hand (None when empty or not known), ``box`` (page index from 0, x0, y0,
    x1, y1) in PDF points of that page, origin top-left, y down.
    """

    name: str
    value: str | None
    state: str
    conf: float
    sure: bool
    hand: bool | None = None
    box: tuple[int, float, float, float, float] | None = None


@dataclass(frozen=True)
class FormReading:
    shape: str  # "fillable" | "typed" | "scanned" | "unknown"
    # None: not opened, text without form labels (unknown), AcroForm values under none of the
    # configured field names (fillable; see detail), or a scan whose form page was not found.
    # For a scan: only the values the reader is SURE of; None where it is not sure or where the
    # value is handwriting (not read), "" where it is sure the cell is empty.  choice fields: the
    # id when exactly one option is surely marked, None otherwise (see ``unsure``).
    fields: FormFields | None
    defects: tuple[str, ...]  # PDF_* codes only
    detail: str  # what failed and why, for the log / quarantine (English)
    encrypted: bool
    pages: int
    # -- scans only (empty for the other shapes)
    readings: tuple[FieldReading, ...] = ()  # per field and option: value/state, confidence, box
    unsure: tuple[str, ...] = ()  # fields the reader could not read surely (FORM-SPEC names)
    limit: str | None = None  # a Limits field crossed while reading (e.g. "ocr_page_seconds")
    form_page: int | None = None  # index of the page that holds the form
    # -- which form (manual §I): the dedicated ご加入申込書, or the 統合申込書 (bot/forms/integrated.py)
    form: str = "dedicated"  # "dedicated" | "integrated"
    # 統合申込書 only: its USEN SPOT row ticked (None: a dedicated form, or a scan not sure of the mark)
    spot_selected: bool | None = None
    services: tuple[str, ...] = ()  # 統合申込書: the service rows surely ticked (integrated.SERVICES keys)

    def reading(self, name: str) -> FieldReading | None:
        return next((r for r in self.readings if r.name == name), None)

    def fields_json(self) -> dict[str, dict[str, object]]:
        """Field name → what was read and how sure (``bot process --json`` "fields", the stored
        facts): a text layer or AcroForm value is certain (1.0); a scan's per-field readings keep
        their state (read / filled / empty / marked / unmarked / unsure), confidence and box."""
        if self.readings:
            return {r.name: {"value": r.value, "state": r.state, "confidence": round(r.conf, 3), "sure": r.sure,
                             **({"hand": r.hand} if r.hand is not None else {}),
                             **({"box": list(r.box)} if r.box else {})}
                    for r in self.readings}
        if self.fields is None:
            return {}
        out: dict[str, dict[str, object]] = {name: {"value": value, "confidence": 1.0}
                                             for name, value in self.fields.as_dict().items()}
        if self.form == "integrated":
            out["spot_selected"] = {"value": self.spot_selected, "confidence": 1.0}
        return out


@dataclass(frozen=True)
class TerminationReading:
    """The 解約申請書: its 顧客CD and 解約日 (labelled text, AcroForm fields, or a scan's OCR).

    On a scan, a value the reader is not sure of is None and named in ``unsure``."""

    shape: str
    customer_code: str | None
    termination_date: dt.date | None
    defects: tuple[str, ...]
    detail: str
    encrypted: bool
    readings: tuple[FieldReading, ...] = ()
    unsure: tuple[str, ...] = ()
    limit: str | None = None
