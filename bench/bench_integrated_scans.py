"""The 統合申込書 scan reader over a generated corpus.  Not a test: it prints figures.

    nice python3 -m bench.bench_integrated_scans [--n 120] [--seed 20261201] [--json out.json]
                                                 [--only 14 92 …] [--where dpi=150 --where color=bw]

As bench/bench_scans.py does for the dedicated form: every scan is generated here
(tests/fixtures/scans/integrated_layout.py, a spec drawn at random: fill, mark styles, SPOT row
ticked / unticked (Tourist alone or other services) / a faint doubtful loop, Plus absent, printed
or handwritten, dpi, colour mode, orientation and the scanner's random skew, now and then a mail
body whose SPOT Plus該当 disagrees with the form) and read in ONE separate reader process
(``OMP_THREAD_LIMIT=1``, as the daemon's workers), so its peak RSS is the reader's alone.

Printed per trait:

* the READER: the USEN SPOT mark (right / unsure / WRONG: a sure reading that contradicts the
  truth; a faint loop is right only as unsure), Plus (right / unsure / WRONG), every other
  service and line mark (wrong ones listed), the customer code and mail address read sure and
  exact where they were printed;
* the DECISION: the order mail (``mails.order_mail``) → ``bot.mail.parse_mail`` →
  ``bot.pipeline.gather.gather`` (the reading from the reader process, one live UNIS line for the
  customer so the form alone decides) → ``bot.decide.decide``, with the default config but
  ``[scans] integrated = "decide"`` (the shipped "hold" holds every integrated scan for a person;
  these figures are why), plus a vendor PDF password so ``[scans] accept`` is in effect, and with
  SPOT_NOT_SELECTED added to ``[scans] reject_codes`` as well.  Each decision is one of

  - ``reject``  – rejected for exactly the form's defects;
  - ``accept``  – accepted, the form has no defect;
  - ``held``    – manual (the reasons are counted);
  - ``FALSE_REJ`` – rejected for a defect the form does not have (must be 0);
  - ``MISSED``  – the form has a defect (or a doubtful SPOT mark) and was accepted, or rejected
    for something else (must be 0).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import multiprocessing as mp
import random
import re
import statistics
import sys
import time
from collections import Counter, defaultdict

from bench.bench_scans import _Given, _reader
from tests.fixtures.integrated import SERVICES
from tests.fixtures.scans import DEFAULT_PASSWORD, FILLS, marks, scanner
from tests.fixtures.scans.integrated_layout import IntegratedSpec, make_integrated

DEFAULT_SEED = 20261201
OUTCOMES = ("reject", "accept", "held", "FALSE_REJ", "MISSED")
FORM_CODES = ("SPOT_NOT_SELECTED", "PLUS_FLAG_MISMATCH", "LINE_KIND_MISSING", "LINE_TYPE_MISSING",
              "MAIL_ADDRESS_MISSING", "CUSTOMER_CODE_MISMATCH", "UNIT_COUNT_MISSING")
NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))
OTHERS = tuple(k for k, _, _ in SERVICES if k not in ("spot", "tourist"))


@dataclasses.dataclass(frozen=True)
class Planned:
    index: int
    spec: IntegratedSpec
    traits: dict[str, str]


def _spread(rng: random.Random, pool: tuple, n: int) -> list:
    """``n`` values of ``pool`` in its proportions (each run of len(pool) holds every value once)."""
    out: list = []
    while len(out) < n:
        chunk = list(pool)
        rng.shuffle(chunk)
        out += chunk
    return out[:n]


def plan(n: int, seed: int) -> list[Planned]:
    """``n`` integrated scans, every trait spread evenly (dpi × colour × fill as bench_scans's plan)."""
    rng = random.Random(seed)
    combos = [(scanner.DPIS[i % 3], scanner.COLOR_MODES[i // 3 % 3], FILLS[(i % 3 + i // 3 + i // 9) % 3])
              for i in range(n)]
    rng.shuffle(combos)
    orients = _spread(rng, (0,) * 13 + (180,) * 4 + (90,) * 2 + (270,), n)
    # the SPOT row: ticked (in the form's style), ticked in another style, a faint loop, unticked
    spot_kinds = _spread(rng, ("ticked",) * 11 + ("other_style",) * 3 + ("faint",) + ("tourist_alone",) * 2
                         + ("others_only",) * 3, n)
    pluses = _spread(rng, (None, None, None, "written", "written"), n)
    hand_styles = iter(_spread(rng, marks.HAND_STYLES, n))
    printed_styles = iter(_spread(rng, marks.PRINTED_STYLES, n))
    out = []
    for i in range(n):
        dpi, color, fill = combos[i]
        r = random.Random(f"{seed}:{i}")
        style = next(printed_styles) if fill == "typed" else next(hand_styles)
        kind = spot_kinds[i]
        spot = kind in ("ticked", "other_style", "faint")
        tourist = kind == "tourist_alone" or (spot and r.random() < 0.15)
        others: tuple[str, ...] = ()
        if kind == "others_only" or (kind != "tourist_alone" and r.random() < 0.6):
            others = tuple(sorted(r.sample(OTHERS, r.choice((1, 1, 2, 3)))))
        spot_style = None
        if kind == "faint":
            spot_style = "faint"
        elif kind == "other_style":
            spot_style = r.choice([s for s in marks.STYLES if s != style])
        plus = None
        if pluses[i]:
            plus = {"typed": "printed", "hand": "hand"}.get(fill) or r.choice(("printed", "hand"))
        body_plus = None
        if r.random() < 0.12:  # the mail body's SPOT Plus該当 disagrees with the form: PLUS_FLAG_MISMATCH
            body_plus = plus is None
        spec = IntegratedSpec(seed=r.getrandbits(40), fill=fill, mark_style=style, spot=spot, tourist=tourist,
                              others=others, plus=plus, spot_style=spot_style, dpi=dpi, color=color,
                              orientation=orients[i], body_plus=body_plus)
        traits = {"all": "all", "dpi": str(dpi), "color": color, "fill": fill, "rotation": str(orients[i]),
                  "spot_row": kind, "spot_style": spot_style or (style if spot else "-"),
                  "plus": plus or "absent"}
        out.append(Planned(i, spec, traits))
    return out


def truth_defects(truth: dict) -> set[str]:
    spec = truth["spec"]
    plus = spec["plus"] is not None
    body_plus = plus if spec["body_plus"] is None else spec["body_plus"]
    want = set()
    if truth["spot"] is False:
        want.add("SPOT_NOT_SELECTED")
    if body_plus != plus:
        want.add("PLUS_FLAG_MISMATCH")
    return want


class Decider:
    """The real decision of one form, under the default config and with SPOT_NOT_SELECTED allowed."""

    def __init__(self) -> None:
        from bot.config import load_config
        from bot.pipeline.gather import settings_from

        self.cfg = load_config(env={"BOT_VENDOR_PDF_PASSWORD": "vendor-secret"})
        # [scans] integrated = "decide": what the reading itself would decide (the shipped default,
        # "hold", holds every integrated scan for a person, on these very figures).
        default = dataclasses.replace(settings_from(self.cfg), scan_integrated_decide=True)
        self.settings = {
            "default": default,
            "+SPOT_NOT_SELECTED": dataclasses.replace(
                default, scan_reject_codes=(*default.scan_reject_codes, "SPOT_NOT_SELECTED")),
        }

    def decide(self, pdf: bytes, truth: dict, reading: object) -> dict[str, tuple[str, object]]:
        from bot import decide as deciding
        from bot.checks.base import UnisLine
        from bot.mail import parse_mail
        from bot.pipeline.gather import gather
        from tests.fixtures.scans.mails import order_mail

        mail = parse_mail(order_mail(pdf, truth))
        out = {}
        for name, settings in self.settings.items():
            facts = gather(mail, cfg=self.cfg, session=None, received_at=NOW, settings=settings,
                           reader=_Given(reading))  # type: ignore[arg-type]
            code = truth["body"]["顧客CD"]  # its UNIS order is registered: the form alone decides
            facts = dataclasses.replace(facts, unis=(UnisLine(code, "1", "1", "Z100403", "受注", truth["body"]["店舗名"],
                                                              "青山支店", "地区", None, None),))
            decision = deciding.decide(facts)
            out[name] = (classify(decision, truth), decision)
        return out


def classify(decision, truth: dict) -> str:  # type: ignore[no-untyped-def]
    from bot import decide as deciding

    want = truth_defects(truth)
    got = set(decision.defect_codes)
    if decision.decision == deciding.REJECTED:
        if got - want:
            return "FALSE_REJ"
        return "reject" if got == want and truth["spot"] is not None else "MISSED"
    if decision.decision == deciding.ACCEPTED:
        return "MISSED" if want or truth["spot"] is None else "accept"
    return "held"


_UNSURE = re.compile(r"\b(spot_selected|plus|customer_code|line_kind|line_type|mail_local|mail_reading|"
                     r"parent_units|child_units|remarks|check_method)\b")


def held_reasons(decision) -> list[str]:  # type: ignore[no-untyped-def]
    """Short reasons of a held decision: the readings named unsure, the sure codes held, the switch."""
    reason = decision.reason or ""
    if "は目視で確認してください" in reason and decision.defect_codes:
        return [f"held code {c}" for c in decision.defect_codes]
    if "次の項目を確実に読み取れませんでした" in reason:
        return [f"unsure {m}" for m in dict.fromkeys(_UNSURE.findall(reason))] or [reason[:70]]
    if "受付前に目視で確認" in reason:
        return ["[scans] accept switch"]
    return [reason[:70]]


def reader_figures(reading, truth: dict, wrong: list[str]) -> dict[str, float]:  # type: ignore[no-untyped-def]
    s: dict[str, float] = defaultdict(float)
    tid = truth["id"]
    if reading.form != "integrated":
        s["not_integrated"] += 1
        wrong.append(f"{tid}: read as {reading.shape}/{reading.form}: {reading.detail[:120]}")
    # the SPOT mark
    spot = reading.spot_selected
    if spot is None:
        s["spot_unsure"] += 1
    elif truth["spot"] is None or spot is not truth["spot"]:
        s["spot_wrong"] += 1
        wrong.append(f"{tid} SPOT: read {spot} sure, truth {truth['spot']} ({truth['spec']['spot_style']}, "
                     f"{truth['spec']['mark_style']})")
    else:
        s["spot_ok"] += 1
    if truth["spot"] is None:
        s["faint"] += 1
        s["faint_unsure"] += spot is None
    # Plus
    plus = reading.reading("plus")
    want_plus = bool(truth["fields"]["plus"])
    if plus is None or not plus.sure:
        s["plus_unsure"] += 1
    elif reading.fields is None or reading.fields.plus is not want_plus:
        s["plus_wrong"] += 1
        got = reading.fields.plus if reading.fields is not None else None
        wrong.append(f"{tid} Plus: read {got} sure, truth {want_plus} ({truth['spec']['plus']})")
    else:
        s["plus_ok"] += 1
    # the other marks (services, options, line rows)
    for key, mk in truth["marks"].items():
        name = "service." + key.split(".", 1)[1] if key.startswith("option.") else key
        if name == "service.spot":
            continue
        r = reading.reading(name)
        if r is None or r.state == "unsure" or not r.sure:
            s["marks_unsure"] += 1
        elif (r.state == "marked") == bool(mk["marked"]):
            s["marks_ok"] += 1
        else:
            s["marks_wrong"] += 1
            wrong.append(f"{tid} mark {name}: read {r.state}, truth {mk['marked']} ({mk['style']})")
    for svc in reading.services:
        if svc not in truth["services"]:
            wrong.append(f"{tid} services: {svc} read as chosen, truth {truth['services']}")
    # shared printed values
    fields = reading.fields
    for name in ("customer_code", "mail_local"):
        r = reading.reading(name)
        want = truth["fields"].get(name)
        sure_value = r is not None and r.state == "read" and r.sure and name not in reading.unsure
        got = getattr(fields, name, None) if fields is not None else None
        if sure_value and got != want:
            wrong.append(f"{tid} {name}: read {got!r} sure, truth {want!r}")
        if truth["hand"].get(name) is False and want:
            s[f"{name}_typed"] += 1
            s[f"{name}_exact"] += bool(sure_value and got == want)
    return s


def pct(a: float, b: float) -> str:
    return f"{100 * a / b:6.1f}%" if b else "     -"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=120)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--json", help="write per-form results here")
    ap.add_argument("--only", type=int, nargs="*", help="read only these indexes of the plan")
    ap.add_argument("--where", action="append", default=[], metavar="TRAIT=VALUE",
                    help="read only forms of this trait, e.g. dpi=150 or spot_row=faint (repeatable)")
    args = ap.parse_args(argv)

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_reader, args=(child,), daemon=True)
    proc.start()
    decider = Decider()

    stats: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    per_page: list[float] = []
    wrong: list[str] = []
    bad: list[str] = []
    reasons: dict[str, Counter] = {name: Counter() for name in decider.settings}
    rows = []
    started = time.perf_counter()
    todo = plan(args.n, args.seed)
    if args.only:
        todo = [p for p in todo if p.index in set(args.only)]
    for cond in args.where:
        key, _, want = cond.partition("=")
        todo = [p for p in todo if p.traits.get(key) == want]
    for p in todo:
        pdf, truth = make_integrated(p.spec, password=DEFAULT_PASSWORD)
        truth["id"] = f"int-{p.index:04d}"
        parent.send(pdf)
        reading, secs = parent.recv()
        per_page.append(secs)  # one page a form
        figs = reader_figures(reading, truth, wrong)
        decisions = decider.decide(pdf, truth, reading)
        for name, (res, d) in decisions.items():
            if res in ("FALSE_REJ", "MISSED"):
                bad.append(f"{truth['id']} [{name}] {res}: {d.decision} {d.defect_codes} truth "
                           f"{sorted(truth_defects(truth))} spot={truth['spot']} ({d.reason[:160]})")
            if res == "held":
                reasons[name].update(held_reasons(d))
        for trait, value in p.traits.items():
            s = stats[(trait, value)]
            s["forms"] += 1
            for k, v in figs.items():
                s[k] += v
            for name, (res, _) in decisions.items():
                s[f"{name}:{res}"] += 1
        rows.append({"index": p.index, "spec": dataclasses.asdict(p.spec), "traits": p.traits,
                     "unsure": list(reading.unsure), "spot_selected": reading.spot_selected,
                     "services": list(reading.services), "seconds": round(secs, 3), "detail": reading.detail,
                     "decisions": {n: {"outcome": r, "decision": d.decision, "defects": d.defect_codes,
                                       "reason": d.reason} for n, (r, d) in decisions.items()}})
        print(f"{truth['id']} spot={truth['spot']!s:5s} read={reading.spot_selected!s:5s} "
              f"{decisions['default'][0]:9s} {decisions['+SPOT_NOT_SELECTED'][0]:9s} {secs:5.2f}s "
              f"unsure={','.join(reading.unsure) or '-'}", file=sys.stderr)
    parent.send(None)
    rss = parent.recv()
    proc.join(5)
    report(stats, per_page, rss, time.perf_counter() - started, wrong, bad, reasons, args)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, ensure_ascii=False, indent=1)
    return 0


