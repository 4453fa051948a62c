"""Throughput of the whole pipeline against a real Dovecot: APPEND N branch mails (each with
an encrypted form PDF), run one pass (FETCH → store → decide → act → MOVE) and flush the
outbox to a real aiosmtpd server. Prints mails/s and ms/mail per stage.

Run: python -m bench.bench_pipeline [N]   (needs dovecot-imapd: sh scripts/test.sh installs it)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bot import db, forms
from bot.actions import outbox
from bot.daemon.main import mailbox_settings
from bot.daemon.runner import MailboxRunner
from bot.intake import Mailbox
from bot.mail import parse_mail
from bot.unis import import_extract
from tests.fixtures import pdfs
from tests.fixtures.demo_mails import UNIS_CSV, order_body
from tests.support.app import Clock, make_config, make_processor
from tests.support.dovecot import Dovecot
from tests.support.mailbuilder import build_mail


def main(n: int = 200) -> None:
    form = pdfs.typed_form()
    bad_form = pdfs.typed_form(dict(pdfs.DEFAULT_FIELDS, line_kind="b_flets", line_type=None))
    mails = [
        build_mail("USEN SPOT 器材発注依頼_988776654", order_body(), charset="cp50220",
                   attachments=[("申込書.pdf", form if i % 2 == 0 else bad_form, "application/pdf")],
                   message_id=f"<bench-{i}@aoyama.usen.co.jp>")
        for i in range(n)
    ]
    # Pure stages on one mail, median of 50.
    parse_ms = statistics.median(_timed(lambda: parse_mail(mails[0])) for _ in range(50))
    pdf_ms = statistics.median(_timed(lambda: forms.read_form(form, password="uspot")) for _ in range(50))

    from bot.demo.embedded import EmbeddedSmtp

    with tempfile.TemporaryDirectory() as tmp, Dovecot() as dove, EmbeddedSmtp() as smtp:
        url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        db.upgrade(url)
        cfg = make_config(url, smtp=smtp, host=dove.host, port=dove.port, user=dove.user, password=dove.password)
        # One sender writes all of them: lift the per-sender reply cap so every rejection is answered.
        cfg = cfg.replace(senders=dataclasses.replace(cfg.senders, max_replies_per_hour=100_000))
        processor, factory = make_processor(cfg, Clock())
        with db.transaction(factory) as s:
            import_extract(s, UNIS_CSV.encode("cp932"), name="unis.csv", now=Clock()())
        t0 = time.perf_counter()
        dove.append_many(mails)
        t_append = time.perf_counter() - t0
        t0 = time.perf_counter()
        with Mailbox(mailbox_settings(cfg)) as mbox:
            report = MailboxRunner(processor).handle(mbox)
        t_pass = time.perf_counter() - t0
        t0 = time.perf_counter()
        flushed = outbox.flush(factory, cfg.smtp, now=dt.datetime.now(dt.UTC))
        t_flush = time.perf_counter() - t0
        smtp.wait_for(flushed.sent, timeout=60)
    decided = len(report.outcomes)
    print(f"mails: {n} ({len(mails[0]) / 1024:.0f} KB each, half of them defective)")
    print(f"parse one mail (median): {parse_ms:.1f} ms; read one encrypted form (median): {pdf_ms:.1f} ms")
    print(f"APPEND: {n / t_append:.0f} mails/s")
    print(f"one pass (fetch+store+decide+act+move): {t_pass:.2f} s = {decided / t_pass:.1f} mails/s, "
          f"{t_pass / decided * 1000:.0f} ms/mail")
    print(f"outbox flush: {flushed.sent} replies in {t_flush:.2f} s = {flushed.sent / t_flush:.0f} mails/s")


def _timed(fn) -> float:  # noqa: ANN001
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
