"""The AES-256 fast unlock (bot/forms/aes256.py) answers only when it is sure, and then as qpdf.

Every case is a real PDF encrypted by qpdf (pikepdf) the way senders' tools do it.
"""

from __future__ import annotations

import io

import pikepdf
import pytest

from bot import forms
from bot.forms import aes256
from tests.fixtures import pdfs

PASSWORD = pdfs.DEFAULT_PASSWORD


def _reencrypt(data: bytes, **encryption: object) -> bytes:
    with pikepdf.open(io.BytesIO(data), password=PASSWORD) as pdf:
        out = io.BytesIO()
        pdf.save(out, encryption=pikepdf.Encryption(**encryption))  # type: ignore[arg-type]
        return out.getvalue()


def test_the_usual_form_opens_with_the_key_qpdf_derives() -> None:
    """Given an AES-256 (R6) form with the configured user password,
    when the fast path opens it,
    then it is open with exactly qpdf's file key and reads the same text."""
    data = pdfs.typed_form()
    fast = aes256.open_with_user_password(data, PASSWORD)
    assert fast is not None
    with fast, pikepdf.open(io.BytesIO(data), password=PASSWORD) as slow:
        assert fast.encryption.encryption_key == slow.encryption.encryption_key
        assert fast.pages[0].Contents.read_bytes() == slow.pages[0].Contents.read_bytes()


@pytest.mark.parametrize("case", ["owner_only", "aes128", "rc4", "plain", "wrong_password", "owner_password",
                                  "empty_owner_password"])
def test_every_other_case_is_left_to_qpdf(case: str) -> None:
    """Given a PDF the fast path must not judge (anyone can open it, another revision, the
    password is wrong or is the owner's),
    when the fast path is asked,
    then it says None (the general path through qpdf decides)."""
    base = pdfs.typed_form()
    data, password = {
        "owner_only": (pdfs.typed_form(encrypt="owner_only"), PASSWORD),
        "aes128": (pdfs.typed_form(encrypt="aes128"), PASSWORD),
        "rc4": (pdfs.typed_form(encrypt="rc4"), PASSWORD),
        "plain": (pdfs.typed_form(encrypt=None), PASSWORD),
        "wrong_password": (base, "not-the-password"),
        "owner_password": (_reencrypt(base, user="someone-else", owner=PASSWORD, R=6), PASSWORD),
        "empty_owner_password": (_reencrypt(base, user=PASSWORD, owner="", R=6), PASSWORD),
    }[case]
    assert aes256.open_with_user_password(data, password) is None


@pytest.mark.parametrize("case", ["aes256", "owner_only", "empty_owner_password", "aes128", "wrong_password"])
def test_read_form_gives_the_same_reading_with_and_without_the_fast_path(
        case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Given the same PDF read with the fast path and with qpdf alone,
    then shape, fields, defects and encryption are the same (PDF_NOT_ENCRYPTED included)."""
    base = pdfs.typed_form()
    data, password = {
        "aes256": (base, PASSWORD),
        "owner_only": (pdfs.typed_form(encrypt="owner_only"), PASSWORD),
        "empty_owner_password": (_reencrypt(base, user=PASSWORD, owner="", R=6), PASSWORD),
        "aes128": (pdfs.typed_form(encrypt="aes128"), PASSWORD),
        "wrong_password": (base, "nope"),
    }[case]
    fast = forms.read_form(data, password=password)
    monkeypatch.setattr(aes256, "open_with_user_password", lambda *_: None)
    slow = forms.read_form(data, password=password)
    assert (fast.shape, fast.fields, fast.defects, fast.encrypted, fast.pages) == \
        (slow.shape, slow.fields, slow.defects, slow.encrypted, slow.pages)
    if case in ("owner_only", "empty_owner_password"):
        assert fast.defects == (forms.PDF_NOT_ENCRYPTED,)


def test_a_tampered_dictionary_is_not_trusted() -> None:
    """Given an AES-256 form whose /Perms no longer matches its key,
    when the fast path derives the key,
    then it does not trust it (None) and qpdf judges the file."""
    data = pdfs.typed_form()
    probe = pikepdf.open(io.BytesIO(data), password="00" * 32, hex_password=True)
    fields = {k: bytes(probe.trailer.Encrypt["/" + k]) for k in ("U", "O", "UE", "Perms")}
    probe.close()
    assert aes256.user_key(fields, PASSWORD) is not None
    fields["Perms"] = bytes(16)
    assert aes256.user_key(fields, PASSWORD) is None


def test_hash_2b_matches_the_u_entry_qpdf_wrote() -> None:
    """The 2.B hash of the password with the validation salt is the first 32 bytes of /U."""
    data = pdfs.typed_form()
    with pikepdf.open(io.BytesIO(data), password="00" * 32, hex_password=True) as probe:
        u = bytes(probe.trailer.Encrypt.U)
    assert aes256.hash_2b(PASSWORD.encode(), u[32:40], b"") == u[:32]
    assert aes256.hash_2b(b"uspot2", u[32:40], b"") != u[:32]