def report(stats, per_page, rss, total, wrong, bad, reasons, args) -> None:  # type: ignore[no-untyped-def]
    order = sorted(stats.items(), key=lambda kv: (kv[0][0] != "all", kv[0]))
    print(f"統合申込書 scans: n={args.n} seed={args.seed}")
    print("READER (SPOT: the USEN SPOT row's mark; a faint loop is right only as unsure)")
    print(f"{'trait':10s} {'value':14s} {'forms':>5s} {'SPOT ok':>7s} {'s.uns':>5s} {'S.BAD':>5s} "
          f"{'Plus ok':>7s} {'p.uns':>5s} {'P.BAD':>5s} {'marks':>7s} {'m.uns':>5s} {'m.bad':>5s} "
          f"{'code=':>7s} {'mail=':>7s}")
    for (trait, value), s in order:
        nm = s["marks_ok"] + s["marks_unsure"] + s["marks_wrong"]
        print(f"{trait:10s} {value:14s} {int(s['forms']):5d} {pct(s['spot_ok'], s['forms'])} "
              f"{int(s['spot_unsure']):5d} {int(s['spot_wrong']):5d} {pct(s['plus_ok'], s['forms'])} "
              f"{int(s['plus_unsure']):5d} {int(s['plus_wrong']):5d} {pct(s['marks_ok'], nm)} "
              f"{int(s['marks_unsure']):5d} {int(s['marks_wrong']):5d} "
              f"{pct(s['customer_code_exact'], s['customer_code_typed'])} "
              f"{pct(s['mail_local_exact'], s['mail_local_typed'])}")
    for name in ("default", "+SPOT_NOT_SELECTED"):
        print(f"\nDECISION ({name})")
        print(f"{'trait':10s} {'value':14s} {'forms':>5s} {'auto':>7s} " + " ".join(f"{o:>9s}" for o in OUTCOMES))
        for (trait, value), s in order:
            auto = s[f"{name}:reject"] + s[f"{name}:accept"]
            print(f"{trait:10s} {value:14s} {int(s['forms']):5d} {pct(auto, s['forms'])} "
                  + " ".join(f"{int(s[f'{name}:{o}']):9d}" for o in OUTCOMES))
        print(f"held, top reasons ({name}): "
              + "; ".join(f"{r} {c}" for r, c in reasons[name].most_common(6)))
    a = stats[("all", "all")]
    print()
    for name in ("default", "+SPOT_NOT_SELECTED"):
        print(f"decided without a person ({name}): {pct(a[f'{name}:reject'] + a[f'{name}:accept'], a['forms'])}")
    print(f"SPOT mark: right {int(a['spot_ok'])}, unsure {int(a['spot_unsure'])}, WRONG {int(a['spot_wrong'])} "
          f"(faint loops unsure: {int(a['faint_unsure'])}/{int(a['faint'])}); "
          f"Plus: right {int(a['plus_ok'])}, unsure {int(a['plus_unsure'])}, WRONG {int(a['plus_wrong'])}")
    print(f"customer code exact where printed: {pct(a['customer_code_exact'], a['customer_code_typed'])} "
          f"({int(a['customer_code_typed'])}); mail address: {pct(a['mail_local_exact'], a['mail_local_typed'])} "
          f"({int(a['mail_local_typed'])})")
    qs = statistics.quantiles(per_page, n=20) if len(per_page) > 1 else per_page * 19
    print(f"seconds per page: median {statistics.median(per_page):.2f}, p95 {qs[18]:.2f}, max {max(per_page):.2f}")
    print(f"reader process peak RSS: {rss:.0f} MB; {len(per_page)} forms in {total:.0f} s (generation included)")
    if bad:
        print(f"\nfalse rejections / missed defects ({len(bad)}):")
        for w in bad:
            print("  " + w)
    if wrong:
        print(f"\nsure readings that were wrong ({len(wrong)}):")
        for w in wrong[:80]:
            print("  " + w)


if __name__ == "__main__":
    raise SystemExit(main())
