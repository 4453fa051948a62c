"""A backlog drained by the bot against a plain sequential loop, in the same run (issue 8).

Text forms: N order mails (70% good, 30% defective, AES-256 typed forms, each its own customer
and sender) are APPENDed twice to a real Dovecot, to INBOX and to Naive. The bot drains INBOX
(one MailboxRunner pass: FETCH → store → decide → act → MOVE, then the outbox flushed to a real
aiosmtpd); the plain loop drains Naive one mail at a time: FETCH BODY.PEEK[] → stdlib email →
pypdfium2 (password, page text) → SQLite insert + commit → smtplib reply for a defective form →
MOVE. Printed: mails/s of each and the ratio.

Scans: M generated scanned forms (tests/fixtures/scans) in their order mails, drained by the
bot with a reader pool of 1 and of 2 processes (`[limits] workers`), and the ratio.

Run: nice python -m bench.bench_backlog [--n 1000] [--scans 40] [--profile out.txt]
(--profile: the bot's text-form pass under pyinstrument; its figures are then not comparable.)
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import email
import email.policy
import smtplib
import sqlite3
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

import pypdfium2 as pdfium
from imapclient import IMAPClient

from bot import db
from bot.actions import outbox
from bot.daemon.main import mailbox_settings
from bot.daemon.runner import MailboxRunner, summarise
from bot.demo.embedded import EmbeddedSmtp
from bot.intake import Mailbox
from bot.unis import import_extract
from tests.fixtures import pdfs
from tests.fixtures.demo_mails import UNIS_CSV, order_body
from tests.support.app import Clock, make_config, make_processor
from tests.support.dovecot import Dovecot
from tests.support.mailbuilder import build_mail

PASSWORD = "uspot"


def text_mails(n: int) -> list[bytes]:
    mails = []
    for i in range(n):
        code = f"{900000000 + i:09d}"
        defective = i % 10 >= 7  # 30%
        fields = dict(pdfs.DEFAULT_FIELDS, customer_code=code)
        if defective:
            fields.update(line_kind="b_flets", line_type=None)
        # A fresh PDF per mail (own salts, own customer code) as senders would send.
        form = pdfs.typed_form(fields)
        mails.append(build_mail(f"USEN SPOT 器材発注依頼_{code}", order_body(code), charset="cp50220",
                                from_=f"shop{i}@aoyama.usen.co.jp",
                                attachments=[("申込書.pdf", form, "application/pdf")],
                                message_id=f"<backlog-{i}@aoyama.usen.co.jp>"))
    return mails


def unis_csv(n: int) -> str:
    """The demo extract plus one live order line per backlog customer (as the office imports)."""
    header, template = UNIS_CSV.split("\r\n")[:2]
    return "\r\n".join([UNIS_CSV.rstrip("\r\n")] + [template.replace("988776654", f"{900000000 + i:09d}", 1)
                                                      for i in range(n)]) + "\r\n"


def bot_pass(dove: Dovecot, smtp: EmbeddedSmtp, tmp: Path, folder: str, *, workers: int = 0, customers: int = 0,
             profile: Path | None = None) -> tuple[float, dict[str, int], int]:
    url = f"sqlite:///{tmp / f'bot-{folder}.sqlite3'}"
    db.upgrade(url)
    cfg = make_config(url, smtp=smtp, host=dove.host, port=dove.port, user=dove.user, password=dove.password,
                      folder=folder)
    cfg = cfg.replace(senders=dataclasses.replace(cfg.senders, max_replies_per_hour=100_000),
                      limits=dataclasses.replace(cfg.limits, workers=workers))
    processor, factory = make_processor(cfg, Clock())
    with db.transaction(factory) as s:
        import_extract(s, unis_csv(customers).encode("cp932"), name="unis.csv", now=Clock()())
    # Start the reader processes before the clock runs: a daemon has them warm.
    pool = processor.reader.pool
    if pool is not None:
        import os
        import threading

        threads = [threading.Thread(target=pool.call, args=(os.getpid,), kwargs={"timeout": 30})
                   for _ in range(pool.size)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    profiler = None
    if profile is not None:
        try:
            from pyinstrument import Profiler
        except ImportError:
            sys.exit("--profile needs pyinstrument: pip install -e '.[bench]'")

        profiler = Profiler(interval=0.001)
        profiler.start()
    t0 = time.perf_counter()
    with Mailbox(mailbox_settings(cfg)) as mbox:
        report = MailboxRunner(processor, folder=folder).handle(mbox)
    sent = 0
    while True:  # one flush sends at most 200: flush until every reply is out, as the plain loop sends all
        n = outbox.flush(factory, cfg.smtp, now=dt.datetime.now(dt.UTC)).sent
        sent += n
        if n == 0:
            break
    seconds = time.perf_counter() - t0
    if profiler is not None:
        profiler.stop()
        assert profile is not None
        profile.write_text(profiler.output_text(unicode=True, color=False, show_all=False))
    return seconds, summarise(report.outcomes), sent


def naive_loop(dove: Dovecot, smtp: EmbeddedSmtp, tmp: Path, folder: str) -> tuple[float, int, int]:
    conn = sqlite3.connect(tmp / "naive.sqlite3")
    conn.execute("pragma journal_mode=wal")
    conn.execute("create table mails (uid integer, subject text, sender text, text text, decision text, raw blob)")
    client = IMAPClient(dove.host, port=dove.port, ssl=False)
    client.login(dove.user, dove.password)
    client.select_folder(folder)
    client.create_folder("NaiveDone")
    uids = sorted(client.search("ALL"))
    sender = smtplib.SMTP(smtp.host, smtp.port)
    replies = 0
    t0 = time.perf_counter()
    for uid in uids:
        raw = client.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"]
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        text = ""
        for part in msg.iter_attachments():
            if part.get_content_type() == "application/pdf":
                doc = pdfium.PdfDocument(part.get_payload(decode=True), password=PASSWORD)
                text += "".join(page.get_textpage().get_text_range() for page in doc)
                doc.close()
        defective = "■Bフレッツ" in text and "■ファミリー" not in text and "■マンション" not in text
        decision = "rejected" if defective else "accepted"
        conn.execute("insert into mails values (?, ?, ?, ?, ?, ?)",
                     (uid, str(msg["Subject"]), str(msg["From"]), text, decision, raw))
        conn.commit()
        if defective:
            reply = EmailMessage()
            reply["From"], reply["To"], reply["Subject"] = "spot@usen.co.jp", str(msg["From"]), "Re: " + str(msg["Subject"])
            reply.set_content("申込書に不備があります。\n")
            sender.send_message(reply)
            replies += 1
        client.move([uid], "NaiveDone")
    seconds = time.perf_counter() - t0
    sender.quit()
    client.logout()
    conn.close()
    return seconds, len(uids), replies


def scan_mails(m: int) -> list[bytes]:
    from tests.fixtures.scans.corpus import corpus
    from tests.fixtures.scans.mails import order_mail

    return [order_mail(pdf, truth, message_id=f"<scan-{i}@aoyama.usen.co.jp>")
            for i, (pdf, truth) in enumerate(corpus(m))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--scans", type=int, default=40)
    ap.add_argument("--profile", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name, Dovecot() as dove, EmbeddedSmtp() as smtp:
        tmp = Path(tmp_name)
        if args.n:
            t0 = time.perf_counter()
            mails = text_mails(args.n)
            print(f"built {len(mails)} text-form mails ({sum(map(len, mails)) / len(mails) / 1024:.0f} KB avg) "
                  f"in {time.perf_counter() - t0:.0f} s")
            dove.append_many(mails, "INBOX")
            dove.append_many(mails, "Naive")
            del mails
            bot_s, decisions, sent = bot_pass(dove, smtp, tmp, "INBOX", customers=args.n,
                                             profile=args.profile)
            naive_s, naive_n, naive_replies = naive_loop(dove, smtp, tmp, "Naive")
            bot_rate, naive_rate = args.n / bot_s, naive_n / naive_s
            print(f"bot (reader pool = cores): {args.n} mails in {bot_s:.1f} s = {bot_rate:.1f} mails/s "
                  f"(decisions {decisions}, {sent} replies sent)")
            print(f"plain sequential loop: {naive_n} mails in {naive_s:.1f} s = {naive_rate:.1f} mails/s "
                  f"({naive_replies} replies)")
            print(f"ratio bot / plain loop: {bot_rate / naive_rate:.2f}x")
            if args.profile:
                print(f"profile of the bot pass written to {args.profile}")
        if args.scans:
            t0 = time.perf_counter()
            scans = scan_mails(args.scans)
            print(f"built {len(scans)} scan mails in {time.perf_counter() - t0:.0f} s")
            rates = {}
            for workers in (1, 2):
                folder = f"Scans{workers}"
                dove.append_many(scans, folder)
                seconds, decisions, _ = bot_pass(dove, smtp, tmp, folder, workers=workers)
                rates[workers] = len(scans) / seconds
                print(f"scans, reader pool {workers}: {len(scans)} mails in {seconds:.1f} s = "
                      f"{rates[workers]:.2f} mails/s (decisions {decisions})")
            print(f"ratio pool 2 / pool 1: {rates[2] / rates[1]:.2f}x")


if __name__ == "__main__":
    main()
