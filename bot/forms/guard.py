"""The PDF's edge: what a file may make the readers spend, checked before they touch it.

Three moments, each cheap compared to what it prevents:

- :func:`check_raw` on the bytes as attached, before qpdf parses them: file size, the
  ``%PDF-`` header, the object count a trailer or cross-reference stream claims, and every
  cross-reference stream inflated with a cap (qpdf inflates those whole while opening, and
  they are never encrypted, so they can be measured from the raw bytes).
- :func:`check_document` on the opened document, before any stream is decoded: the object
  count, then every stream decoded with a cap (FlateDecode chains inflated incrementally, so
  a bomb costs at most the limit, never its full size), image dimensions, and the page count.
- The field tree walk itself counts its nodes (:mod:`bot.forms.fillable`).

Whatever slips past these (a decoder bug, a page tree that explodes inside qpdf) is caught by
the reader process's own memory and time limits (:mod:`bot.forms.workers`).
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from collections.abc import Iterator

import pikepdf

from bot.config.limits import LimitExceeded, Limits

_CHUNK = 1 << 16
_SMALL = 1 << 20
# How much each filter can at most multiply its input: a chain whose bound stays under the
# limit need not be decoded to be measured.
_GROWTH = {
    "/ASCIIHexDecode": 1.0, "/AHx": 1.0, "/ASCII85Decode": 4.0, "/A85": 4.0,
    "/RunLengthDecode": 128.0, "/RL": 128.0, "/LZWDecode": 2731.0, "/LZW": 2731.0,
    "/FlateDecode": 1032.0, "/Fl": 1032.0,
}
_IMAGE_FILTERS = frozenset({"/DCTDecode", "/DCT", "/JPXDecode", "/CCITTFaxDecode", "/CCF", "/JBIG2Decode"})
_SIZE_RE = re.compile(rb"/Size\s+(\d{1,12})\b")
_XREF_STREAM_RE = re.compile(rb"/Type\s*/XRef\b")
_STREAM_KEYWORD_RE = re.compile(rb"stream(?:\r\n|\n|\r)")


def check_raw(data: bytes, limits: Limits) -> None:
    """Limits that can be checked on the file's bytes before qpdf reads them."""
    if len(data) > limits.pdf_bytes:
        raise LimitExceeded("pdf_bytes", f"the file is {len(data):,} bytes, over {limits.pdf_bytes:,}")
    for m in _SIZE_RE.finditer(data):
        if int(m.group(1)) > limits.pdf_objects:
            raise LimitExceeded("pdf_objects", f"the PDF declares {int(m.group(1)):,} objects (/Size), "
                                f"over {limits.pdf_objects:,}")
    for m in _XREF_STREAM_RE.finditer(data):
        keyword = _STREAM_KEYWORD_RE.search(data, m.end(), m.end() + 4096)
        if keyword is None:
            continue
        # The stream runs to `endstream`; inflate what is there (a wrong /Length is qpdf's
        # problem, a bomb is ours). Cross-reference streams are never encrypted.
        size = _inflated_size(data[keyword.end():], cap=limits.pdf_stream_bytes)
        if size > limits.pdf_stream_bytes:
            raise LimitExceeded("pdf_stream_bytes", f"a cross-reference stream inflates to over "
                                f"{limits.pdf_stream_bytes:,} bytes")


def check_document(pdf: pikepdf.Pdf, limits: Limits) -> int:
    """Object count, decoded stream sizes, image sizes and pages of an opened document; returns
    the page count. Raises :class:`LimitExceeded` naming the first limit crossed."""
    total = 0
    count = 0
    for obj in pdf.objects:
        count += 1
        if count > limits.pdf_objects:
            raise LimitExceeded("pdf_objects", f"the PDF has over {limits.pdf_objects:,} objects")
        if not isinstance(obj, pikepdf.Stream):
            continue
        size = _decoded_size(obj, limits)
        if size > limits.pdf_stream_bytes:
            raise LimitExceeded("pdf_stream_bytes", f"stream {_ref(obj)} decodes to over "
                                f"{limits.pdf_stream_bytes:,} bytes")
        total += size
        if total > limits.pdf_document_bytes:
            raise LimitExceeded("pdf_document_bytes", f"the PDF's streams decode to over "
                                f"{limits.pdf_document_bytes:,} bytes together")
    pages = len(pdf.pages)
    if pages > limits.pdf_pages:
        raise LimitExceeded("pdf_pages", f"the PDF has {pages} pages, over {limits.pdf_pages}")
    return pages


def _ref(obj: pikepdf.Object) -> str:
    return f"{obj.objgen[0]} {obj.objgen[1]} R"


def _filters(stream: pikepdf.Stream) -> list[str]:
    value = stream.get("/Filter")
    if value is None:
        return []
    if isinstance(value, pikepdf.Array):
        return [str(v) for v in value]
    return [str(value)]


