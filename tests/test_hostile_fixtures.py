"""tests/fixtures/hostile.py makes what it claims: small bombs that really inflate, the object
graphs it describes, mails whose headers hold what the docstrings say.

Cheap on purpose: a bomb at its full size is only inflated for its first MiB; the exact size
and the zlib checksum are checked on small sizes (and on 64 MiB for the checksum arithmetic).
"""

from __future__ import annotations

import email
import email.header
import email.utils
import io
import re
import warnings
import zlib
from email.parser import BytesHeaderParser

import pikepdf
import pytest

from tests.fixtures import hostile as h

SMALL = 2 * h.MIB + 3  # an odd size: the remainder paths of every encoder run too


def _open(data: bytes, password: str = h.PASSWORD, **kwargs: object) -> pikepdf.Pdf:
    return pikepdf.open(io.BytesIO(data), password=password, **kwargs)


def _inflate_head(raw: bytes, n: int = h.MIB) -> bytes:
    return zlib.decompressobj().decompress(raw, n)


def _decoded(stream: pikepdf.Stream) -> bytes:
    return stream.read_bytes(pikepdf.StreamDecodeLevel.specialized)


# ------------------------------------------------------------------ the encoders themselves


@pytest.mark.parametrize("fill", [0, 1, 127, h.MIB - 1, h.MIB, 3 * h.MIB + 17])
@pytest.mark.parametrize("unit", [b"\0", b"\x81\x00", b"abc"])
def test_deflate_repeated_is_exact_with_a_valid_checksum(fill: int, unit: bytes) -> None:
    data = h.deflate_repeated(fill, prefix=b"head", unit=unit, suffix=b"tail")
    expected = b"head" + (unit * (fill // len(unit) + 1))[:fill] + b"tail"
    assert zlib.decompress(data) == expected  # zlib checks the Adler-32 trailer


def test_deflate_repeated_checksum_holds_at_scale() -> None:
    data = h.deflate_repeated(64 * h.MIB + 5, prefix=b"x")
    out = zlib.decompressobj()
    total = 0
    for i in range(0, len(data), 65536):
        total += len(out.decompress(data[i:i + 65536]))
    total += len(out.flush())
    assert out.eof and total == 64 * h.MIB + 6


@pytest.mark.parametrize("size", [0, 1, 2, 3, 1000, 7_000_000, SMALL])
def test_lzw_zeros_decodes_to_exactly_size_zeros(size: int) -> None:
    pdf = pikepdf.new()
    stream = pikepdf.Stream(pdf, b"")
    stream.write(h.lzw_zeros(size), filter=pikepdf.Name.LZWDecode)
    assert stream.read_bytes() == bytes(size)


# ------------------------------------------------------------------ bombs

STREAM_BOMBS = {
    # name: (generator, where the stream is, decoded prefix)
    "flate_content_bomb": (h.flate_content_bomb, lambda p: p.pages[0].obj.Contents, h.CONTENT_TEXT),
    "nested_flate_bomb": (h.nested_flate_bomb, lambda p: p.pages[0].obj.Contents, h.CONTENT_TEXT),
    "font_file_bomb": (h.font_file_bomb, lambda p: p.pages[0].obj.Resources.Font.F1.FontDescriptor.FontFile2, b""),
    "image_bomb": (h.image_bomb, lambda p: p.pages[0].obj.Resources.XObject.Im0, b""),
    "field_value_bomb": (h.field_value_bomb, lambda p: p.Root.AcroForm.Fields[0].V, b"123456789"),
    "lzw_bomb": (h.lzw_bomb, lambda p: p.pages[0].obj.Contents, b""),
    "runlength_bomb": (h.runlength_bomb, lambda p: p.pages[0].obj.Contents, b""),
    "runlength_flate_bomb": (lambda size=h.GIB, **kw: h.runlength_bomb(size, flate_wrapped=True, **kw),
                             lambda p: p.pages[0].obj.Contents, b""),
}
# Compressed size bounds at the default size (1 GiB; RunLength alone: 64 MiB).
MAX_BYTES = {"nested_flate_bomb": 20_000, "runlength_flate_bomb": 40_000}


@pytest.mark.parametrize("name", sorted(STREAM_BOMBS))
def test_stream_bomb_at_full_size_is_small_and_encrypted(name: str) -> None:
    make, where, prefix = STREAM_BOMBS[name]
    data = make()
    assert len(data) < MAX_BYTES.get(name, 1_300_000)
    with pytest.raises(pikepdf.PasswordError):
        _open(data, "")
    with _open(data) as pdf:
        stream = where(pdf)
        raw = stream.read_raw_bytes()
        filters = stream.get("/Filter")
        first = filters[0] if isinstance(filters, pikepdf.Array) else filters
        if first == pikepdf.Name.FlateDecode:
            head = _inflate_head(raw)
            if name == "nested_flate_bomb":
                head = _inflate_head(head)
            elif name == "runlength_flate_bomb":
                assert head[:4] == b"\x81\x00\x81\x00"
                head = b""
            assert head.startswith(prefix)
            assert not head[len(prefix):].strip(b"\0")
    if name == "image_bomb":
        with _open(data) as pdf:
            image = pdf.pages[0].obj.Resources.XObject.Im0
            assert int(image.Width) * int(image.Height) >= 1_000_000_000


@pytest.mark.parametrize("encrypt", [True, False])
@pytest.mark.parametrize("name", sorted(STREAM_BOMBS))
def test_stream_bomb_at_small_size_decodes_exactly(name: str, encrypt: bool) -> None:
    make, where, prefix = STREAM_BOMBS[name]
    with _open(make(SMALL, encrypt=encrypt), h.PASSWORD if encrypt else "") as pdf:
        assert pdf.is_encrypted is encrypt
        decoded = _decoded(where(pdf))
    expected = int(SMALL ** 0.5) ** 2 if name == "image_bomb" else SMALL + len(prefix)
    assert len(decoded) == expected
    assert decoded.startswith(prefix) and not decoded[len(prefix):].strip(b"\0")


def _xref_stream(data: bytes) -> tuple[bytes, bytes]:
    """(dictionary, raw data) of the last cross-reference stream, read from the bytes."""
    start = data.rindex(b"/Type /XRef")
    head_end = data.index(b"stream\n", start)
    length = int(re.search(rb"/Length (\d+)", data[start:head_end]).group(1))  # type: ignore[union-attr]
    return data[start:head_end], data[head_end + 7: head_end + 7 + length]


@pytest.mark.parametrize("declare", [True, False])
def test_xref_stream_bomb_declares_a_huge_table_of_zeros(declare: bool) -> None:
    data = h.xref_stream_bomb(declare_size=declare)
    assert len(data) < 1_300_000
    head, raw = _xref_stream(data)
    size = int(re.search(rb"/Size (\d+)", head).group(1))  # type: ignore[union-attr]
    assert (size > 100_000_000) is declare
    inflated = _inflate_head(raw)
    assert len(inflated) == h.MIB and not inflated[64:].strip(b"\0")


@pytest.mark.parametrize("encrypt", [True, False])
def test_xref_and_object_stream_bombs_open_at_small_size(encrypt: bool) -> None:
    password = h.PASSWORD if encrypt else ""
    with _open(h.xref_stream_bomb(SMALL, encrypt=encrypt), password, attempt_recovery=False) as pdf:
        assert pdf.is_encrypted is encrypt and len(pdf.pages) == 1
    _head, raw = _xref_stream(h.xref_stream_bomb(SMALL, encrypt=encrypt))
    assert SMALL - 8 < len(zlib.decompress(raw)) <= SMALL + 8 * 4  # the real rows, then the zeros
    data = h.object_stream_bomb(SMALL, encrypt=encrypt)
    with _open(data, password, attempt_recovery=False) as pdf:
        assert pdf.Root.objgen == (h.F, 0)  # the catalog is the object in the object stream
        assert pdf.pages[0].obj.Contents.read_bytes().startswith(b"BT")
        stm = next(o for o in pdf.objects if isinstance(o, pikepdf.Stream) and o.get("/Type") == pikepdf.Name.ObjStm)
        assert len(stm.read_bytes()) == SMALL


def test_object_stream_bomb_at_full_size_is_small() -> None:
    data = h.object_stream_bomb()
    assert len(data) < 1_300_000
    head, _raw = _xref_stream(data)
    assert re.search(rb"/Root %d 0 R" % h.F, head)


# ------------------------------------------------------------------ object graphs


def test_field_tree_lists_the_same_kid_twice_at_every_level() -> None:
    with _open(h.field_tree_duplicated_kids()) as pdf:
        node, depth = pdf.Root.AcroForm.Fields[0], 0
        while "/Kids" in node:
            assert len(node.Kids) == 2 and node.Kids[0].objgen == node.Kids[1].objgen
            node, depth = node.Kids[0], depth + 1
        assert depth == 33 and str(node.V) == "123456789"


@pytest.mark.parametrize("kind", ["mutual", "self", "parent"])
def test_field_tree_cycles(kind: str) -> None:
    with _open(h.field_tree_cycle(kind)) as pdf:
        top = pdf.Root.AcroForm.Fields[0]
        if kind == "mutual":
            assert top.Kids[0].Kids[0].objgen == top.objgen
        elif kind == "self":
            assert top.Kids[0].objgen == top.objgen
        else:
            leaf = top.Kids[0]
            assert leaf.Parent.objgen == leaf.objgen


def test_field_tree_deep_and_reference_chain() -> None:
    with _open(h.field_tree_deep(2000), attempt_recovery=False) as pdf:
        node, depth = pdf.Root.AcroForm.Fields[0], 0
        while "/Kids" in node:
            node, depth = node.Kids[0], depth + 1
        assert depth == 2000
    data = h.reference_chain()
    assert len(data) < 1_500_000
    assert b"/AcroForm << /Fields %d 0 R >>" % (h.F + 1) in data


@pytest.mark.parametrize("kind", ["self", "kids"])
def test_page_tree_cycles_are_loops_for_qpdf(kind: str) -> None:
    with pytest.raises(pikepdf.PdfError, match="Loop detected"), \
            _open(h.page_tree_cycle(kind), attempt_recovery=False) as pdf:
        len(pdf.pages)


def test_page_tree_parent_loop() -> None:
    with _open(h.page_tree_cycle("parent"), attempt_recovery=False, inherit_page_attributes=False) as pdf:
        node = pdf.Root.Pages
        assert node.Parent.Parent.objgen == node.objgen
        page = node.Kids[0]
        assert page.Type == pikepdf.Name.Page and "/MediaBox" not in page and "/Resources" not in page


def test_page_tree_dag_and_count_claim() -> None:
    with _open(h.page_tree_dag(), attempt_recovery=False, inherit_page_attributes=False) as pdf:
        assert int(pdf.Root.Pages.Count) == 2 ** 40
        node = pdf.Root.Pages
        assert node.Kids[0].objgen == node.Kids[1].objgen
    with _open(h.page_count_claim(), attempt_recovery=False) as pdf:
        assert int(pdf.Root.Pages.Count) == 100_000 and len(pdf.Root.Pages.Kids) == 1


def test_nested_arrays() -> None:
    with _open(h.nested_arrays_content()) as pdf:
        content = pdf.pages[0].obj.Contents.read_bytes()
        assert content.startswith(b"[" * 100_000 + b"]" * 100_000)
    data = h.nested_arrays_object(1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with _open(data, attempt_recovery=False) as pdf:
            assert "/Fields" in pdf.Root.AcroForm


def test_many_objects_and_pages() -> None:
    data = h.many_objects()
    assert len(data) < 2_500_000
    with _open(h.many_objects(5000), attempt_recovery=False) as pdf:
        assert len(pdf.Root.Junk) == 5000 and int(pdf.Root.Junk[4999].I) == 4999
    with _open(h.many_pages()) as pdf:
        assert len(pdf.pages) == 1000


def test_truncated_and_owner_password_empty() -> None:
    with pytest.raises(pikepdf.PdfError):
        _open(h.truncated_encrypted(), attempt_recovery=False)
    data = h.owner_password_empty()
    with _open(data, "") as pdf:
        assert pdf.is_encrypted and pdf.owner_password_matched
    with _open(data) as pdf:
        assert pdf.user_password_matched


# ------------------------------------------------------------------ mails


def _parse(raw: bytes) -> email.message.Message:
    return email.message_from_bytes(raw)


def _decode(value: str) -> str:
    return str(email.header.make_header(email.header.decode_header(value)))


def _processable(msg: email.message.Message) -> None:
    assert _decode(msg["Subject"]).startswith(h.SUBJECT)
    assert email.utils.parseaddr(msg["From"])[1] == "tanaka@aoyama.usen.co.jp"


@pytest.mark.parametrize("header", ["Message-ID", "References", "In-Reply-To"])
def test_identifier_injection(header: str) -> None:
    msg = _parse(h.mail_message_id_injection(header))
    _processable(msg)
    raw = msg[header]
    assert "<" not in raw and "\r" not in raw and "\n" not in raw
    assert _decode(raw).endswith("\r\nBcc: victim@example.com")


@pytest.mark.parametrize("name", sorted(h.SEPARATORS))
def test_subject_separators(name: str) -> None:
    msg = _parse(h.mail_subject_separator(name))
    assert _decode(msg["Subject"]) == h.SUBJECT + h.SEPARATORS[name] + h.INJECTED


@pytest.mark.parametrize("name", ["U+2028", "U+2029", "U+0085", "VT", "FF", "CR"])
def test_raw_subject_separators(name: str) -> None:
    raw = h.mail_subject_separator(name, raw=True)
    assert (h.SUBJECT + h.SEPARATORS[name] + h.INJECTED).encode("utf-8") in raw


def test_from_display_name_crlf() -> None:
    msg = _parse(h.mail_from_name_crlf())
    name, addr = email.utils.parseaddr(msg["From"])
    assert addr == "tanaka@aoyama.usen.co.jp"
    assert _decode(name) == "田中\r\nBcc: victim@example.com"


def test_many_cc() -> None:
    msg = _parse(h.mail_many_cc())
    _processable(msg)
    addresses = [a for _n, a in email.utils.getaddresses([msg["Cc"]])]
    assert len(addresses) == 5001
    inside = [a for a in addresses if a.endswith("@aoyama.usen.co.jp")]
    assert len(inside) == 2501 and any(a.endswith("@usen.co.jp.evil.example") for a in addresses)


def test_many_parts_and_deep_nesting() -> None:
    msg = _parse(h.mail_many_parts())
    _processable(msg)
    assert len(msg.get_payload()) == 10_000
    raw = h.mail_deep_multipart()
    assert len(set(re.findall(rb'boundary="(b\d{5})"', raw))) == 1000
    assert len(raw) < 200_000


def test_long_header_and_many_pdfs() -> None:
    raw = h.mail_long_header()
    longest = max(len(line) for line in raw.split(b"\r\n"))
    assert longest > 200 * 1024
    _processable(_parse(raw))
    msg = _parse(h.mail_many_pdfs())
    pdfs = [p for p in msg.walk() if p.get_content_type() == "application/pdf"]
    assert len(pdfs) == 60
    with pytest.raises(pikepdf.PasswordError):
        _open(pdfs[0].get_payload(decode=True), "")


def test_bytes_codec_charset() -> None:
    msg = _parse(h.mail_bytes_codec_charset())
    _processable(msg)
    assert msg.get_content_charset() == "zlib"
    payload = msg.get_payload(decode=True)
    assert len(payload) < 1_300_000
    assert _inflate_head(payload).startswith(h.ORDER_BODY.encode("utf-8"))


def test_au_emoji_and_dmarc() -> None:
    raw = h.mail_au_emoji_jis()
    msg = _parse(raw)
    _processable(msg)
    assert msg.get_content_charset() == "iso-2022-jp"
    assert b"\x1b$Bu A\x1b(B".replace(b" ", b"") in raw
    msg = _parse(h.mail_dmarc_fail())
    _processable(msg)
    results = msg.get_all("Authentication-Results")
    assert len(results) == 2 and any(r.startswith("mx.usen.co.jp;") and "dmarc=fail" in r for r in results)


def test_huge_mail() -> None:
    raw = h.mail_huge()
    assert len(raw) > 30 * h.MIB
    _processable(BytesHeaderParser().parsebytes(raw))
