"""Coverage-guided fuzzing of bot.mail.parse_mail with atheris (libFuzzer). Not part of pytest.

    python3 -m pip install -e ".[bench]"
    mkdir -p /tmp/mail-corpus && cp bot/demo/mails/*.eml /tmp/mail-corpus/
    python3 bench/fuzz_atheris.py /tmp/mail-corpus -max_total_time=300 -rss_limit_mb=2048 -timeout=10

Every libFuzzer flag works (``-runs=N``, ``-max_len=65536``, ``-dict=…``; libFuzzer's fork mode
does not, it starts the script without Python).  ``--skip-known`` lets a catch-all that fired inside the
stdlib's ``Message.get_payload()`` pass, to look for other bugs (that one was found first, see
tests/test_fuzz.py::test_parse_mail_odd_body_charset_keeps_the_mail).  A crash is written as ``crash-<sha1>`` in
the current directory (run it from a scratch directory); replay one with
``python3 bench/fuzz_atheris.py crash-<sha1>``.  First run here (2 cores, on the single-module
bot/mail.py): a charset with a NUL (test_parse_mail_odd_body_charset_keeps_the_mail) after
~10,700 executions (~90 s, ~115 exec/s); then 58,000 more runs with ``--skip-known``: nothing.

What counts as a crash: parse_mail raising (it must never raise), its catch-all firing (an
ERROR log from ``bot``: the mail then loses its subject and sender), an answer outside the
documented types, or a control character left in the subject.  ``--target body`` fuzzes
bot.mail.body.parse_body, ``--target subject`` bot.domain.classify.classify_subject instead.
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

try:
    import atheris
except ImportError:
    sys.exit("bench/fuzz_atheris.py needs atheris: pip install -e '.[bench]'")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

with atheris.instrument_imports():
    from bot.domain.classify import classify_subject
    from bot.mail import InboundMail, message_id_hash, parse_mail
    from bot.mail.body import parse_body


SKIP_KNOWN = False


def _known(record: logging.LogRecord) -> bool:
    """The catch-all fired for the known stdlib get_payload() charset bug."""
    if not (SKIP_KNOWN and record.exc_info and record.exc_info[2]):
        return False
    tb = record.exc_info[2]
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_name == "get_payload" and code.co_filename.endswith("email/message.py"):
            return True
        tb = tb.tb_next
    return False


class _Fail(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if _known(record):
            return
        cause = logging.Formatter().formatException(record.exc_info) if record.exc_info else ""
        raise AssertionError(f"catch-all fired: {record.name}: {record.getMessage()}\n{cause}")


def _install_error_trap() -> None:
    logging.getLogger("bot").addHandler(_Fail(logging.ERROR))
    logging.getLogger("bot").setLevel(logging.ERROR)
    logging.getLogger("bot").propagate = False


def one_mail(data: bytes) -> None:
    mail = parse_mail(data)
    assert isinstance(mail, InboundMail)
    assert not re.search(r"[\x00-\x1f\x7f]", mail.subject), mail.subject
    if not SKIP_KNOWN:
        assert not any(p.startswith("message: parse failed") for p in mail.problems), mail.problems
    assert all(isinstance(v, str) for v in mail.headers.values())
    assert all(isinstance(a.data, bytes) for a in mail.attachments)
    assert len(message_id_hash(data, mail.message_id)) == 64


def one_body(data: bytes) -> None:
    parse_body(atheris.FuzzedDataProvider(data).ConsumeUnicodeNoSurrogates(len(data)))


def one_subject(data: bytes) -> None:
    c = classify_subject(atheris.FuzzedDataProvider(data).ConsumeUnicodeNoSurrogates(len(data)))
    assert c.customer_code is None or re.fullmatch(r"[0-9]{9}", c.customer_code)


TARGETS = {"mail": one_mail, "body": one_body, "subject": one_subject}


def main() -> None:
    global SKIP_KNOWN
    target = "mail"
    argv = list(sys.argv)
    if "--skip-known" in argv:
        argv.remove("--skip-known")
        SKIP_KNOWN = True
    if "--target" in argv:
        i = argv.index("--target")
        target = argv[i + 1]
        del argv[i:i + 2]
    _install_error_trap()
    atheris.Setup(argv, TARGETS[target])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
