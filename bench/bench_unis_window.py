"""The first import of a large UNIS extract (issue 23 point 5): N lines of which 5 % broke a rule
years ago (confirmed without a serial, 2018–2023) and 10 break one this week, on a fresh SQLite
database; measured: the branches' findings (goal: exactly the 10), the historic ones counted in
the digest's one line, the import's time with its audit, and the digest's size.

Run: nice python -m bench.bench_unis_window [--n 50000] [--window 30] [--seed 23]
(--seed varies which lines break and their dates: keep one seed for tuning, report others apart.)
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import tempfile
import time
from pathlib import Path

from bot import db
from bot.digest import build_digest
from bot.templating import Templates
from bot.unis import import_extract
from bot.unis.audit import digest_findings, historic_open
from tests.support.app import make_config
from tests.test_unis_audit import COLUMNS, JST, csv_bytes, line

NOW = dt.datetime(2026, 12, 7, 1, 0, tzinfo=dt.UTC)


def extract(n: int, seed: int) -> tuple[list[dict[str, str]], set[str]]:
    rng = random.Random(seed)
    lines, recent = [], set()
    recent_at = set(rng.sample(range(n), 10))
    for i in range(n):
        code = f"{500000000 + i:09d}"
        branch = f"支店{rng.randrange(40):02d}"
        if i in recent_at:
            day = f"2026/12/0{rng.randrange(1, 6)}"
            lines.append(line(customer_code=code, serial="", confirmed_date=day, planned_date=day, branch=branch))
            recent.add(code)
        elif rng.random() < 0.05:
            day = f"{rng.randrange(2018, 2024)}/{rng.randrange(1, 13):02d}/{rng.randrange(1, 29):02d}"
            lines.append(line(customer_code=code, serial="", confirmed_date=day, planned_date=day, branch=branch))
        else:
            day = f"{rng.randrange(2016, 2026)}/{rng.randrange(1, 13):02d}/{rng.randrange(1, 29):02d}"
            lines.append(line(customer_code=code, confirmed_date=day, planned_date=day, branch=branch,
                              serial=f"FG{rng.randrange(10**10):010d}"))
    return lines, recent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--window", type=int, default=30)
    ap.add_argument("--seed", type=int, default=23)
    args = ap.parse_args(argv)
    lines, recent = extract(args.n, args.seed)
    data = csv_bytes(lines)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        db.upgrade(url)
        engine = db.make_engine(url)
        factory = db.session_factory(engine)
        started = time.monotonic()
        with db.transaction(factory) as s:
            report = import_extract(s, data, name="unis.csv", now=NOW, columns=COLUMNS, audit_window_days=args.window)
        seconds = time.monotonic() - started
        with factory() as s:
            groups = digest_findings(s, day=NOW.astimezone(JST).date(), tz=JST)
            found = {f.customer_code for g in groups for f in g.findings}
            historic = historic_open(s)
            digest = build_digest(s, cfg=make_config(url), day=NOW.astimezone(JST).date(), now=NOW,
                                  templates=Templates())
        engine.dispose()
    print(f"UNIS first import: {args.n:,} lines ({len(data) / 1e6:.1f} MB), seed {args.seed}, window {args.window} days: "
          f"{report.inserted:,} loaded in {seconds:.1f} s with the audit")
    print(f"branches' findings: {len(found)} (the {len(recent)} of this week: {'yes' if found == recent else 'NO'}); "
          f"historic, counted not listed: {historic:,}")
    print(f"digest: {len(digest.text):,} characters, {digest.text.count('顧客番号 ')} UNIS lines listed")
    return 0 if found == recent else 1


if __name__ == "__main__":
    sys.exit(main())
