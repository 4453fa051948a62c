"""The scanned-form reader over the generated corpus (issue 10).  Not a test: it prints figures.

    nice python3 -m bench.bench_scans [--n 300] [--seed 20251130] [--json out.json]

Forms are generated here (tests/fixtures/scans) and read in a separate reader process, as the
daemon's workers do (one Tesseract thread, ``OMP_THREAD_LIMIT=1``), so its peak RSS is the
reader's alone.  Printed per trait (dpi, colour mode, rotation, fill, mark style, form
version, extra page): mark accuracy, filled/empty accuracy of the required fields, typed
values read exactly, and what the reading alone would decide (a stand-in for the pipeline):

* ``correct``   – the reader's sure values give exactly the form's defect (or none);
* ``manual``    – a field a check needs is unsure (a person looks);
* ``false_rej`` – a sure value gives a defect the form does not have (must be 0);
* ``missed``    – the form has a defect and the reader, sure of everything, did not see it (must be 0).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import statistics
import sys
import time
from collections import defaultdict

from tests.fixtures.scans import DEFAULT_PASSWORD, DEFAULT_SEED, plan
from tests.fixtures.scans.corpus import make

NEEDED = ("line_kind", "plus", "mail_local")


def _reader(conn) -> None:  # type: ignore[no-untyped-def]
    os.environ["OMP_THREAD_LIMIT"] = "1"
    from bot.forms import read_form

    while True:
        msg = conn.recv()
        if msg is None:
            conn.send(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
            return
        t0 = time.perf_counter()
        reading = read_form(msg, password=DEFAULT_PASSWORD)
        conn.send((reading, time.perf_counter() - t0))


def _body_plus(truth: dict) -> bool:
    body = truth["body"]
    if isinstance(body, dict):
        return str(body.get("SPOT Plus該当", "")).strip() == "有"
    for line in body if isinstance(body, list) else str(body).splitlines():
        if "Plus該当" in line:
            return "有" in line
    return False


def outcome(reading, truth: dict) -> tuple[str, list[str]]:  # type: ignore[no-untyped-def]
    """What the reading alone decides: (correct | manual | false_rej | missed, defects found)."""
    f = reading.fields
    unsure = set(reading.unsure)
    if f is None:
        return "manual", []
    found: list[str] = []
    needed_unsure = [n for n in NEEDED if n in unsure]
    if "line_kind" not in unsure and f.line_kind is None:
        found.append("LINE_KIND_MISSING")
    if f.line_kind == "b_flets":
        if "line_type" in unsure:
            needed_unsure.append("line_type")
        elif f.line_type is None:
            found.append("LINE_TYPE_MISSING")
    if "mail_local" not in unsure and f.mail_local == "":
        found.append("MAIL_ADDRESS_MISSING")
    if "plus" not in unsure and f.plus != _body_plus(truth):
        found.append("PLUS_FLAG_MISMATCH")
    if f.customer_code and f.customer_code != truth["fields"]["customer_code"]:
        found.append("CUSTOMER_CODE_MISMATCH")
    expected = set(truth["defects"])
    if set(found) - expected:
        return "false_rej", found
    if found:
        return "correct", found
    if needed_unsure:
        return "manual", found
    return ("missed" if expected else "correct"), found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--json", help="write per-form results here")
    args = ap.parse_args(argv)

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_reader, args=(child,), daemon=True)
    proc.start()

    stats: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    per_page: list[float] = []
    per_form: list[float] = []
    rows = []
    wrong_values: list[str] = []
    started = time.perf_counter()
    for spec in plan(args.n, args.seed):
        pdf, truth = make(spec)
        parent.send(pdf)
        reading, secs = parent.recv()
        per_form.append(secs)
        per_page.append(secs / max(1, len(truth["pages"])))
        tr = truth["traits"]
        traits = {"all": "all", "dpi": str(tr["dpi"]), "color": tr["color"], "rotation": str(tr["orientation"]),
                  "fill": tr["fill"], "mark_style": tr["mark_style"], "variant": tr["variant"],
                  "extra_page": str(tr["extra_page"])}
        res, found = outcome(reading, truth)
        m_ok = m_unsure = m_wrong = 0
        for key, mk in truth["marks"].items():
            r = reading.reading(key)
            if r is None or r.state == "unsure":
                m_unsure += 1
            elif (r.state == "marked") == bool(mk["marked"]):
                m_ok += 1
            else:
                m_wrong += 1
                wrong_values.append(f"{truth['id']} mark {key}: read {r.state}, truth {mk['marked']} ({mk['style']})")
        f_ok = f_unsure = f_wrong = 0
        for name in truth["required"]:
            r = reading.reading(name)
            if r is None or r.state == "unsure":
                f_unsure += 1
                continue
            filled = r.state in ("read", "filled")
            if filled == bool(truth["filled"][name]):
                f_ok += 1
            else:
                f_wrong += 1
                wrong_values.append(f"{truth['id']} {name}: read {r.state}, truth filled={truth['filled'][name]}")
        typed = {}
        for name in ("customer_code", "mail_local", "shop_name", "contact_last", "contact_first"):
            r = reading.reading(name)
            want = truth["fields"].get(name) or ""
            sure_value = r is not None and r.state == "read"
            if sure_value and "".join(r.value.split()) != "".join(want.split()):
                wrong_values.append(f"{truth['id']} {name}: read {r.value!r} sure, truth {want!r} "
                                    f"(hand={truth['hand'].get(name)})")
            if not truth["hand"].get(name, True) and want:
                typed[name] = sure_value and "".join(r.value.split()) == "".join(want.split())
        for trait, value in traits.items():
            s = stats[(trait, value)]
            s["forms"] += 1
            s["marks_ok"] += m_ok
            s["marks_unsure"] += m_unsure
            s["marks_wrong"] += m_wrong
            s["filled_ok"] += f_ok
            s["filled_unsure"] += f_unsure
            s["filled_wrong"] += f_wrong
            s[res] += 1
            for name in ("customer_code", "mail_local"):
                if name in typed:
                    s[f"{name}_typed"] += 1
                    s[f"{name}_exact"] += typed[name]
            if tr["fill"] != "hand" and tr["dpi"] >= 200:
                s["typed200"] += 1
                s["typed200_auto"] += res == "correct"
                for name in ("customer_code", "mail_local"):
                    if name in typed:
                        s["typed200_vals"] += 1
                        s["typed200_exact"] += typed[name]
        rows.append({"id": truth["id"], "outcome": res, "found": found, "defects": truth["defects"],
                     "unsure": list(reading.unsure), "seconds": round(secs, 3), "traits": traits,
                     "detail": reading.detail})
        print(f"{truth['id']} {res:9s} {secs:5.2f}s unsure={','.join(reading.unsure) or '-'}", file=sys.stderr)
    parent.send(None)
    rss = parent.recv()
    proc.join(5)
    total = time.perf_counter() - started

    def pct(a: float, b: float) -> str:
        return f"{100 * a / b:6.1f}%" if b else "     -"

    head = (f"{'trait':12s} {'value':15s} {'forms':>5s} {'marks':>7s} {'m.uns':>6s} {'m.bad':>5s} {'filled':>7s} "
            f"{'f.uns':>6s} {'f.bad':>5s} {'code=':>7s} {'mail=':>7s} {'decided':>7s} {'correct':>7s} {'manual':>6s} "
            f"{'falseR':>6s} {'missed':>6s}")
    print(head)
    for (trait, value), s in sorted(stats.items(), key=lambda kv: (kv[0][0] != "all", kv[0])):
        nm = s["marks_ok"] + s["marks_unsure"] + s["marks_wrong"]
        nf = s["filled_ok"] + s["filled_unsure"] + s["filled_wrong"]
        print(f"{trait:12s} {value:15s} {int(s['forms']):5d} {pct(s['marks_ok'], nm)} {int(s['marks_unsure']):6d} "
              f"{int(s['marks_wrong']):5d} {pct(s['filled_ok'], nf)} {int(s['filled_unsure']):6d} "
              f"{int(s['filled_wrong']):5d} {pct(s['customer_code_exact'], s['customer_code_typed'])} "
              f"{pct(s['mail_local_exact'], s['mail_local_typed'])} {pct(s['correct'], s['forms'])} "
              f"{int(s['correct']):7d} {int(s['manual']):6d} {int(s['false_rej']):6d} {int(s['missed']):6d}")
    a = stats[("all", "all")]
    print()
    print(f"machine-printed values at >= 200 dpi: {int(a['typed200'])} forms, decided without a person "
          f"{pct(a['typed200_auto'], a['typed200'])}, customer code + mail address exact "
          f"{pct(a['typed200_exact'], a['typed200_vals'])}")
    qs = statistics.quantiles(per_page, n=20) if len(per_page) > 1 else per_page * 19
    qf = statistics.quantiles(per_form, n=20) if len(per_form) > 1 else per_form * 19
    print(f"seconds per page: median {statistics.median(per_page):.2f}, p95 {qs[18]:.2f}; per form (PDF): "
          f"median {statistics.median(per_form):.2f}, p95 {qf[18]:.2f}, max {max(per_form):.2f}")
    print(f"reader process peak RSS: {rss:.0f} MB; {len(per_form)} forms in {total:.0f} s (generation included)")
    if wrong_values:
        print(f"\nsure values that were wrong ({len(wrong_values)}):")
        for w in wrong_values[:60]:
            print("  " + w)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, ensure_ascii=False, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
