"""A year of mail and what retention leaves of it (issue 22 point 3).

Fills a migrated database with 250 business days × 300 mails (a year of the 事務センター's
mailbox): each mail a filed row with its decision, reasons and facts, and a raw mail of
``--text-kb`` (a plain body) or, for ``--pdf-share`` of them, ``--pdf-kb`` (a form PDF
attached; random bytes, as incompressible as a real PDF), plus one sent reply of 4 KB each.
Then runs the retention job as the daemon does (``[retention]`` defaults: raw 90 days,
sent mails 90 days) at the end of the year, and prints:

- the database's size with every raw mail kept (no retention), after the job (SQLite: the file
  keeps its size, freed pages are reused by the next mails: "in use" is what a steady state
  needs) and after VACUUM;
- how long the job took, and how long `bot status`'s storage queries take on it.

Run: nice python -m bench.bench_retention [--days 250] [--per-day 300] [--url URL | --postgres]
(default: a SQLite file in a temporary folder; --url postgresql+psycopg://… for a PostgreSQL
server of yours; --postgres starts a throwaway PostgreSQL cluster as the tests do,
tests/support/postgres.py, fsync off: its sizes are real, its times optimistic.)
On PostgreSQL the job's freed space stays in the files for reuse (autovacuum); the size
"in use" is measured after ``VACUUM FULL``, which compacts the tables.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sqlite3
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, text

from bot import db
from bot.config import RetentionConfig
from bot.db.models import FILED, Mail, OutboxMessage
from bot.domain.calendar import BusinessCalendar
from bot.jobs import retention

JST = dt.timezone(dt.timedelta(hours=9))
END = dt.datetime(2027, 12, 30, 19, 30, tzinfo=dt.UTC)  # 04:30 JST, after a year of business days


def business_days(n: int) -> list[dt.date]:
    calendar = BusinessCalendar(JST)
    days: list[dt.date] = []
    day = END.astimezone(JST).date() - dt.timedelta(days=1)
    while len(days) < n:
        if calendar.is_business_day(day):
            days.append(day)
        day -= dt.timedelta(days=1)
    return sorted(days)


def raw_mail(n: int, size: int, pool: bytes) -> bytes:
    head = (f"From: shiten{n % 90}@usen.co.jp\r\nTo: usen_spot@mx.usen.co.jp\r\nSubject: 器材発注依頼 店舗{n}\r\n"
            f"Message-ID: <bench-{n}@usen.co.jp>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            f"顧客CD : {100000000 + n}\r\n店舗名 : 店舗{n}\r\n送付支店名 : 渋谷支店\r\n担当者名 : 山田\r\n"
            "--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n").encode()
    start = (n * 7919) % (len(pool) - size)
    return head + pool[start:start + max(size - len(head), 0)] + b"\r\n--b--\r\n"


def fill(url: str, days: list[dt.date], per_day: int, text_kb: int, pdf_kb: int, pdf_share: float) -> int:
    engine = db.make_engine(url)
    rng = random.Random(22)
    pool = os.urandom(pdf_kb * 1024 * 4)
    n = 0
    try:
        for day in days:
            mails, replies = [], []
            for i in range(per_day):
                n += 1
                received = dt.datetime.combine(day, dt.time(9 + i * 8 // per_day, i % 60), tzinfo=JST).astimezone(dt.UTC)
                finished = received + dt.timedelta(minutes=2)
                size = (pdf_kb if rng.random() < pdf_share else text_kb) * 1024
                decision = "accepted" if rng.random() < 0.7 else "rejected"
                mails.append({"id": n, "folder": "INBOX", "uidvalidity": 1, "uid": n, "msgid_hash": f"{n:064x}",
                              "message_id": f"<bench-{n}@usen.co.jp>", "raw": raw_mail(n, size, pool),
                              "subject": f"器材発注依頼 店舗{n}", "from_addr": f"shiten{n % 90}@usen.co.jp",
                              "status": FILED, "kind": "equipment_order", "customer_code": f"{100000000 + n}",
                              "decision": decision,
                              "defects": [] if decision == "accepted" else [{"code": "UNIS_ORDER_MISSING"}],
                              "warnings": [], "facts": {"shop_name": f"店舗{n}", "branch": "渋谷支店", "units": 1},
                              "received_at": received, "decided_at": finished, "filed_at": finished,
                              "filed_folder": "Processed" if decision == "accepted" else "Rejected"})
                replies.append({"mail_id": n, "purpose": "reply", "message_id": f"<reply-{n}@bot>",
                                "mail_from": "usen_spot@mx.usen.co.jp", "rcpt_to": [f"shiten{n % 90}@usen.co.jp"],
                                "subject": f"Re: 器材発注依頼 店舗{n}", "raw": pool[:4096], "status": "sent",
                                "attempts": 1, "created_at": finished, "next_attempt_at": finished, "sent_at": finished})
            with engine.begin() as conn:
                conn.execute(insert(Mail), mails)
                conn.execute(insert(OutboxMessage), replies)
    finally:
        engine.dispose()
    return n


def size_report(url: str) -> dict[str, int]:
    engine = db.make_engine(url)
    try:
        with db.session_factory(engine)() as s:
            total = retention.database_bytes(s) or 0
            if engine.dialect.name == "sqlite":
                free = int(s.scalar(text("PRAGMA freelist_count")) or 0) * int(s.scalar(text("PRAGMA page_size")) or 0)
                return {"file": total, "in_use": total - free}
            return {"file": total, "in_use": total}
    finally:
        engine.dispose()


def mb(n: int) -> str:
    return f"{n / 1024 / 1024:,.0f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=250)
    parser.add_argument("--per-day", type=int, default=300)
    parser.add_argument("--text-kb", type=int, default=8)
    parser.add_argument("--pdf-kb", type=int, default=150)
    parser.add_argument("--pdf-share", type=float, default=0.3)
    parser.add_argument("--url", default="")
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL cluster (tests' fixture)")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="bench-retention-")
    server = None
    if args.postgres:
        from tests.support.postgres import PostgresServer

        server = PostgresServer()
        server.start()
    try:
        run(args, args.url or (server.create_database() if server else f"sqlite:///{Path(tmp.name) / 'bot.sqlite3'}"))
    finally:
        if server is not None:
            server.stop()
        tmp.cleanup()


def run(args: argparse.Namespace, url: str) -> None:
    db.upgrade(url)
    days = business_days(args.days)
    started = time.perf_counter()
    n = fill(url, days, args.per_day, args.text_kb, args.pdf_kb, args.pdf_share)
    print(f"filled {n:,} mails over {len(days)} business days ({days[0]} … {days[-1]}) "
          f"in {time.perf_counter() - started:.0f} s; mean raw {(args.text_kb * (1 - args.pdf_share) + args.pdf_kb * args.pdf_share):.0f} KB")
    before = size_report(url)
    print(f"no retention (every raw mail kept): {mb(before['file'])}")
    engine = db.make_engine(url)
    factory = db.session_factory(engine)
    started = time.perf_counter()
    report = retention.run(factory, RetentionConfig(), now=END)
    took = time.perf_counter() - started
    print(f"retention job (raw 90 days, sent 90 days): {took:.1f} s; {report.note()}")
    started = time.perf_counter()
    with factory() as s:
        oldest = retention.oldest_raw_mail(s)
        size = retention.database_bytes(s)
    print(f"status storage queries: {1000 * (time.perf_counter() - started):.0f} ms (oldest raw {oldest}, {mb(size or 0)})")
    started = time.perf_counter()
    again = retention.run(factory, RetentionConfig(), now=END + dt.timedelta(days=1))
    print(f"next day's run: {time.perf_counter() - started:.1f} s; {again.note()}")
    engine.dispose()
    after = size_report(url)
    if url.startswith("sqlite"):
        print(f"after the job: file {mb(after['file'])}, in use {mb(after['in_use'])}")
    else:
        print(f"after the job: {mb(after['file'])}")
        engine = db.make_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql("VACUUM")  # what autovacuum does: space reusable, files unchanged
        engine.dispose()
        print(f"after VACUUM (autovacuum's): {mb(size_report(url)['file'])}")
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("VACUUM")
        conn.close()
    else:
        engine = db.make_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql("VACUUM FULL")
        engine.dispose()
    print(f"after VACUUM{'' if url.startswith('sqlite') else ' FULL'}: {mb(size_report(url)['file'])}")


if __name__ == "__main__":
    main()
