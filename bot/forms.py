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

import dataclasses
import datetime as dt
import io
import logging
import re
import threading
import unicodedata
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import pikepdf
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from bot.body import parse_count, parse_units

__all__ = [
    "DEFAULT_FIELD_NAMES",
    "FIELD_NAMES",
    "PDF_NOT_ENCRYPTED",
    "PDF_UNREADABLE",
    "PDF_WRONG_PASSWORD",
    "FormFields",
    "FormReading",
    "TerminationReading",
    "parse_date",
    "read_form",
    "read_termination_form",
]

log = logging.getLogger(__name__)

PDF_NOT_ENCRYPTED = "PDF_NOT_ENCRYPTED"
PDF_WRONG_PASSWORD = "PDF_WRONG_PASSWORD"
PDF_UNREADABLE = "PDF_UNREADABLE"

SHAPE_FILLABLE = "fillable"
SHAPE_TYPED = "typed"
SHAPE_SCANNED = "scanned"
SHAPE_UNKNOWN = "unknown"

_PDFIUM_LOCK = threading.Lock()


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


@dataclass(frozen=True)
class FormReading:
    shape: str  # "fillable" | "typed" | "scanned" | "unknown"
    # None: not opened, no readable text (scanned), text without form labels (unknown), or
    # AcroForm values under none of the configured field names (fillable; see detail).
    fields: FormFields | None
    defects: tuple[str, ...]  # PDF_* codes only
    detail: str  # what failed and why, for the log / quarantine (English)
    encrypted: bool
    pages: int


@dataclass(frozen=True)
class TerminationReading:
    """The 解約申請書: its 顧客CD and 解約日 (labelled text, or AcroForm fields)."""

    shape: str
    customer_code: str | None
    termination_date: dt.date | None
    defects: tuple[str, ...]
    detail: str
    encrypted: bool


# =========================================================================== opening


class FormReadError(Exception):
    """A PDF that cannot be read; carries the PDF_* defect code.  Internal to this module."""

    def __init__(self, defect: str, detail: str, *, encrypted: bool = False, pages: int = 0) -> None:
        super().__init__(detail)
        self.defect = defect
        self.detail = detail
        self.encrypted = encrypted
        self.pages = pages


@dataclass(frozen=True)
class _Line:
    """One visual line of text: segments on the same baseline joined left to right."""

    text: str
    page: int
    top: float  # PDF user space, y grows upwards
    bottom: float
    left: float

    @property
    def height(self) -> float:
        return max(self.top - self.bottom, 1.0)


@dataclass(frozen=True)
class _Document:
    encrypted: bool  # protected by a non-empty user password
    pages: int
    notes: tuple[str, ...]  # detail notes (e.g. why PDF_NOT_ENCRYPTED)
    defects: tuple[str, ...]
    acro: Mapping[str, object]  # fully qualified field name -> value (str / bool-ish / None)
    lines: tuple[_Line, ...]
    has_images: bool