def _decoded_size(stream: pikepdf.Stream, limits: Limits) -> int:
    """Bytes the stream decodes to, counted up to just past the per-stream limit."""
    filters = _filters(stream)
    if str(stream.get("/Subtype", "")) == "/Image":
        width, height = _int(stream.get("/Width")), _int(stream.get("/Height"))
        if width * height > limits.pdf_image_pixels:
            raise LimitExceeded("pdf_image_pixels", f"image {_ref(stream)} is {width:,} x {height:,} pixels, "
                                f"over {limits.pdf_image_pixels:,}")
    raw = stream.read_raw_bytes()
    if not filters:
        return len(raw)
    if any(f in _IMAGE_FILTERS for f in filters):
        # Decoded by PDFium only when a page is drawn; bounded by the pixel check above.
        return len(raw)
    cap = limits.pdf_stream_bytes
    if all(f in ("/FlateDecode", "/Fl") for f in filters):
        # Counted exactly (cheap next to what PDFium does with it): a document limit built on
        # estimates would let many small bombs through.
        return _count(_inflate_chain(raw, len(filters), cap), cap)
    bound = float(len(raw))
    for f in filters:
        bound *= _GROWTH.get(f, 1.0)
    if bound <= _SMALL:
        return int(bound)  # at most this: not worth decoding to measure
    # Other chains: decode stage by stage with a cap; LZW and RunLength go to qpdf, whose output
    # the reader process's memory limit bounds.
    data = raw
    for f in filters:
        if f in ("/FlateDecode", "/Fl"):
            data = b"".join(_inflate_chain(data, 1, cap + 1))[: cap + 1]
        elif f in ("/ASCIIHexDecode", "/AHx"):
            data = _hex(data)
        elif f in ("/ASCII85Decode", "/A85"):
            data = _a85(data)
        elif f in ("/RunLengthDecode", "/RL"):
            data = _runlength(data, cap=cap + 1)
        elif f in ("/LZWDecode", "/LZW"):
            data = _lzw(data, cap=cap + 1, early=_early_change(stream))
        else:
            try:
                data = stream.read_bytes()  # qpdf decodes the whole chain
            except pikepdf.PdfError:
                return len(raw)  # undecodable: PDFium will fail on it and say so
            break
        if len(data) > cap:
            break
    return len(data)


def _inflated_size(data: bytes, *, cap: int) -> int:
    return _count(_inflate_chain(data, 1, cap), cap)


def _count(chunks: Iterator[bytes], cap: int) -> int:
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > cap:
            break
    return total


def _inflate_chain(data: bytes, stages: int, cap: int) -> Iterator[bytes]:
    """Inflate `data` through `stages` FlateDecode filters, yielding at most a little over `cap`
    bytes in chunks, never holding more than a chunk of any stage. Corrupt data ends the stream
    (as PDF readers do: they show what inflated)."""

    def stage(source: Iterator[bytes]) -> Iterator[bytes]:
        inflater = zlib.decompressobj()
        produced = 0
        for piece in source:
            pending = piece
            while pending and produced <= cap:
                try:
                    out = inflater.decompress(pending, _CHUNK)
                except zlib.error:
                    return
                pending = inflater.unconsumed_tail
                produced += len(out)
                if out:
                    yield out
                if inflater.eof:
                    return
            if produced > cap:
                return

    def source() -> Iterator[bytes]:
        for i in range(0, len(data), _CHUNK):
            yield data[i:i + _CHUNK]

    chunks: Iterator[bytes] = source()
    for _ in range(stages):
        chunks = stage(chunks)
    return chunks


def _hex(data: bytes) -> bytes:
    text = re.sub(rb"\s", b"", data).split(b">", 1)[0]
    if len(text) % 2:
        text += b"0"
    try:
        return binascii.unhexlify(text)
    except binascii.Error:
        return b""


def _a85(data: bytes) -> bytes:
    text = data.strip()
    if text.startswith(b"<~"):
        text = text[2:]
    text = text.split(b"~>", 1)[0]
    try:
        return base64.a85decode(text, ignorechars=b" \t\r\n\f\v")
    except ValueError:
        return b""


def _runlength(data: bytes, *, cap: int) -> bytes:
    """RunLengthDecode (PDF 32000 §7.4.5) up to `cap` output bytes."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n and len(out) <= cap:
        length = data[i]
        if length == 128:
            break
        if length < 128:
            out += data[i + 1: i + 2 + length]
            i += 2 + length
        else:
            if i + 1 >= n:
                break
            out += data[i + 1: i + 2] * (257 - length)
            i += 2
    return bytes(out)


def _early_change(stream: pikepdf.Stream) -> int:
    parms = stream.get("/DecodeParms")
    if isinstance(parms, pikepdf.Array):
        parms = next((p for p in parms if isinstance(p, pikepdf.Dictionary) and "/EarlyChange" in p), None)
    if isinstance(parms, pikepdf.Dictionary) and "/EarlyChange" in parms:
        return 1 if _int(parms.get("/EarlyChange")) else 0
    return 1


def _lzw(data: bytes, *, cap: int, early: int = 1) -> bytes:
    """LZWDecode (PDF 32000 §7.4.4) up to `cap` output bytes. qpdf decodes a whole LZW stream
    into memory before anyone can count it (an 800 KB stream → 1 GiB); this stops at the cap.
    Corrupt codes end the data, as readers do."""
    out = bytearray()
    table: list[bytes] = [bytes([i]) for i in range(256)] + [b"", b""]
    width = 9
    bits = 0
    nbits = 0
    prev: bytes | None = None
    for byte in data:
        bits = (bits << 8) | byte
        nbits += 8
        while nbits >= width:
            nbits -= width
            code = (bits >> nbits) & ((1 << width) - 1)
            bits &= (1 << nbits) - 1
            if code == 256:
                table = table[:258]
                width, prev = 9, None
                continue
            if code == 257:
                return bytes(out)
            if code < len(table) and code != 256 and code != 257:
                entry = table[code]
            elif code == len(table) and prev is not None:
                entry = prev + prev[:1]
            else:
                return bytes(out)
            out += entry
            if len(out) > cap:
                return bytes(out)
            if prev is not None and len(table) < 4096:
                table.append(prev + entry[:1])
            prev = entry
            if len(table) + early >= (1 << width) and width < 12:
                width += 1
    return bytes(out)


def _int(value: object) -> int:
    try:
        return max(int(value), 0)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0
