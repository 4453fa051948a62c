"""Every hostile PDF family (tests/fixtures/hostile.py) read the way the daemon reads it: in a
reader process bounded in memory and time. Each ends as PDF_UNREADABLE naming the limit that
caught it, or as a reader failure (the pipeline quarantines after two), never as a hang, a crash
of this process, or a misread form; and the reader answers the next normal form at once."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from bot.config.limits import Limits
from bot.forms import (
    PDF_NOT_ENCRYPTED,
    PDF_UNREADABLE,
    read_form,
    read_termination_form,
)
from bot.forms.workers import ReaderFailed, ReaderPool
from tests.fixtures import hostile

LIMITS = Limits(pdf_seconds=20.0, worker_memory_mb=1024)


@pytest.fixture(scope="module")
def pool() -> Iterator[ReaderPool]:
    p = ReaderPool(LIMITS, size=1)
    yield p
    p.close()


def read_in_pool(pool: ReaderPool, data: bytes) -> tuple[object, float]:
    started = time.monotonic()
    try:
        result: object = pool.call(read_form, data, password="uspot", limits=LIMITS, timeout=LIMITS.pdf_seconds)
    except ReaderFailed as err:
        result = err
    return result, time.monotonic() - started


# (generator, the limit the reading must name; None = any PDF_UNREADABLE detail is fine)
BOMBS: list[tuple[str, Callable[[], bytes], str | None]] = [
    ("flate-content-1GiB", hostile.flate_content_bomb, "pdf_stream_bytes"),
    ("nested-flate-1GiB", hostile.nested_flate_bomb, "pdf_stream_bytes"),
    ("xref-stream-1GiB", hostile.xref_stream_bomb, "pdf_objects"),
    ("xref-stream-1GiB-no-size", lambda: hostile.xref_stream_bomb(declare_size=False), "pdf_stream_bytes"),
    ("object-stream-1GiB", hostile.object_stream_bomb, None),
    ("font-file-1GiB", hostile.font_file_bomb, "pdf_stream_bytes"),
    ("image-1GiB", hostile.image_bomb, "pdf_image_pixels"),
    ("lzw-1GiB", hostile.lzw_bomb, "pdf_stream_bytes"),
    ("runlength-64MiB", hostile.runlength_bomb, None),
    ("flate-runlength-1GiB", lambda: hostile.runlength_bomb(size=1 << 30, flate_wrapped=True), "pdf_stream_bytes"),
    ("field-value-stream-1GiB", hostile.field_value_bomb, "pdf_stream_bytes"),
    ("field-tree-duplicated-kids", hostile.field_tree_duplicated_kids, None),
    ("field-tree-cycle", hostile.field_tree_cycle, None),
    ("field-tree-100k-deep", hostile.field_tree_deep, "pdf_objects"),
    ("page-tree-cycle", hostile.page_tree_cycle, None),
    ("page-tree-dag", hostile.page_tree_dag, None),
    ("page-count-claim", hostile.page_count_claim, None),
    ("reference-chain-100k", hostile.reference_chain, "pdf_objects"),
    ("nested-arrays-content", hostile.nested_arrays_content, None),
    ("nested-arrays-object", hostile.nested_arrays_object, None),
    ("200k-objects", hostile.many_objects, "pdf_objects"),
    ("1000-pages", hostile.many_pages, "pdf_pages"),
]


@pytest.mark.parametrize(("make", "limit"), [pytest.param(m, lim, id=name) for name, m, lim in BOMBS])
def test_a_hostile_pdf_costs_bounded_time_and_never_misreads(pool: ReaderPool, make: Callable[[], bytes],
                                                             limit: str | None) -> None:
    result, seconds = read_in_pool(pool, make())
    assert seconds < LIMITS.pdf_seconds + 5
    if isinstance(result, ReaderFailed):
        # Only acceptable where no explicit limit is expected: the pipeline then quarantines.
        assert limit is None, f"expected PDF_UNREADABLE naming {limit}, the reader failed: {result.detail}"
        assert result.limit in ("worker_memory_mb", "pdf_seconds", None)
    else:
        assert result.fields is None or result.defects == () or PDF_UNREADABLE in result.defects  # type: ignore[attr-defined]
        if limit is not None:
            assert result.defects == (PDF_UNREADABLE,), result.detail  # type: ignore[attr-defined]
            assert f"limit {limit}" in result.detail  # type: ignore[attr-defined]
    # The next normal form is read at once, by a live worker.
    after, _ = read_in_pool(pool, hostile.tiny_form())
    assert not isinstance(after, ReaderFailed)


def test_a_bomb_is_refused_before_it_is_inflated() -> None:
    """In this very process (no worker limits): the content bomb costs a capped inflate."""
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    reading = read_form(hostile.flate_content_bomb(), password="uspot")
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert reading.defects == (PDF_UNREADABLE,) and "limit pdf_stream_bytes" in reading.detail
    assert grown_mib < 200


def test_the_field_tree_is_walked_once_per_node() -> None:
    reading = read_form(hostile.field_tree_duplicated_kids(depth=40), password="uspot")
    assert reading.defects in ((), (PDF_UNREADABLE,))


def test_an_empty_owner_password_is_not_protection() -> None:
    """AES-256 with user password uspot and an EMPTY owner password: anyone opens it."""
    reading = read_form(hostile.owner_password_empty(), password="uspot")
    assert PDF_NOT_ENCRYPTED in reading.defects
    assert read_termination_form(hostile.owner_password_empty(), password="uspot").defects[:1] == (PDF_NOT_ENCRYPTED,)


def test_truncated_encrypted_pdf_is_unreadable_not_unencrypted() -> None:
    assert read_form(hostile.truncated_encrypted(), password="uspot").defects == (PDF_UNREADABLE,)


def _lzw_encode(data: bytes) -> bytes:
    """A plain LZW encoder (EarlyChange 1, as PDF writers use)."""
    table = {bytes([i]): i for i in range(256)}
    next_code, width, bits, nbits, out = 258, 9, 0, 0, bytearray()

    def emit(code: int) -> None:
        nonlocal bits, nbits
        bits, nbits = (bits << width) | code, nbits + width
        while nbits >= 8:
            nbits -= 8
            out.append((bits >> nbits) & 0xFF)

    emit(256)
    w = b""
    for byte in data:
        wc = w + bytes([byte])
        if wc in table:
            w = wc
            continue
        emit(table[w])
        if next_code < 4096:
            table[wc] = next_code
            next_code += 1
            if next_code >= (1 << width) and width < 12:  # the decoder widens one code later
                width += 1
        else:
            emit(256)
            table = {bytes([i]): i for i in range(256)}
            next_code, width = 258, 9
        w = bytes([byte])
    emit(table[w])
    emit(257)
    if nbits:
        out.append((bits << (8 - nbits)) & 0xFF)
    return bytes(out)


def test_the_capped_lzw_decoder_agrees_with_qpdf() -> None:
    import random

    import pikepdf

    from bot.forms.guard import _lzw

    text = bytes(random.Random(5).choice(b"USEN SPOT abc\n0123") for _ in range(60_000))
    encoded = _lzw_encode(text)
    pdf = pikepdf.new()
    stream = pdf.make_indirect(pikepdf.Stream(pdf, encoded))
    stream.Filter = pikepdf.Name.LZWDecode
    assert stream.read_bytes() == text
    assert _lzw(encoded, cap=10**9) == text
    assert len(_lzw(hostile.lzw_zeros(5_000_000), cap=1_000_000)) <= 1_000_000 + 4096


def test_the_capped_runlength_decoder_agrees_with_qpdf() -> None:
    import pikepdf

    from bot.forms.guard import _runlength

    encoded = bytes([2]) + b"abc" + bytes([256 - 5]) + b"z" + bytes([0]) + b"q" + bytes([128])
    pdf = pikepdf.new()
    stream = pdf.make_indirect(pikepdf.Stream(pdf, encoded))
    stream.Filter = pikepdf.Name.RunLengthDecode
    assert stream.read_bytes(pikepdf.StreamDecodeLevel.specialized) == _runlength(encoded, cap=1000) == b"abczzzzzzq"


def test_the_reply_names_the_limit_a_pdf_crossed() -> None:
    """The 差戻 for a bomb says which limit it crossed, in Japanese, from the template."""
    from bot.checks.attachment import form_required
    from bot.checks.base import Defect
    from bot.templating import Templates

    reading = read_form(hostile.flate_content_bomb(), password="uspot")
    assert reading.limit == "pdf_stream_bytes"

    class _Facts:
        forms = (reading,)
        termination_forms = ()

    [defect] = form_required(_Facts())  # type: ignore[arg-type]
    assert defect == Defect("PDF_UNREADABLE", {"limit": "pdf_stream_bytes"})
    text = Templates().render("reject.txt.j2", {
        "sender_name": "内田", "kind_label": "器材発注依頼", "original_subject": "s", "customer_code": "988776654",
        "received_at": "2026/11/24 10:00", "defects_list": [defect], "show_subjects": False, "prefixes": []})
    assert "上限：PDF内部データの展開後サイズ" in text