def _open(data: bytes, password: str, *, max_bytes: int, max_pages: int) -> _Document:
    """Unlock and extract everything we need; raises FormReadError for PDF_* failures."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise FormReadError(PDF_UNREADABLE, f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_bytes:
        raise FormReadError(PDF_UNREADABLE, f"file is {len(data):,} bytes, over the limit of {max_bytes:,}")
    if b"%PDF-" not in data[:1024]:
        head = data[:16].decode("ascii", "replace").encode("unicode_escape").decode("ascii")
        raise FormReadError(PDF_UNREADABLE, f"not a PDF: no %PDF- header in the first 1 KiB (starts {head!r})")

    defects: list[str] = []
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            # pikepdf warns when a password was given to an unencrypted file; we report
            # that as PDF_NOT_ENCRYPTED ourselves.
            warnings.filterwarnings("ignore", message="A password was provided, but no password was needed")
            pdf = pikepdf.open(io.BytesIO(data), password=password, attempt_recovery=False)
    except pikepdf.PasswordError as err:
        # qpdf does not fall back to the empty password: a file protected by an owner
        # password only opens with "" although anyone can read it.
        try:
            pdf = pikepdf.open(io.BytesIO(data), password="", attempt_recovery=False)
        except pikepdf.PasswordError:
            raise FormReadError(PDF_WRONG_PASSWORD, "the configured password does not open the PDF",
                                encrypted=True) from err
        except Exception as err2:  # noqa: BLE001 - any failure of qpdf is "unreadable"
            raise FormReadError(PDF_UNREADABLE, f"PDF could not be opened: {_one_line(err2)}") from err2
        defects.append(PDF_NOT_ENCRYPTED)
        notes.append("PDF opens without a password (encrypted with an owner password only)")
    except pikepdf.PdfError as err:
        raise FormReadError(
            PDF_UNREADABLE, f"PDF is damaged or truncated (not repaired on purpose): {_one_line(err)}"
        ) from err
    except Exception as err:  # noqa: BLE001 - qpdf raises several types for corrupt input
        raise FormReadError(PDF_UNREADABLE, f"PDF could not be opened: {_one_line(err)}") from err

    if not defects and pdf.is_encrypted and not pdf.user_password_matched and _opens_without_password(data):
        # The configured password is the OWNER password and the user password is empty.
        defects.append(PDF_NOT_ENCRYPTED)
        notes.append("PDF opens without a password (the configured one is only its owner password)")
    with pdf:
        encrypted = pdf.is_encrypted and not defects
        if not pdf.is_encrypted:
            defects.append(PDF_NOT_ENCRYPTED)
            notes.append("PDF has no password")
        n_pages = 0
        try:
            n_pages = len(pdf.pages)
            if n_pages == 0:
                raise FormReadError(PDF_UNREADABLE, "PDF has no pages", encrypted=encrypted)
            if n_pages > max_pages:
                raise FormReadError(PDF_UNREADABLE, f"PDF has {n_pages} pages, over the limit of {max_pages}",
                                    encrypted=encrypted, pages=n_pages)
            acro = _acro_values(pdf)
            if pdf.is_encrypted:
                # Hand PDFium a decrypted copy: cheaper than a second AES-256 key derivation
                # (measured 11 ms vs 15.5 ms a form), and PDFium never sees the password.
                out = io.BytesIO()
                pdf.save(out, encryption=False)
                plain = out.getvalue()
            else:
                plain = data
        except FormReadError:
            raise
        except Exception as err:  # noqa: BLE001 - damaged objects surface only when touched
            raise FormReadError(PDF_UNREADABLE, f"PDF structure is damaged: {_one_line(err)}",
                                encrypted=encrypted, pages=n_pages) from err

    try:
        lines, has_images = _text_lines(plain)
    except Exception as err:  # noqa: BLE001 - PDFium raises PdfiumError and friends
        raise FormReadError(PDF_UNREADABLE, f"PDF text could not be extracted: {_one_line(err)}",
                            encrypted=encrypted, pages=n_pages) from err
    return _Document(
        encrypted=encrypted, pages=n_pages, notes=tuple(notes), defects=tuple(defects),
        acro=acro, lines=lines, has_images=has_images,
    )


def _opens_without_password(data: bytes) -> bool:
    try:
        pikepdf.open(io.BytesIO(data), password="", attempt_recovery=False).close()
    except Exception:  # noqa: BLE001 - any failure means "not without a password"
        return False
    return True


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    # qpdf prefixes messages with the stream's repr ("<_io.BytesIO object at 0x…>: …").
    return re.sub(r"^(stream )?<_io\.BytesIO object at 0x[0-9a-f]+>:?\s*", "", text)[:300]


# --------------------------------------------------------------------------- AcroForm


def _acro_values(pdf: pikepdf.Pdf) -> dict[str, object]:
    """Fully qualified field name -> value: str for text/choice/radio, Name str for buttons.

    Hierarchical names are joined with '.' (``parent.child``); values and field types are
    inherited from parents as the PDF spec says.  A button's value is its state name
    without the slash (``Yes``/``Off``); a field without /V maps to None.
    """
    root = pdf.Root
    if "/AcroForm" not in root or "/Fields" not in root.AcroForm:
        return {}
    out: dict[str, object] = {}

    def walk(field: pikepdf.Object, prefix: str, inherited_v: object, depth: int) -> None:
        if depth > 32 or not isinstance(field, pikepdf.Dictionary):
            return
        partial = field.get("/T")
        name = prefix if partial is None else (f"{prefix}.{partial}" if prefix else str(partial))
        value = field.get("/V", inherited_v)
        kids = field.get("/Kids")
        named_kids = [k for k in kids if isinstance(k, pikepdf.Dictionary) and "/T" in k] if kids else []
        if named_kids:
            for kid in named_kids:
                walk(kid, name, value, depth + 1)
            return
        if not name:
            return
        if value is None and str(field.get("/FT", "")) == "/Btn":
            # Some writers set only the widget's appearance state, not /V.
            states = [field.get("/AS")] + [k.get("/AS") for k in (kids or []) if isinstance(k, pikepdf.Dictionary)]
            on = [s for s in states if isinstance(s, pikepdf.Name) and s != pikepdf.Name.Off]
            value = on[0] if on else None
        out[name] = _acro_scalar(value)

    for field in root.AcroForm.Fields:
        walk(field, "", None, 0)
    return out


def _acro_scalar(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, pikepdf.Name):
        return str(value)[1:]
    if isinstance(value, pikepdf.String):
        return str(value)
    if isinstance(value, pikepdf.Array):
        return ", ".join(str(_acro_scalar(v)) for v in value)
    return str(value)


# --------------------------------------------------------------------------- text layer


def _text_lines(plain_pdf: bytes) -> tuple[tuple[_Line, ...], bool]:
    """Visual lines of every page (top to bottom, segments left to right), and whether any
    page carries an image.

    PDFium's own text (``get_text_range``: U+3000, letter spacing and the CID hyphen come
    out right) is cut at its line breaks into segments; each segment gets a box from its
    characters' boxes (one char index per character of that text).  Segments sharing a
    baseline are merged into one line, so the order does not depend on the order in which
    the writer put text into the content stream (Word tables emit cells in odd orders).
    ``get_text_bounded`` is not used: it drops U+3000, which the SSID check needs.
    """
    lines: list[_Line] = []
    has_images = False
    with _PDFIUM_LOCK:
        doc = pdfium.PdfDocument(plain_pdf)
        try:
            for index in range(len(doc)):
                page = doc[index]
                try:
                    textpage = page.get_textpage()
                    try:
                        segments = _segments(textpage)
                    finally:
                        textpage.close()
                    if not has_images:
                        has_images = any(True for _ in page.get_objects(
                            filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=2))
                finally:
                    page.close()
                lines.extend(_merge_segments(segments, index))
        finally:
            doc.close()
    return tuple(lines), has_images


_Segment = tuple[float, float, float, float, str]  # left, bottom, right, top, text


def _segments(textpage: pdfium.PdfTextPage) -> list[_Segment]:
    text = textpage.get_text_range()
    n_chars = textpage.count_chars()
    out: list[_Segment] = []
    pos = 0
    for raw in re.split(r"(\r\n|\r|\n)", text):
        start, pos = pos, pos + len(raw)
        if not raw.strip() or raw in ("\r\n", "\r", "\n"):
            continue
        if len(text) != n_chars:  # never seen; keep the text, lose the geometry
            out.append((0.0, -float(len(out) * 12), 1.0, -float(len(out) * 12) + 10.0, raw))
            continue
        boxes = [textpage.get_charbox(i) for i in range(start, start + len(raw)) if not text[i].isspace()]
        boxes = [b for b in boxes if b[3] > b[1]] or boxes
        out.append((min(b[0] for b in boxes), min(b[1] for b in boxes),
                    max(b[2] for b in boxes), max(b[3] for b in boxes), raw))
    return out


def _merge_segments(segments: list[_Segment], page: int) -> list[_Line]:
    segments.sort(key=lambda s: (-s[3], s[0]))
    rows: list[list[_Segment]] = []
    for seg in segments:
        _, bottom, _, top, _ = seg
        mid = (top + bottom) / 2
        for row in rows[-3:]:  # only recent rows can share a baseline (sorted by top)
            r_top = max(s[3] for s in row)
            r_bottom = min(s[1] for s in row)
            if r_bottom <= mid <= r_top:
                row.append(seg)
                break
        else:
            rows.append([seg])
    lines = []
    for row in rows:
        row.sort(key=lambda s: s[0])
        text = ""
        prev_right = None
        for left, bottom, right, top, seg_text in row:
            height = max(top - bottom, 1.0)
            if text and prev_right is not None and not text[-1].isspace() and not seg_text[0].isspace() \
                    and left - prev_right > 0.3 * height:
                text += " "
            text += seg_text
            prev_right = right
        lines.append(_Line(text=text.strip(), page=page, top=max(s[3] for s in row),
                           bottom=min(s[1] for s in row), left=row[0][0]))
    return lines


# =========================================================================== normalising

_HYPHENS = "-−－‐‑‒–—―ーｰ"
_HYPHEN_TABLE = str.maketrans({c: "-" for c in _HYPHENS})
_SPACE_RE = re.compile(r"\s+")


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _fold(text: str) -> str:
    """Comparison form: NFKC, case-folded, without any whitespace (U+3000 included)."""
    return _SPACE_RE.sub("", _nfkc(text)).casefold()


def _fold_with_map(text: str) -> tuple[str, list[int]]:
    """_fold(), plus for each folded character the index of the raw character it came from."""
    folded: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        if ch.isspace():
            continue
        for out in _nfkc(ch).casefold():
            if not out.isspace():
                folded.append(out)
                origin.append(i)
    return "".join(folded), origin


def _zip_or_phone(value: str | None) -> str | None:
    if value is None:
        return None
    return _SPACE_RE.sub(" ", _nfkc(value).translate(_HYPHEN_TABLE)).strip()


def _customer_code(value: str | None) -> str | None:
    if value is None:
        return None
    compact = _SPACE_RE.sub("", _nfkc(value))
    dehyphenated = compact.translate(_HYPHEN_TABLE).replace("-", "")
    return dehyphenated if re.fullmatch(r"\d{9}", dehyphenated) else compact


_ZIP_RE = re.compile(r"^〒?\s*([0-9０-９]{3})\s*[" + _HYPHENS + r"]?\s*([0-9０-９]{4})(?![0-9０-９])")


def _split_zip(value: str) -> tuple[str | None, str]:
    """'〒143-0016 東京都…' -> ('143-0016', '東京都…'); no postcode -> (None, value)."""
    value = value.strip()
    m = _ZIP_RE.match(value)
    if not m:
        return None, value.removeprefix("〒").strip() if value.startswith("〒") else value
    zip_code = f"{_nfkc(m.group(1))}-{_nfkc(m.group(2))}"
    return zip_code, value[m.end():].strip()


def _mail_local(value: str | None) -> str | None:
    if value is None:
        return None
    local = re.split(r"[@＠]", value, maxsplit=1)[0]
    return _SPACE_RE.sub("", local)


# Units: 親機 1 台 / 子機 2 台 in the 台数 row, or 親1台、子2台 in 備考.  Read as bot.body reads
# them in a mail body (spaced colon 親機 : 1 台, 台, kanji digits 一/二, 子機(CR-1)2台).
_UNIT_SEGMENTS = (
    re.compile(r"親\s*機?\s*(?:台数)?\s*[:=]?\s*(?P<v>.*?)\s*(?=子\s*機|$)", re.DOTALL),
    re.compile(r"子\s*機?\s*(?:台数)?\s*[:=]?\s*(?P<v>.*?)\s*(?=親\s*機|$)", re.DOTALL),
)
_EMPTY_COUNT = re.compile(r"^[\s台〇○_＿]*$")


def _units(text: str | None, *, keep_unreadable: bool = False) -> tuple[str | None, str | None]:
    """(parent, child) as ASCII digits.  With ``keep_unreadable`` (the 台数 row itself, not 備考),
    a box that holds something other than a count (親機 数 台) gives that text as written (NFKC),
    so the units check can send it back instead of the order defaulting to one router."""
    if not text:
        return None, None
    norm = _nfkc(text)
    counts = parse_units(norm)
    out: list[str | None] = []
    for count, segment in zip(counts, _UNIT_SEGMENTS, strict=True):
        if count is not None:
            out.append(str(count))
            continue
        found = segment.search(norm) if keep_unreadable else None
        value = found.group("v").strip() if found else ""
        out.append(None if _EMPTY_COUNT.match(value) else value)
    return out[0], out[1]


def _unit_value(text: str) -> str:
    """A fillable 親機/子機 box: '1', '１台', '二' → '1'/'2'; empty or the template's 〇 → '';
    anything else as written (NFKC), for the units check to send back."""
    norm = _nfkc(text).strip()
    count = parse_count(norm)
    if count is not None:
        return str(count)
    return "" if _EMPTY_COUNT.match(norm) else norm


# =========================================================================== choices

_LINE_KIND_OPTIONS: tuple[tuple[str, str], ...] = (
    ("hikari_next", r"(?:フレッツ)?光ネクスト|hikari_?next"),
    ("b_flets", r"bフレッツ|b_?flets"),
)
_LINE_TYPE_OPTIONS: tuple[tuple[str, str], ...] = (
    ("family", r"ファミリー|family"),
    ("mansion", r"マンション|mansion"),
)
_CHECK_METHOD_OPTIONS: tuple[tuple[str, str], ...] = (
    ("notice", r"開通(?:の)?通知書?|notice"),
    ("bill", r"(?:ntt)?請求書|bill"),
    ("ntt116", r"116|ntt116"),
)
_PLUS_OPTION = re.compile(r"plus|有り?|あり|加入|yes")

# Marks before an option (FORM-SPEC "How a choice is marked"), after NFKC + casefold.
_CHOSEN_MARK = re.compile(r"(?:[■☑☒✓✔●◉レ✅◼⬛]|[\[(]\s*[x✓✔レ■●]\s*[\])])\s*$")
_OPEN_MARK = re.compile(r"(?:[□☐○◯◻⬜]|[\[(]\s*[\])])\s*$")


def _choose(text: str | None, options: Sequence[tuple[str, str]]) -> tuple[str | None, str]:
    """The one option marked as chosen in ``text``: (id or None, note when ambiguous).

    A chosen option carries ■ ☑ ☒ ✓ ✔ ● ◉ レ [x] (x) right before its label, an open one
    □ ☐ ○ [ ].  None or several chosen -> None.  When no option carries any mark and
    exactly one option is written, that option is the value (the choice typed as text).
    """
    if not text:
        return None, ""
    norm = _nfkc(text).casefold()
    chosen: list[str] = []
    present: list[str] = []
    marked = False
    for key, pattern in options:
        for m in re.finditer(pattern, norm):
            present.append(key)
            before = norm[: m.start()]
            if _CHOSEN_MARK.search(before):
                chosen.append(key)
                marked = True
            elif _OPEN_MARK.search(before):
                marked = True
    distinct = sorted(set(chosen), key=chosen.index)
    if len(distinct) == 1:
        return distinct[0], ""
    if len(distinct) > 1:
        return None, f"several options marked ({', '.join(distinct)})"
    if not marked and len(set(present)) == 1:
        return present[0], ""
    return None, ""


def _choice_value(value: object, options: Sequence[tuple[str, str]]) -> tuple[str | None, str]:
    """An AcroForm choice value: an id (``hikari_next``), a radio state, or label text."""
    if value is None:
        return None, ""
    text = str(value).strip()
    if not text or text.casefold() == "off":
        return None, ""
    ids = {key for key, _ in options}
    if text in ids:
        return text, ""
    return _choose(text, options)


_PLUS_WRITTEN_YES = frozenset({"有", "有り", "あり", "加入", "yes"})


def _plus_from_text(text: str | None) -> bool:
    """USEN SPOT Plus: true when 'Plus' (or 有) carries a chosen mark, or 有/あり is written.

    A bare 'Plus' is not a choice: it is the printed option whose box may simply be missing.
    """
    if not text:
        return False
    norm = _nfkc(text).casefold()
    for m in _PLUS_OPTION.finditer(norm):
        if _CHOSEN_MARK.search(norm[: m.start()]):
            return True
    return _fold(text) in _PLUS_WRITTEN_YES


def _truthy_button(value: object) -> bool:
    if value is None:
        return False
    text = _fold(str(value))
    if text in {"", "off", "no", "false", "0", "無", "なし", "無し"}:
        return False
    return True


# =========================================================================== typed forms

# Block headers: 【ご契約者】, [設置先], ■回線 … (a bracketed or bare block name alone on a line).
_BLOCKS: tuple[tuple[str, str], ...] = (
    ("contractor", r"(?:ご)?契約者(?:様)?(?:情報)?"),
    ("shop", r"設置(?:先|場所)(?:情報)?"),
    ("line", r"(?:ご利用)?回線(?:情報)?"),
    ("mail", r"メール(?:アドレス)?(?:情報)?"),
    ("contact", r"(?:ご)?担当(?:者)?(?:情報)?"),
    ("service", r"サービス(?:内容)?"),
    ("units", r"台数"),
)
_BRACKETED = re.compile(r"^[【\[(<〈《≪■◆◇●▼▶]\s*(.+?)\s*[】\])>〉》≫]?$")

# Labels at the start of a line, matched on the folded text (NFKC, casefold, no spaces).
# Order matters: the longer or more specific label first.  `single` labels must be
# followed by a space, a colon or the line end in the raw text (名 vs 名取).
_LABELS: tuple[tuple[str, str, bool], ...] = (
    ("customer_code", r"(?:unis)?顧客(?:コード|cd|番号|no\.?)", False),
    ("mail_local", r"(?:ご希望の)?(?:メールアドレス|e?mailアドレス)", False),
    ("mail_local", r"e-?mail", True),
    ("kana", r"フリガナ|ふりがな", False),
    ("shop_name", r"店舗[/・／]?施設名(?:称)?|店舗名(?:称)?|施設名(?:称)?", False),
    ("name", r"名称|(?:ご契約者)?(?:氏名|お名前)|契約者名", False),
    ("zip", r"郵便番号", False),
    ("address", r"(?:ご)?住所|所在地", False),
    ("phone", r"電話番号|電話", False),
    ("phone", r"tel\.?", True),
    ("line_kind", r"(?:ご利用)?回線種別", False),
    ("line_type", r"(?:ご利用)?回線タイプ", False),
    ("check_method", r"(?:回線の)?確認方法", False),
    ("contact", r"(?:ご)?担当者(?:名|氏名)?", False),
    ("contact_last", r"姓", True),
    ("contact_first", r"名", True),
    ("contact_kana", r"セイ|メイ", True),  # reading of the contact's name: recognised, not kept
    ("plus", r"(?:usen)?spotplus", False),
    ("ssid", r"(?:original|オリジナル)?ssid(?:\((?:original|オリジナル)ssid\))?", False),
    ("units", r"台数", False),
    ("units_inline", r"(?=親機|子機)", False),
    ("remarks", r"備考", False),
)
_LABEL_RES = tuple((key, re.compile(pattern), single) for key, pattern, single in _LABELS)

# Printed text of the form itself that is neither label nor value (title, intro, footer).
_BOILERPLATE = re.compile(
    r"^(?:usenspot)?(?:ご加入|加入)?申込書$|^usenspotご加入申込書|^お申し?込みいただき"
    r"|^株式会社usen.*申込書|申込書ver\.?\d"
)


@dataclass(frozen=True)
class _Labelled:
    key: str
    value: str  # raw text after the label on its own line (stripped of : and spaces)
    continuation: tuple[str, ...]  # raw value lines below it, up to the next label


def _classify(line: _Line) -> tuple[str, object]:
    """('header', block) | ('label', (key, raw value)) | ('boilerplate', None) | ('text', None)."""
    folded, origin = _fold_with_map(line.text)
    if not folded:
        return "text", None
    if _BOILERPLATE.search(folded):
        return "boilerplate", None
    bracket = _BRACKETED.match(folded)
    inner = bracket.group(1) if bracket else folded
    for block, pattern in _BLOCKS:
        if re.fullmatch(pattern, inner) and (bracket or block not in {"units"}):
            return "header", block
    for key, regex, single in _LABEL_RES:
        m = regex.match(folded)
        if not m:
            continue
        end = origin[m.end() - 1] + 1 if m.end() > 0 else 0
        rest = line.text[end:]
        if single and rest and not (rest[0].isspace() or rest[0] in ":："):
            continue  # 名取 is a value, not the label 名
        if key in {"units_inline", "contact_last", "contact_first"}:
            return "label", (key, line.text.strip())  # the label is part of the value
        return "label", (key, rest.lstrip(" \t\u3000:：").rstrip())
    return "text", None


def _labelled_items(lines: Sequence[_Line]) -> Iterator[tuple[str, str | None, _Labelled]]:
    """Walk the lines top to bottom: (kind, block, item) for headers and labels.

    Value lines below a label belong to it while they are plain text (no label, header or
    boilerplate), on the same page, not left of the label (a value never sits left of its
    label), and close below the line before (a gap of more than twice the line height means
    the form's footer or another area, not this value).
    """
    kinds = [_classify(line) for line in lines]
    for i, (kind, payload) in enumerate(kinds):
        if kind == "header":
            yield "header", str(payload), _Labelled("", "", ())
        elif kind == "label":
            key, value = payload  # type: ignore[misc]
            continuation: list[str] = []
            prev = label_line = lines[i]
            for j in range(i + 1, len(lines)):
                nxt = lines[j]
                if kinds[j][0] != "text" or nxt.page != prev.page or nxt.left < label_line.left - 2.0:
                    break
                if prev.bottom - nxt.top > 2.0 * max(prev.height, nxt.height, 6.0):
                    break
                continuation.append(nxt.text.strip())
                prev = nxt
            yield "label", None, _Labelled(key, value, tuple(continuation))


def _first_value(item: _Labelled) -> str:
    """Single-line fields: the text beside the label, else the first line under it."""
    if item.value:
        return item.value
    return item.continuation[0] if item.continuation else ""


def _all_value(item: _Labelled, sep: str) -> str:
    parts = ([item.value] if item.value else []) + list(item.continuation)
    return sep.join(parts).strip()


@dataclass
class _TypedResult:
    values: dict[str, object]
    notes: list[str]
    labels_found: int


def _parse_typed(lines: Sequence[_Line]) -> _TypedResult:
    """Values of a typed form by label and block (see module docstring)."""
    values: dict[str, object] = {}
    notes: list[str] = []
    seen: set[str] = set()
    block: str | None = None
    labels_found = 0

    def block_field(kind: str) -> str | None:
        """contractor_/shop_ field for a label that appears in both blocks."""
        nonlocal block
        if block not in {"contractor", "shop"}:
            block = "contractor"
        name = f"{block}_{kind}"
        if name in seen and block == "contractor":
            # Forms without block headers: the second 住所/電話番号/… is the 設置先's.
            block = "shop"
            name = f"shop_{kind}"
        return None if name in seen else name

    for kind, header, item in _labelled_items(lines):
        if kind == "header":
            block = header
            continue
        labels_found += 1
        key = item.key
        if key == "kana":
            if block == "mail":  # set by 【メール】 or by the ご希望のメールアドレス row
                target = "mail_reading"
            elif block == "contact":
                continue  # セイ/メイ reading of the contact person: not needed
            else:
                target = block_field("kana") or ""
            if target and target not in seen:
                seen.add(target)
                values[target] = _first_value(item)
        elif key == "name":
            target = "shop_name" if block == "shop" else block_field("name")
            if target and target not in seen:
                seen.add(target)
                values[target] = _first_value(item)
        elif key == "shop_name":
            block = "shop"
            if "shop_name" not in seen:
                seen.add("shop_name")
                values["shop_name"] = _first_value(item)
        elif key == "zip":
            target = block_field("zip")
            if target:
                seen.add(target)
                values[target] = _zip_or_phone(_first_value(item))
        elif key == "address":
            target = block_field("address")
            if target:
                seen.add(target)
                zip_field = target.removesuffix("_address") + "_zip"
                zip_code, address = _split_zip(_all_value(item, " "))
                values[target] = address
                # 〒 in the address wins; else a separate 郵便番号 row; else present but empty.
                if zip_code is not None or not values.get(zip_field):
                    values[zip_field] = zip_code or ""
                seen.add(zip_field)
        elif key == "phone":
            target = block_field("phone")
            if target:
                seen.add(target)
                values[target] = _zip_or_phone(_first_value(item))
        elif key == "customer_code":
            if "customer_code" not in seen:
                seen.add("customer_code")
                values["customer_code"] = _customer_code(_first_value(item))
        elif key in {"line_kind", "line_type", "check_method"}:
            block = "line"
            options = {"line_kind": _LINE_KIND_OPTIONS, "line_type": _LINE_TYPE_OPTIONS,
                       "check_method": _CHECK_METHOD_OPTIONS}[key]
            choice, note = _choose(_all_value(item, " "), options)
            if note:
                notes.append(f"{key}: {note}")
            seen.add(key)
            values[key] = choice
        elif key == "mail_local":
            block = "mail"
            seen.add("mail_local")
            values["mail_local"] = _mail_local(_first_value(item))
        elif key == "contact":
            block = "contact"
            last, first = _split_contact(_all_value(item, " "))
            values.setdefault("contact_last", last)
            values.setdefault("contact_first", first)
        elif key == "contact_last" and block == "contact":
            # 姓: 香川 名: 花子 on one line, or 姓 / 名 on lines of their own.
            last, first = _split_contact(item.value)
            values["contact_last"] = last if last is not None else _first_value(
                _Labelled(key, "", item.continuation))
            if first is not None:
                values["contact_first"] = first
        elif key == "contact_first" and block == "contact":
            first = re.sub(r"^名\s*[:：]?", "", item.value).strip()
            values["contact_first"] = first or _first_value(_Labelled(key, "", item.continuation))
        elif key == "plus":
            block = "service"
            values["plus"] = _plus_from_text(_all_value(item, " "))
        elif key == "ssid":
            block = "service"
            values["ssid"] = _first_value(item)  # RAW: full-width kept for SSID_NOT_HALFWIDTH
        elif key in {"units", "units_inline"}:
            block = "units"
            # Only the 台数 row's boxes are kept when unreadable; a free line that merely starts
            # with 子機 (子機はCR-1です) gives a count or nothing, and never replaces a read count.
            parent, child = _units(_all_value(item, " "), keep_unreadable=key == "units")
            for field, count in (("parent_units", parent), ("child_units", child)):
                if count is not None and not (str(values.get(field) or "").isdigit() and not count.isdigit()):
                    values[field] = count
        elif key == "remarks":
            values["remarks"] = _all_value(item, "\n")
    return _TypedResult(values=values, notes=notes, labels_found=labels_found)


_CONTACT_RE = re.compile(r"^姓\s*[:：]?\s*(.*?)\s+名\s*[:：]?\s*(.*)$")


def _split_contact(text: str) -> tuple[str | None, str | None]:
    """'姓: 香川 名: 花子' or '香川 花子' -> ('香川', '花子'); one word -> (word, None)."""
    text = text.strip()
    if not text:
        return None, None
    m = _CONTACT_RE.match(text)
    if m:
        return m.group(1).strip(), m.group(2).strip()
    if text.startswith("姓"):
        return re.sub(r"^姓\s*[:：]?", "", text).strip() or None, None
    parts = re.split(r"[\s\u3000]+", text, maxsplit=1)
    return parts[0], (parts[1] if len(parts) > 1 else None)


# =========================================================================== fillable forms


def _from_acro(acro: Mapping[str, object], names: Mapping[str, str]) -> tuple[dict[str, object], list[str]]:
    values: dict[str, object] = {}
    notes: list[str] = []
    for field in FIELD_NAMES:
        pdf_name = names.get(field, field)
        if pdf_name not in acro:
            continue
        raw = acro[pdf_name]
        if field == "plus":
            values["plus"] = _truthy_button(raw)
            continue
        text = None if raw is None else str(raw).strip()
        if field in {"line_kind", "line_type", "check_method"}:
            options = {"line_kind": _LINE_KIND_OPTIONS, "line_type": _LINE_TYPE_OPTIONS,
                       "check_method": _CHECK_METHOD_OPTIONS}[field]
            choice, note = _choice_value(text, options)
            if note:
                notes.append(f"{field}: {note}")
            values[field] = choice
        elif field.endswith(("_zip", "_phone")):
            values[field] = _zip_or_phone(text if text is not None else "")
        elif field == "customer_code":
            values[field] = _customer_code(text if text is not None else "")
        elif field == "mail_local":
            values[field] = _mail_local(text if text is not None else "")
        elif field in {"parent_units", "child_units"}:
            values[field] = _unit_value(text or "")
        else:
            values[field] = text if text is not None else ""  # ssid stays raw
    return values, notes


# =========================================================================== assembling


def _build_fields(values: Mapping[str, object]) -> FormFields:
    merged = dict(values)
    # 台数 written only in 備考 (親1台、子2台): fill the empty (or unreadable) unit fields from it.
    def readable(key: str) -> bool:
        return str(merged.get(key) or "").isdigit()

    if not readable("parent_units") or not readable("child_units"):
        parent, child = _units(merged.get("remarks") if isinstance(merged.get("remarks"), str) else None)
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


def _has_text(lines: Sequence[_Line]) -> bool:
    return any(line.text.strip() for line in lines)


def read_form(
    data: bytes,
    *,
    password: str,
    field_names: Mapping[str, str] | None = None,
    max_bytes: int = 20_000_000,
    max_pages: int = 20,
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
        doc = _open(data, password, max_bytes=max_bytes, max_pages=max_pages)
    except FormReadError as err:
        log.info("application form unreadable: %s (%s)", err.defect, err.detail)
        return FormReading(shape=SHAPE_UNKNOWN, fields=None, defects=(err.defect,), detail=err.detail,
                           encrypted=err.encrypted, pages=err.pages)
    except Exception as err:  # noqa: BLE001 - contract: never raise for bad input
        log.exception("unexpected failure reading an application form")
        return FormReading(shape=SHAPE_UNKNOWN, fields=None, defects=(PDF_UNREADABLE,),
                           detail=f"unexpected error reading the PDF: {_one_line(err)}", encrypted=False, pages=0)

    notes = list(doc.notes)
    mapped_present = [f for f in FIELD_NAMES if names.get(f, f) in doc.acro]
    mapped_filled = [f for f in mapped_present if doc.acro[names.get(f, f)] not in (None, "", "Off")]

    def reading(shape: str, fields: FormFields | None) -> FormReading:
        detail = "; ".join(notes) if notes else f"read as {shape} form"
        return FormReading(shape=shape, fields=fields, defects=doc.defects, detail=detail,
                           encrypted=doc.encrypted, pages=doc.pages)

    if mapped_filled or len(mapped_present) >= 3:
        values, acro_notes = _from_acro(doc.acro, names)
        notes.extend(acro_notes)
        if not mapped_filled:
            notes.append("AcroForm fields are all empty")
        return reading(SHAPE_FILLABLE, _build_fields(values))

    typed = _parse_typed(doc.lines)
    typed_has_values = any(isinstance(v, str) and v for v in typed.values.values())
    filled_other = sorted(name for name, v in doc.acro.items() if v not in (None, "", "Off"))
    if typed.labels_found >= 2 and (typed_has_values or not filled_other):
        notes.extend(typed.notes)
        return reading(SHAPE_TYPED, _build_fields(typed.values))
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
    if not _has_text(doc.lines):
        notes.append("no text layer and no form field values (image only)")
        return reading(SHAPE_SCANNED, None)
    if doc.has_images:
        notes.append("an image with stray text but no form label (scanned)")
        return reading(SHAPE_SCANNED, None)
    notes.append("the PDF has text but none of the application form's labels")
    return reading(SHAPE_UNKNOWN, None)


# =========================================================================== 解約申請書

_TERMINATION_LABELS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("customer_code", re.compile(r"(?:unis)?顧客(?:コード|cd|番号|no\.?)")),
    ("date", re.compile(r"解約(?:希望|予定)?日")),
)

_ERAS: Mapping[str, int] = MappingProxyType({"令和": 2018, "r": 2018, "平成": 1988, "h": 1988})
_DATE_RES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], tuple[int, int, int]]], ...] = (
    (re.compile(r"(令和|平成|r|h)\s*\.?\s*(\d{1,2}|元)\s*[年./\-]\s*(\d{1,2})\s*[月./\-]\s*(\d{1,2})"),
     lambda m: (_ERAS[m.group(1)] + (1 if m.group(2) == "元" else int(m.group(2))),
                int(m.group(3)), int(m.group(4)))),
    (re.compile(r"(?<!\d)(\d{4})\s*[年./\-]\s*(\d{1,2})\s*[月./\-]\s*(\d{1,2})"),
     lambda m: (int(m.group(1)), int(m.group(2)), int(m.group(3)))),
)


def parse_date(text: str | None) -> dt.date | None:
    """A date as written on the 解約申請書: 2026/11/30, 2026-11-30, 2026.11.30, 2026年11月30日,
    令和8年11月30日 (令和元年, R8.11.30), full-width digits too.  None if there is no valid date."""
    if not text:
        return None
    norm = _nfkc(text).casefold().translate(str.maketrans({c: "-" for c in "−‐‑‒–—―"}))
    for regex, parts in _DATE_RES:
        m = regex.search(norm)
        if m:
            try:
                return dt.date(*parts(m))
            except ValueError:
                return None
    return None


def read_termination_form(
    data: bytes, *, password: str, max_bytes: int = 20_000_000, max_pages: int = 20
) -> TerminationReading:
    """Read a 解約申請書 PDF: 顧客CD and 解約日.  Never raises for bad input.

    A missing or unreadable date gives ``termination_date=None`` without a defect: the
    caller turns that into TERMINATION_DATE_MISSING.
    """
    try:
        doc = _open(data, password, max_bytes=max_bytes, max_pages=max_pages)
    except FormReadError as err:
        log.info("termination form unreadable: %s (%s)", err.defect, err.detail)
        return TerminationReading(shape=SHAPE_UNKNOWN, customer_code=None, termination_date=None,
                                  defects=(err.defect,), detail=err.detail, encrypted=err.encrypted)
    except Exception as err:  # noqa: BLE001 - contract: never raise for bad input
        log.exception("unexpected failure reading a termination form")
        return TerminationReading(shape=SHAPE_UNKNOWN, customer_code=None, termination_date=None,
                                  defects=(PDF_UNREADABLE,), detail=f"unexpected error: {_one_line(err)}",
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
        code = _customer_code(str(acro_code)) if acro_code else None
        date_text = str(acro_date) if acro_date else None
    else:
        for i, line in enumerate(doc.lines):
            folded, origin = _fold_with_map(line.text)
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
                            key == "customer_code" and re.fullmatch(r"\d{9}", _customer_code(candidate) or "")):
                        value = candidate
                if key == "customer_code" and code is None:
                    code = _customer_code(value) or None
                elif key == "date" and date_text is None:
                    date_text = value
                    date_label_seen = True
                break
        if code is None and date_text is None:
            if not _has_text(doc.lines) or doc.has_images:
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
    return TerminationReading(
        shape=shape, customer_code=code, termination_date=date, defects=doc.defects,
        detail="; ".join(notes) if notes else f"read as {shape} form", encrypted=doc.encrypted,
    )
