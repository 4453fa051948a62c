"""The scanned-form reader over the generated corpus (issue 10).  Not a test: it prints figures.

    nice python3 -m bench.bench_scans [--n 300] [--seed 20251130] [--json out.json]
                                      [--only 14 92 …] [--where dpi=150 --where color=gray]
                                      [--families [NAME …]] [--page-seconds S]
                                      [--word-marks sure|person]

``--families`` plans the corpus over the form's layout families (tests/fixtures/scans/families.py;
no name: all of them) instead of the one drawing the reader was built on, and reports each family
as a trait with the page-found rate; the held-out family (never tuned on) is marked ``*``.

Forms are generated here (tests/fixtures/scans) and read in a separate reader process, as the
daemon's workers do (one Tesseract thread, ``OMP_THREAD_LIMIT=1``), so its peak RSS is the
reader's alone.  Printed per trait (dpi, colour mode, rotation, fill, mark style, form
version, extra page):

* the READER: mark accuracy (right / unsure / wrong), filled/empty accuracy of the required
  fields, typed values read exactly, seconds per page and the reader's peak RSS;
* the DECISION: every form is put in the branch's order mail (``mails.order_mail``), parsed
  (``bot.mail.parse_mail``), gathered (``bot.pipeline.gather.gather``, with the reading made in the
  reader process and one live UNIS order line, since the bench has no database) and decided
  by ``bot.decide.decide``, twice: with the default ``[scans]`` config and with every scan
  code in ``reject_codes`` and ``accept = true``.  Each decision is one of

  - ``reject``  – rejected for exactly the form's defect (correct);
  - ``accept``  – no defect, nothing unsure: accepted (or, with ``accept = false``, held only
    because of that switch: an accept candidate);
  - ``held``    – manual: something unsure, or a sure defect whose code may not send a scan back;
  - ``FALSE_REJ`` – rejected for a form defect the form does not have (must be 0);
  - ``MISSED``  – the form has a defect and the decision did not name it (accepted, or an
    accept candidate, or rejected for something else) (must be 0).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import multiprocessing as mp
import os
import resource
import statistics
import sys
import time
from collections import defaultdict

from tests.fixtures.scans import DEFAULT_PASSWORD, DEFAULT_SEED, plan
from tests.fixtures.scans.corpus import make, plan_families
from tests.fixtures.scans.families import FAMILIES, HELD_OUT_FAMILY

SCAN_CODES = ("LINE_KIND_MISSING", "LINE_TYPE_MISSING", "MAIL_ADDRESS_MISSING", "PLUS_FLAG_MISMATCH")
OUTCOMES = ("reject", "accept", "held", "FALSE_REJ", "MISSED")
NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))
ACCEPT_SWITCH = "[scans] accept = false"  # the reason of a clean scan held only by the switch


def _defaults() -> tuple[tuple[str, ...], bool]:
    from bot.config import load_config

    cfg = load_config(env={})
    return tuple(cfg.scans.reject_codes), bool(cfg.scans.accept)


DEFAULT_CODES, DEFAULT_ACCEPT = _defaults()


def _reader(conn, page_seconds: float | None = None, word_marks: bool | None = None) -> None:  # type: ignore[no-untyped-def]
    os.environ["OMP_THREAD_LIMIT"] = "1"
    from bot.forms import places, read_form

    if word_marks is not None:
        places.WORD_MARKS_SURE = word_marks
    from bot.config.limits import DEFAULT

    limits = DEFAULT if page_seconds is None else dataclasses.replace(DEFAULT, ocr_page_seconds=page_seconds)

    while True:
        msg = conn.recv()
        if msg is None:
            conn.send(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
            return
        t0 = time.perf_counter()
        reading = read_form(msg, password=DEFAULT_PASSWORD, limits=limits)
        conn.send((reading, time.perf_counter() - t0))


@dataclasses.dataclass(frozen=True)
class _Given:
    """A PdfReader stand-in for gather(): the reading the reader process made."""

    reading: object

    def read(self, pdfs, form):  # type: ignore[no-untyped-def]
        return (self.reading,)


class Decider:
    """The real decision of one form under the two configurations."""

    def __init__(self) -> None:
        from bot.config import load_config
        from bot.pipeline.gather import settings_from

        # The default config of a deployment: [scans] accept is on, and it takes effect once
        # [vendor] pdf_password is set (an accepted scan travels to the vendor encrypted).
        self.cfg = load_config(env={"BOT_VENDOR_PDF_PASSWORD": "vendor-secret"})
        default = settings_from(self.cfg)
        self.settings = {
            "default": default,
            "all_codes+accept": dataclasses.replace(default, scan_reject_codes=SCAN_CODES, scan_accept=True),
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
            code = facts.code or truth["fields"]["customer_code"]
            # the bench has no database: one live UNIS order line, so UNIS_ORDER_MISSING does not arise
            facts = dataclasses.replace(facts, unis=(UnisLine(code, "C0001", "1", None, "受注",
                                                              truth["fields"].get("shop_name"), None, None, None,
                                                              None),))
            decision = deciding.decide(facts)
            out[name] = (classify(decision, truth), decision)
        return out


def classify(decision, truth: dict) -> str:  # type: ignore[no-untyped-def]
    from bot import decide as deciding

    want = set(truth["defects"])
    form_codes = set(decision.defect_codes) & set(SCAN_CODES)
    other = set(decision.defect_codes) - set(SCAN_CODES)
    if decision.decision == deciding.REJECTED:
        if form_codes - want or other:
            return "FALSE_REJ"  # a defect the form does not have (or a misread code: CUSTOMER_CODE_MISMATCH)
        return "reject" if form_codes == want else "MISSED"
    clean = decision.decision == deciding.ACCEPTED or (
        decision.decision == deciding.MANUAL and ACCEPT_SWITCH in decision.reason)
    if clean:
        return "MISSED" if want else "accept"
    return "held"


def _mark_figures(reading, truth: dict, wrong: list[str]) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    ok = unsure = bad = 0
    for key, mk in truth["marks"].items():
        r = reading.reading(key)
        if r is None or r.state == "unsure" or not r.sure:
            unsure += 1  # a judged mark the reader does not stand by (a row left to a person) is no reading
        elif (r.state == "marked") == bool(mk["marked"]):
            ok += 1
        else:
            bad += 1
            wrong.append(f"{truth['id']} mark {key}: read {r.state}, truth {mk['marked']} ({mk['style']})")
    return ok, unsure, bad


def _filled_figures(reading, truth: dict, wrong: list[str]) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    ok = unsure = bad = 0
    for name in truth["required"]:
        r = reading.reading(name)
        if r is None or r.state == "unsure":
            unsure += 1
            continue
        if (r.state in ("read", "filled")) == bool(truth["filled"][name]):
            ok += 1
        else:
            bad += 1
            wrong.append(f"{truth['id']} {name}: read {r.state} (sure={r.sure}), truth filled={truth['filled'][name]}")
    return ok, unsure, bad


TYPED = ("customer_code", "mail_local", "shop_name", "contractor_phone", "shop_phone", "parent_units", "child_units")


def _norm(v: object) -> str:
    import unicodedata

    return "".join(unicodedata.normalize("NFKC", str(v or "")).split()).replace("－", "-").replace("−", "-")


def _typed_figures(reading, truth: dict, wrong: list[str]) -> dict[str, bool]:  # type: ignore[no-untyped-def]
    """Printed values: read sure and exact?  (Sure values that are wrong are listed.)"""
    out = {}
    for name in TYPED:
        r = reading.reading(name)
        want = truth["fields"].get(name)
        sure_value = r is not None and r.state == "read" and r.sure
        if sure_value and _norm(r.value) != _norm(want):
            wrong.append(f"{truth['id']} {name}: read {r.value!r} sure, truth {want!r} "
                         f"(hand={truth['hand'].get(name)})")
        if truth["hand"].get(name) is False and want not in (None, ""):
            out[name] = sure_value and _norm(r.value) == _norm(want)
    return out


def pct(a: float, b: float) -> str:
    return f"{100 * a / b:6.1f}%" if b else "     -"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--first", type=int, default=0, help="start at this form of the plan")
    ap.add_argument("--json", help="write per-form results here")
    ap.add_argument("--only", type=int, nargs="*", help="read only these indexes of the plan")
    ap.add_argument("--where", action="append", default=[], metavar="TRAIT=VALUE",
                    help="read only forms of this spec trait, e.g. dpi=150 or mark_style=circle (repeatable)")
    ap.add_argument("--families", nargs="*", metavar="NAME", choices=FAMILIES,
                    help="plan over these layout families (none named: all); the held-out one is marked *")
    ap.add_argument("--word-marks", choices=("sure", "person"),
                    help="marks judged in choice rows found by their words: trusted, or left to a person "
                         "(default: places.WORD_MARKS_SURE)")
    ap.add_argument("--page-seconds", type=float, metavar="S",
                    help="the reader's ocr_page_seconds (default: the config's 8 s); on a machine shared "
                         "with other work, a larger limit measures accuracy apart from the load")
    args = ap.parse_args(argv)

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    word_marks = None if args.word_marks is None else args.word_marks == "sure"
    proc = ctx.Process(target=_reader, args=(child, args.page_seconds, word_marks), daemon=True)
    proc.start()
    decider = Decider()

    stats: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    per_page: list[float] = []
    per_form: list[float] = []
    rows = []
    wrong: list[str] = []
    bad_decisions: list[str] = []
    started = time.perf_counter()
    specs = (plan_families(args.n, args.seed, tuple(args.families or FAMILIES)) if args.families is not None
             else plan(args.n, args.seed))[args.first:]
    if args.only:
        specs = [s for s in specs if s.index in set(args.only)]
    for cond in args.where:
        key, _, want = cond.partition("=")
        specs = [s for s in specs if str(getattr(s, key)) == want]
    for spec in specs:
        pdf, truth = make(spec)
        parent.send(pdf)
        reading, secs = parent.recv()
        per_form.append(secs)
        per_page.append(secs / max(1, len(truth["pages"])))
        tr = truth["traits"]
        traits = {"all": "all", "dpi": str(tr["dpi"]), "color": tr["color"], "rotation": str(tr["orientation"]),
                  "fill": tr["fill"], "mark_style": tr["mark_style"], "variant": tr["variant"],
                  "extra_page": str(tr["extra_page"])}
        family = tr.get("family", "ruled")
        traits["family"] = family + ("*" if family == HELD_OUT_FAMILY else "")
        m = _mark_figures(reading, truth, wrong)
        f = _filled_figures(reading, truth, wrong)
        typed = _typed_figures(reading, truth, wrong)
        decisions = decider.decide(pdf, truth, reading)
        for name, (res, d) in decisions.items():
            if res in ("FALSE_REJ", "MISSED"):
                bad_decisions.append(f"{truth['id']} [{name}] {res}: {d.decision} {d.defect_codes} truth "
                                     f"{truth['defects']} ({d.reason})")
        for trait, value in traits.items():
            s = stats[(trait, value)]
            s["forms"] += 1
            s["found"] += reading.form_page is not None
            for k, v in zip(("marks_ok", "marks_unsure", "marks_wrong"), m, strict=True):
                s[k] += v
            for k, v in zip(("filled_ok", "filled_unsure", "filled_wrong"), f, strict=True):
                s[k] += v
            for name, ok in typed.items():
                s[f"{name}_typed"] += 1
                s[f"{name}_exact"] += ok
            for name, (res, _) in decisions.items():
                s[f"{name}:{res}"] += 1
            if tr["fill"] != "hand" and tr["dpi"] >= 200:
                s["typed200"] += 1
                for name, (res, _) in decisions.items():
                    s[f"typed200:{name}:auto"] += res in ("reject", "accept")
                for name in ("customer_code", "mail_local"):
                    if name in typed:
                        s["typed200_vals"] += 1
                        s["typed200_exact"] += typed[name]
        rows.append({"id": truth["id"], "defects": truth["defects"], "unsure": list(reading.unsure),
                     "seconds": round(secs, 3), "traits": traits, "detail": reading.detail,
                     "decisions": {n: {"outcome": r, "decision": d.decision, "defects": d.defect_codes,
                                       "reason": d.reason} for n, (r, d) in decisions.items()}})
        print(f"{truth['id']} {decisions['default'][0]:9s} {decisions['all_codes+accept'][0]:9s} {secs:5.2f}s "
              f"unsure={','.join(reading.unsure) or '-'}", file=sys.stderr)
    parent.send(None)
    rss = parent.recv()
    proc.join(5)
    total = time.perf_counter() - started
    report(stats, per_page, per_form, rss, total, wrong, bad_decisions)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, ensure_ascii=False, indent=1)
    return 0


def report(stats, per_page, per_form, rss, total, wrong, bad_decisions) -> None:  # type: ignore[no-untyped-def]
    order = sorted(stats.items(), key=lambda kv: (kv[0][0] != "all", kv[0]))
    print("READER")
    print(f"{'trait':11s} {'value':15s} {'forms':>5s} {'marks':>7s} {'m.uns':>5s} {'m.bad':>5s} {'filled':>7s} "
          f"{'f.uns':>5s} {'f.bad':>5s} {'code=':>7s} {'mail=':>7s} {'shop=':>7s} {'phone=':>7s} {'units=':>7s} "
          f"{'found':>7s}")
    for (trait, value), s in order:
        nm = s["marks_ok"] + s["marks_unsure"] + s["marks_wrong"]
        nf = s["filled_ok"] + s["filled_unsure"] + s["filled_wrong"]
        phone = (s["contractor_phone_exact"] + s["shop_phone_exact"], s["contractor_phone_typed"] + s["shop_phone_typed"])
        units = (s["parent_units_exact"] + s["child_units_exact"], s["parent_units_typed"] + s["child_units_typed"])
        print(f"{trait:11s} {value:15s} {int(s['forms']):5d} {pct(s['marks_ok'], nm)} {int(s['marks_unsure']):5d} "
              f"{int(s['marks_wrong']):5d} {pct(s['filled_ok'], nf)} {int(s['filled_unsure']):5d} "
              f"{int(s['filled_wrong']):5d} {pct(s['customer_code_exact'], s['customer_code_typed'])} "
              f"{pct(s['mail_local_exact'], s['mail_local_typed'])} {pct(s['shop_name_exact'], s['shop_name_typed'])} "
              f"{pct(*phone)} {pct(*units)} {pct(s['found'], s['forms'])}")
    for name in ("default", "all_codes+accept"):
        print(f"\nDECISION ({name}: " + (f"reject_codes = {'/'.join(c.rsplit('_', 1)[0] for c in DEFAULT_CODES)}, "
                                        f"accept = {str(DEFAULT_ACCEPT).lower()}; 'accept' = an accept candidate "
                                        "held only by the switch)" if name == "default" else
                                        "reject_codes = all four scan codes, accept = true)"))
        print(f"{'trait':11s} {'value':15s} {'forms':>5s} {'auto':>7s} " + " ".join(f"{o:>9s}" for o in OUTCOMES))
        for (trait, value), s in order:
            auto = s[f"{name}:reject"] + s[f"{name}:accept"]
            print(f"{trait:11s} {value:15s} {int(s['forms']):5d} {pct(auto, s['forms'])} "
                  + " ".join(f"{int(s[f'{name}:{o}']):9d}" for o in OUTCOMES))
    a = stats[("all", "all")]
    print()
    print(f"decided without a person, default config (rejects only; accept candidates wait for a person): "
          f"{pct(a['default:reject'] + (a['default:accept'] if DEFAULT_ACCEPT else 0), a['forms'])}")
    print(f"decided without a person, all_codes+accept: {pct(a['all_codes+accept:reject'] + a['all_codes+accept:accept'], a['forms'])}")
    for name in ("default", "all_codes+accept"):
        print(f"machine-printed values at >= 200 dpi ({name}): {int(a['typed200'])} forms, decided without a person "
              f"{pct(a[f'typed200:{name}:auto'], a['typed200'])}")
    print(f"customer code + mail address exact on typed scans >= 200 dpi: {pct(a['typed200_exact'], a['typed200_vals'])}")
    qs = statistics.quantiles(per_page, n=20) if len(per_page) > 1 else per_page * 19
    qf = statistics.quantiles(per_form, n=20) if len(per_form) > 1 else per_form * 19
    print(f"seconds per page: median {statistics.median(per_page):.2f}, p95 {qs[18]:.2f}; per form (PDF): "
          f"median {statistics.median(per_form):.2f}, p95 {qf[18]:.2f}, max {max(per_form):.2f}")
    print(f"reader process peak RSS: {rss:.0f} MB; {len(per_form)} forms in {total:.0f} s (generation included)")
    if bad_decisions:
        print(f"\nfalse rejections / missed defects ({len(bad_decisions)}):")
        for w in bad_decisions:
            print("  " + w)
    if wrong:
        print(f"\nsure values that were wrong ({len(wrong)}):")
        for w in wrong[:80]:
            print("  " + w)


if __name__ == "__main__":
    raise SystemExit(main())
