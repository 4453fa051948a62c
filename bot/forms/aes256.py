"""A quicker unlock for the usual form: AES-256 (PDF 2.0 / ISO 32000-2, revision 6) opened with
the configured user password.

Why: the key of an AES-256 PDF is derived from the password by algorithm 2.B (at least 64
rounds of AES-128 and SHA-2 over a few KB).  qpdf's own crypto takes ~4 ms for one such hash,
and unlocking a form needs several: does the empty password open it (user, then owner: the
manual's "not protected" test), then the configured password.  Measured on a typed form
(issue 8): 14 ms of qpdf for the two opens out of 20 ms for the whole reading.  The same hashes
with :mod:`hashlib` and the ``cryptography`` package's AES take ~1.3 ms each, and qpdf opens the
file with the resulting key (``hex_password``) in ~0.1 ms.

This is only a fast path.  It answers only when it is sure: revision 6, the empty password
opens the file neither as user nor as owner, the configured password is the *user* password,
and the key it derives passes the ``/Perms`` check.  Anything else (an older revision, an
owner password, no match, a damaged dictionary, a non-ASCII password) returns None and the
caller takes the general path through qpdf, so every outcome stays qpdf's.
"""

from __future__ import annotations

import hashlib
import io
import logging
import warnings

import pikepdf
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

log = logging.getLogger(__name__)

_SHA = (hashlib.sha256, hashlib.sha384, hashlib.sha512)
_NO_KEY = "00" * 32  # qpdf opens with any key given as hex; the /Encrypt strings are not encrypted


def hash_2b(password: bytes, salt: bytes, udata: bytes) -> bytes:
    """ISO 32000-2 algorithm 2.B: the hash of a revision 6 password (ends after 288 rounds at most)."""
    k = hashlib.sha256(password + salt + udata).digest()
    rounds = 0
    while True:
        encryptor = Cipher(algorithms.AES(k[:16]), modes.CBC(k[16:32])).encryptor()
        e = encryptor.update((password + k + udata) * 64) + encryptor.finalize()
        k = _SHA[sum(e[:16]) % 3](e).digest()
        rounds += 1
        if rounds >= 64 and e[-1] <= rounds - 32:
            return k[:32]


def _aes256_no_iv(key: bytes, data: bytes, *, decrypt: bool = True) -> bytes:
    cipher = Cipher(algorithms.AES(key), modes.CBC(b"\0" * 16))
    op = cipher.decryptor() if decrypt else cipher.encryptor()
    return op.update(data) + op.finalize()


def user_key(encrypt: dict[str, object], password: str) -> bytes | None:
    """The file key when `password` is the user password and the empty password opens the
    file neither as user nor as owner; None otherwise (or when unsure)."""
    try:
        secret = password.encode("ascii")[:127]
    except UnicodeEncodeError:
        return None  # SASLprep of a non-ASCII password: leave it to qpdf
    u, o, ue, perms = (encrypt.get(k) for k in ("U", "O", "UE", "Perms"))
    if not all(isinstance(v, bytes) for v in (u, o, ue, perms)):
        return None
    assert isinstance(u, bytes) and isinstance(o, bytes) and isinstance(ue, bytes) and isinstance(perms, bytes)
    if len(u) < 48 or len(o) < 48 or len(ue) != 32 or len(perms) != 16 or not secret:
        return None
    if hash_2b(b"", u[32:40], b"") == u[:32] or hash_2b(b"", o[32:40], u[:48]) == o[:32]:
        return None  # anyone can open it: the general path reports PDF_NOT_ENCRYPTED
    if hash_2b(secret, u[32:40], b"") != u[:32]:
        return None  # not the user password (maybe the owner's, or wrong): qpdf decides
    key = _aes256_no_iv(hash_2b(secret, u[40:48], b""), ue)
    checked = Cipher(algorithms.AES(key), modes.ECB()).decryptor().update(perms)  # noqa: S305 - the spec's mode
    if checked[9:12] != b"adb":
        return None  # the dictionary does not hold together: let qpdf judge it
    return key


def open_with_user_password(data: bytes, password: str) -> pikepdf.Pdf | None:
    """The document opened with the key of `password` (see the module docstring), or None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "a password was provided, but no password was needed"
            probe = pikepdf.open(io.BytesIO(data), password=_NO_KEY, hex_password=True, attempt_recovery=False)
    except Exception:  # noqa: BLE001 - damaged files are judged by the general path
        return None
    try:
        encrypt = probe.trailer.get("/Encrypt")
        if not isinstance(encrypt, pikepdf.Dictionary) or encrypt.get("/Filter") != pikepdf.Name.Standard \
                or int(encrypt.get("/R", 0)) != 6 or int(encrypt.get("/V", 0)) != 5:
            return None
        fields = {k: bytes(v) for k in ("U", "O", "UE", "Perms")
                  if isinstance(v := encrypt.get("/" + k), pikepdf.String)}
    except Exception:  # noqa: BLE001 - as above
        return None
    finally:
        probe.close()
    key = user_key(fields, password)
    if key is None:
        return None
    try:
        return pikepdf.open(io.BytesIO(data), password=key.hex(), hex_password=True, attempt_recovery=False)
    except Exception:  # noqa: BLE001 - as above
        log.debug("AES-256 fast path: qpdf refused the derived key", exc_info=True)
        return None
