"""Scanned 解約申請書 decided by the bot (issue 19, point 5).  Not a test: it prints figures.

Each form is a generated scan (tests/fixtures/scans/termination_scan.py: typed / handwritten /
mixed values, ruled table / plain lines / digit boxes, 150–300 dpi, colour / grey / b&w, skew and
turns, cover and blank pages, AES-256 and RC4) in the branch's 解約申請 mail, put through the
real path: ``parse_mail`` → ``gather`` (the real reader, in this process, default config) →
``decide``, with one live UNIS line for the customer (the bench has no database).  Two seeds:
the one the reader was tuned on and a held-out one nobody looked at while tuning, reported apart.

    nice python3 -m bench.bench_termination_scans [--n 40] [--seed 20261207] [--held-out 4242]

Per seed: decided without a person (差戻 + 受付), false rejections (a 差戻 for a code the form
does not have), missed defects (a defect form accepted, or sent back without its defect),
sure-and-wrong readings, held reasons, seconds per page (reader time / pages in the PDF).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import statistics
import time
from collections import Counter

NOW = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))


def run(n: int, seed: int) -> dict[str, object]:
    import pikepdf

    from bot import decide as deciding
    from bot.checks.base import UnisLine
    from bot.config import load_config
    from bot.mail import parse_mail
    from bot.pipeline.gather import gather
    from tests.fixtures.scans.termination_scan import make, plan, termination_mail

    cfg = load_config(env={})
    out: Counter[str] = Counter()
    held: Counter[str] = Counter()
    per_page: list[float] = []
    wrong: list[str] = []
    bad: list[str] = []
    for spec in plan(n, seed):
        pdf, truth = make(spec)
        mail = parse_mail(termination_mail(pdf, truth))
        start = time.monotonic()
        facts = gather(mail, cfg=cfg, session=None, received_at=NOW)
        seconds = time.monotonic() - start
        with pikepdf.open(__import__("io").BytesIO(pdf), password="uspot") as doc:
            per_page.append(seconds / len(doc.pages))
        code = truth["code"]
        facts = dataclasses.replace(facts, unis=(UnisLine(code, "C0001", "1", "Z100401", "確定", "店舗", "東京支店",
                                                          "地区", None, None),))
        decision = deciding.decide(facts)
        reading = facts.termination_forms[0]
        for r in reading.readings:
            if r.sure and r.state == "read" and r.value != truth["fields"].get(r.name):
                wrong.append(f"{truth['id']} {r.name} {r.value} != {truth['fields'].get(r.name)}")
        expected = set(truth["defects"])
        got = set(decision.defect_codes)
        out["forms"] += 1
        if decision.decision == deciding.REJECTED:
            out["rejected"] += 1
            if not expected or not got <= expected:
                out["false_rejections"] += 1
                bad.append(f"{truth['id']} FALSE REJECTION {sorted(got)} (truth {sorted(expected)})")
            elif not expected <= got:
                out["missed"] += 1
                bad.append(f"{truth['id']} sent back without {sorted(expected - got)}")
        elif decision.decision == deciding.ACCEPTED:
            out["accepted"] += 1
            if expected:
                out["missed"] += 1
                bad.append(f"{truth['id']} ACCEPTED with {sorted(expected)}")
        else:
            out["held"] += 1
            held[decision.reason.split("：")[0].split(":")[0][:40]] += 1
            if not expected:
                out["held_correct"] += 1
        out[f"fill={spec.fill}:forms"] += 1
        out[f"fill={spec.fill}:auto"] += decision.decision in (deciding.REJECTED, deciding.ACCEPTED)
        out[f"layout={spec.layout}:forms"] += 1
        out[f"layout={spec.layout}:auto"] += decision.decision in (deciding.REJECTED, deciding.ACCEPTED)
        out[f"dpi={spec.dpi}:forms"] += 1
        out[f"dpi={spec.dpi}:auto"] += decision.decision in (deciding.REJECTED, deciding.ACCEPTED)
        print(f"{truth['id']} {spec.layout:6} {spec.fill:5} {spec.dpi} {spec.color:5} {spec.orientation:3} "
              f"{str(truth['defects']):30} → {decision.decision:8} {decision.defect_codes} {decision.reason[:70]}",
              flush=True)
    return {"counts": out, "held": held, "per_page": per_page, "wrong": wrong, "bad": bad}


def report(name: str, r: dict[str, object]) -> None:
    c: Counter[str] = r["counts"]  # type: ignore[assignment]
    pages: list[float] = r["per_page"]  # type: ignore[assignment]
    n = c["forms"]
    auto = c["rejected"] + c["accepted"]
    print(f"\n== {name}: {n} forms")
    print(f"decided without a person: {auto}/{n} ({100 * auto / max(1, n):.1f} %): "
          f"{c['rejected']} 差戻, {c['accepted']} 受付; held {c['held']} ({c['held_correct']} of them correct forms)")
    print(f"false rejections: {c['false_rejections']}; missed defects: {c['missed']}; "
          f"sure and wrong readings: {len(r['wrong'])}")  # type: ignore[arg-type]
    for key in sorted(k for k in c if k.endswith(":forms")):
        trait = key[: -len(":forms")]
        print(f"  {trait:14} {c[trait + ':auto']:3}/{c[key]:3} decided")
    if pages:
        q = statistics.quantiles(pages, n=20) if len(pages) >= 2 else pages
        print(f"seconds per page: median {statistics.median(pages):.2f}, p95 {q[-1]:.2f}, max {max(pages):.2f}")
    for reason, k in r["held"].most_common():  # type: ignore[attr-defined]
        print(f"  held {k:3}  {reason}")
    for line in [*r["wrong"], *r["bad"]]:  # type: ignore[misc]
        print("  !!", line)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--seed", type=int, default=20261207, help="the seed the reader was tuned on")
    ap.add_argument("--held-out", type=int, default=4242, help="a seed kept out of all tuning (0: skip)")
    args = ap.parse_args(argv)
    results = [(f"tuning seed {args.seed}", run(args.n, args.seed))]
    if args.held_out:
        results.append((f"held-out seed {args.held_out}", run(args.n, args.held_out)))
    for name, r in results:
        report(name, r)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
