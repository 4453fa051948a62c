"""Which OCR engine for the layout-free reader (issue 19, point 3), measured on the same pages.

    python3 bench/bench_ocr_engines.py --n-per-family 5 --seed 7 [--engines A A3 B C D] [--det-side 1280]
    python3 bench/bench_ocr_engines.py --words --n 24 --seed 9191 [--engines A B C]   (see "--words" below)

Pages: generated scans (``plan_families``), the form page rendered as the bot does (PDFium, 200 dpi
grey), turned upright by the truth's orientation.  Each engine runs in its own process, models loaded
once, ONE thread (OMP_NUM_THREADS=1, OMP_THREAD_LIMIT=1, onnxruntime intra/inter-op 1); peak RSS = VmHWM.
A: Tesseract 5.5 jpn, whole page (bot.forms.ocr, PSM 11; A3: PSM 3).  B: RapidOCR 3.x det + rec (the
wheel's models, given by path: its download code is never reached).  C: RapidOCR's detector, Tesseract
jpn reading each box.  D: A's page for the labels, RapidOCR det + rec for the value cells.
A label is found when a line holds its FORM-SPEC word (NFKC, no spaces) with the match's centre within
--tol pt of the truth box (form_to_image); fuzzy: similarity >= 0.75; decide: all DECISIVE found fuzzily.
A value is read when its printed text (folded) is among the characters centred in its cell; "cells":
the code/phone/mail cells cut at their truth box and read alone.  Needs pip install -e '.[test,bench]'.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from difflib import SequenceMatcher
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ONE_THREAD = {"OMP_NUM_THREADS": "1", "OMP_THREAD_LIMIT": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
DPI = 200  # the bot's working resolution (bot/forms/raster.py)
VALUE_FIELDS = {"code": ("customer_code",), "phone": ("contractor_phone", "shop_phone"), "mail": ("mail_local",)}
CELL_FIELDS = {f for fs in VALUE_FIELDS.values() for f in fs}
# The labels a decision needs (the required cells, the marked choices, Plus): a form is "decidable"
# when all of them are found (fuzzily, as a reader matches them).
DECISIVE = ("customer_code", "shop_name", "line_kind", "line_type", "mail_local", "contact", "plus")
HYPHENS = str.maketrans({c: "-" for c in "-−－‐‑‒–—―ーｰ一"})  # 一: a printed － read as the kanji one
ENGINES = {"A": "Tesseract jpn page, PSM 11", "A3": "Tesseract jpn page, PSM 3",
           "B": "RapidOCR det + rec", "C": "RapidOCR det + Tesseract lines",
           "D": "A's page, RapidOCR value cells"}


def norm(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKC", text) if not c.isspace())


def fold(text: str) -> str:
    """A value as compared: normalised, every run of hyphen-like marks one "-" (a － read as "ー-")."""
    return re.sub("-+", "-", norm(text).translate(HYPHENS))


def rect(m: list, box: list, grow_pt: float) -> tuple[float, float, float, float]:
    """A box of the form (pt) grown by grow_pt, as the pixel rectangle around its image through m."""
    x0, y0, x1, y1 = box[0] - grow_pt, box[1] - grow_pt, box[2] + grow_pt, box[3] + grow_pt
    pts = [(m[0][0] * x + m[0][1] * y + m[0][2], m[1][0] * x + m[1][1] * y + m[1][2])
           for x, y in ((x0, y0), (x1, y0), (x0, y1), (x1, y1))]
    return min(p[0] for p in pts), min(p[1] for p in pts), max(p[0] for p in pts), max(p[1] for p in pts)


# ----------------------------------------------------------------------------------------- pages
def make_pages(n_per_family: int, seed: int, out: Path) -> list[dict]:
    import cv2
    import numpy as np
    import pypdfium2 as pdfium

    from tests.fixtures.scans.corpus import make, plan_families
    from tests.fixtures.scans.families import FAMILIES, LABELS

    pages = []
    for spec in plan_families(n_per_family * len(FAMILIES), seed):
        pdf, truth = make(spec)
        doc = pdfium.PdfDocument(pdf, password=truth["password"])
        bitmap = doc[truth["form_page"]].render(scale=DPI / 72, grayscale=True).to_numpy()
        doc.close()
        raw = np.ascontiguousarray(bitmap[:, :, 0] if bitmap.ndim == 3 else bitmap, dtype=np.uint8)
        m = np.vstack([np.array(truth["form_to_image"], float) * DPI / spec.dpi, [0, 0, 1]])
        up, mu = raw, m
        for _ in range(spec.orientation // 90):  # the form is turned clockwise in the scan: turn it back
            up, mu = np.ascontiguousarray(np.rot90(up)), np.array([[0, 1, 0], [-1, 0, up.shape[1]], [0, 0, 1]]) @ mu
        cv2.imwrite(str(out / f"{truth['id']}.up.png"), up)
        if spec.orientation:
            cv2.imwrite(str(out / f"{truth['id']}.raw.png"), raw)
        printed = {tuple(p["box"]): p["text"] for p in truth["boxes"]["printed"]}
        labels = []
        for key, box in truth["labels"].items():  # the FORM-SPEC word printed there (longest that fits)
            words = [w for w in LABELS.get(key, ()) if norm(w) in norm(printed.get(tuple(box), ""))]
            labels.append((key, max(words, key=len) if words else LABELS[key][0], box))
        cells = truth["boxes"]["cells"]
        values = [(f, t, cells[f], bool(truth["hand"].get(f))) for f, t in truth["printed_text"].items() if t and f in cells]
        pages.append({"id": truth["id"], "family": spec.family, "fill": spec.fill, "dpi": spec.dpi, "color": spec.color,
                      "orientation": spec.orientation, "m_up": mu[:2].tolist(), "m_raw": m[:2].tolist(),
                      "labels": labels, "values": values})
        print(f"  {truth['id']} {spec.family} {spec.fill} {spec.dpi} {spec.color} {spec.orientation}", file=sys.stderr)
    return pages


# ---------------------------------------------------------------------------------------- worker
def _line(text: str, chars: list | None, box) -> dict:
    return {"t": text, "b": [float(v) for v in box], "c": chars}


def _rapid(det_side: int, rec: bool):
    try:  # main() has said how to install it when it is missing
        import rapidocr
        from rapidocr import RapidOCR
    except ImportError as err:
        sys.exit(f"rapidocr not installed ({err}): pip install -e '.[bench]'")

    models = Path(rapidocr.__file__).parent / "models"
    paths = {k: sorted(models.glob(f"*{k.lower()}*.onnx")) for k in ("Det", "Rec", "Cls")}
    if not all(paths.values()):  # rapidocr would fetch them from its model hub at the first call
        sys.exit(f"rapidocr's wheel lacks models in {models} ({paths}): they would be downloaded at run time")
    params = {"Global.log_level": "error", "Global.max_side_len": 4000, "Global.use_rec": rec,
              "Global.return_word_box": rec, "Global.return_single_char_box": rec,
              "Det.limit_type": "max", "Det.limit_side_len": det_side, "Rec.rec_batch_num": 1,  # 1 thread: no gain
              # from batches, and a batch of 6 long lines padded to the longest took ~+300 MB
              "EngineConfig.onnxruntime.intra_op_num_threads": 1, "EngineConfig.onnxruntime.inter_op_num_threads": 1}
    params.update({f"{k}.model_path": str(v[0]) for k, v in paths.items()})
    return RapidOCR(params=params), {k: v[0].name for k, v in paths.items()}


def worker(engine: str, folder: Path, det_side: int) -> None:  # noqa: C901 - one engine's whole run
    import ctypes

    import cv2
    import numpy as np

    from bot.forms import ocr

    pages = json.loads((folder / "pages.json").read_text())
    info: dict = {"engine": engine}
    t0 = time.perf_counter()
    if engine in ("B", "C", "D"):
        rapid, info["models"] = _rapid(det_side, rec=engine != "C")
        try:
            from rapidocr.utils.process_img import get_rotate_crop_image
        except ImportError as err:
            sys.exit(f"rapidocr not installed ({err}): pip install -e '.[bench]'")

    def tess(img, psm, dx=0, dy=0, seconds=60.0) -> list[dict]:
        out = []
        for ln in ocr.recognise(np.ascontiguousarray(img), lang="jpn", psm=psm, seconds=seconds).lines():
            if syms := [s for s in ln.symbols if s.text.strip()]:
                chars = [[s.text, s.box[0] + dx, s.box[1] + dy, s.box[2] + dx, s.box[3] + dy] for s in syms]
                box = [min(c[i] for c in chars) if i < 3 else max(c[i] for c in chars) for i in (1, 2, 3, 4)]
                out.append(_line("".join(s.text for s in syms), chars, box))
        return out

    def read(img, upright: bool = True) -> list[dict]:
        if engine in ("A", "A3", "D"):
            return tess(img, ocr.PSM_AUTO if engine == "A3" else ocr.PSM_SPARSE_TEXT)
        bgr = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        if engine == "B":
            r = rapid(bgr, use_cls=not upright)
            if r.txts is None or r.boxes is None:
                return []
            words = r.word_results if len(r.word_results) == len(r.txts) else [None] * len(r.txts)
            return [_line(text, [[c, *np.min(b, 0).tolist(), *np.max(b, 0).tolist()] for c, _, b in ws]
                          if ws and upright else None, [*q.min(0), *q.max(0)])
                    for q, text, ws in zip(r.boxes, r.txts, words, strict=True)]
        r = rapid(bgr, use_cls=False, unclip_ratio=1.3)  # C: the detector alone, boxes kept tight of the rules
        quads, out = ([] if r.boxes is None else list(r.boxes)), []
        if upright:
            for q in quads:
                x0, y0 = (int(v) for v in np.maximum(np.floor(q.min(0)) - 2, 0))
                x1, y1 = (int(v) for v in np.ceil(q.max(0)) + 2)
                tall = y1 - y0 > 1.5 * (x1 - x0)  # vertical print (a block column): a character a line
                got = tess(img[y0:y1, x0:x1], ocr.PSM_SINGLE_BLOCK if tall else ocr.PSM_SINGLE_LINE, x0, y0, 5.0)
                out += [_line("".join(g["t"] for g in got), [c for g in got for c in g["c"]], [x0, y0, x1, y1])] \
                    if tall and got else got
            return out
        # as scanned: a crop turned RapidOCR's way (tall: 90°, its line classifier: 180°), read by Tesseract
        crops = [cv2.cvtColor(np.ascontiguousarray(get_rotate_crop_image(bgr, np.float32(q))), cv2.COLOR_BGR2GRAY)
                 for q in quads]
        if crops:
            cls = rapid._load_cls_model()([cv2.cvtColor(c, cv2.COLOR_GRAY2BGR) for c in crops])
            crops = [cv2.cvtColor(c, cv2.COLOR_BGR2GRAY) for c in cls.img_list]
        return [_line("".join(g["t"] for g in tess(c, ocr.PSM_SINGLE_LINE, seconds=5.0)), None, [*q.min(0), *q.max(0)])
                for q, c in zip(quads, crops, strict=True)]

    def read_cell(img) -> str:
        if engine in ("B", "D"):
            return "".join(rapid(cv2.cvtColor(img, cv2.COLOR_GRAY2BGR), use_cls=False).txts or ())
        if engine == "C":
            return "".join(ln["t"] for ln in sorted(read(img), key=lambda ln: ln["b"][1]))
        return "".join(ln["t"] for ln in tess(img, ocr.PSM_SINGLE_BLOCK, seconds=5.0))

    def osd(img) -> list:
        lib, api = ocr._load(), ocr._engine("osd")
        fn = lib.TessBaseAPIDetectOrientationScript
        fn.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_float),
                       ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_float)]
        deg, conf, name, sconf = ctypes.c_int(), ctypes.c_float(), ctypes.c_char_p(), ctypes.c_float()
        c0 = time.process_time()
        with ocr._lock:
            lib.TessBaseAPISetPageSegMode(api, 0)
            lib.TessBaseAPISetImage(api, img.ctypes.data, img.shape[1], img.shape[0], 1, img.shape[1])
            lib.TessBaseAPISetSourceResolution(api, DPI)
            ok = fn(api, *(ctypes.byref(v) for v in (deg, conf, name, sconf)))
            lib.TessBaseAPIClear(api)
        return [deg.value if ok else -1, conf.value, time.process_time() - c0]

    first = cv2.imread(str(folder / f"{pages[0]['id']}.up.png"), cv2.IMREAD_GRAYSCALE)
    x0, y0, x1, y1 = (max(0, round(v)) for v in rect(pages[0]["m_up"], pages[0]["values"][0][2], 2.0))
    read(first), read_cell(first[y0:y1, x0:x1])  # every model loaded and warm before any timing
    info["load_s"] = round(time.perf_counter() - t0, 2)
    results: dict = {}
    for p in pages:
        res = results[p["id"]] = {"cells": []}
        for mode in ("up", "raw") if p["orientation"] else ("up",):
            img = cv2.imread(str(folder / f"{p['id']}.{mode}.png"), cv2.IMREAD_GRAYSCALE)
            w0, c0 = time.perf_counter(), time.process_time()
            lines = read(img, mode == "up")
            res[mode] = {"wall": time.perf_counter() - w0, "cpu": time.process_time() - c0, "lines": lines}
            if engine == "A" and (mode == "raw" or not p["orientation"]):
                res["osd"] = osd(img)
            if mode == "up":
                for field, _, box, _ in p["values"]:
                    if field in CELL_FIELDS:
                        x0, y0, x1, y1 = (max(0, round(v)) for v in rect(p["m_up"], box, 2.0))
                        c0 = time.process_time()
                        res["cells"].append([field, read_cell(img[y0:y1, x0:x1]), time.process_time() - c0])
        print(f"  {engine} {p['id']} {res['up']['wall']:.2f} s", file=sys.stderr, flush=True)
    # VmHWM, not ru_maxrss: that one keeps the parent's high-water mark across fork + exec
    info["rss_mb"] = round(int(re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text())[1]) / 1024)
    info["pages"] = results
    (folder / f"res-{engine}.json").write_text(json.dumps(info, ensure_ascii=False, default=float))


# --------------------------------------------------------------------------------------- scoring
def _chars(line: dict) -> tuple[str, list]:
    """The line's normalised text and each character's box (shared out along x without boxes)."""
    chars = line["c"]
    if chars is None:
        (x0, y0, x1, y1), text = line["b"], norm(line["t"])
        step = (x1 - x0) / max(1, len(text))
        chars = [[ch, x0 + i * step, y0, x0 + (i + 1) * step, y1] for i, ch in enumerate(text)]
    pairs = [(c, box) for ch, *box in chars for c in norm(ch)]
    return "".join(c for c, _ in pairs), [b for _, b in pairs]


def _inside(boxes: list, r: tuple) -> bool:
    cx = (min(b[0] for b in boxes) + max(b[2] for b in boxes)) / 2
    cy = (min(b[1] for b in boxes) + max(b[3] for b in boxes)) / 2
    return r[0] <= cx <= r[2] and r[1] <= cy <= r[3]


def find_label(lines: list, target: str, r: tuple, *, loose: bool = False) -> tuple[bool, bool]:
    """(found exactly, found fuzzily) at rectangle r; ``loose``: the line's box alone places it."""
    target, fuzzy = norm(target), False
    for ln in lines:
        b = ln["b"]
        if b[0] > r[2] or b[2] < r[0] or b[1] > r[3] or b[3] < r[1]:
            continue
        text, boxes = _chars(ln)
        if loose:
            if target in text:
                return True, True
            continue
        for i in range(len(text)):
            for n in (len(target), len(target) - 1, len(target) + 1):
                window = text[i:i + n]
                if n < 1 or len(window) < n or not _inside(boxes[i:i + n], r):
                    continue
                if window == target:
                    return True, True
                fuzzy = fuzzy or SequenceMatcher(None, target, window).ratio() >= 0.75
    return False, fuzzy


def cell_text(lines: list, r: tuple) -> str:
    """The characters in r: pieces of lines put in rows (top to bottom), each row left to right."""
    pieces = []
    for ln in lines:
        text, boxes = _chars(ln)
        if inside := [(c, b) for c, b in zip(text, boxes, strict=True) if _inside([b], r)]:
            yc = sum((b[1] + b[3]) / 2 for _, b in inside) / len(inside)
            pieces.append((yc, max(b[3] - b[1] for _, b in inside), inside[0][1][0], "".join(c for c, _ in inside)))
    rows: list[list] = []
    for yc, h, x, text in sorted(pieces):
        if rows and yc - rows[-1][-1][0] < 0.6 * h:  # chained, so a skewed row of digit boxes stays one row
            rows[-1].append((yc, x, text))
        else:
            rows.append([(yc, x, text)])
    return fold("".join(t for row in rows for _, _, t in sorted(row, key=lambda p: p[1])))


def _kind(field: str, hand: bool) -> str:
    return "hand" if hand else next((k for k, fs in VALUE_FIELDS.items() if field in fs), "print")


def score(page: dict, res: dict, tol: float) -> dict:
    lines, m = res["up"]["lines"], page["m_up"]
    out = {"wall": res["up"]["wall"], "cpu": res["up"]["cpu"], "cell_s": [c[2] for c in res["cells"]]}
    add = lambda k, hit: out.update({k: out.get(k, 0) + hit, "n_" + k: out.get("n_" + k, 0) + 1})  # noqa: E731
    out["n_decide"], out["decide"] = 1, 1
    for key, target, box in page["labels"]:
        exact, fuzzy = find_label(lines, target, rect(m, box, tol))
        out["decide"] &= fuzzy or key not in DECISIVE
        add("labels", exact)
        add("fuzzy", fuzzy)
        if not key.startswith("block."):
            add("fields", exact)
        if "raw" in res:  # rotated: the same label as scanned, and upright, placed by the line box alone
            add("raw", find_label(res["raw"]["lines"], target, rect(page["m_raw"], box, tol), loose=True)[0])
            add("raw_up", find_label(lines, target, rect(m, box, tol), loose=True)[0])
    cells = {}
    for field, got, _ in res["cells"]:
        cells.setdefault(field, []).append(got)
    for field, text, box, hand in page["values"]:
        want = fold(text)
        got = want in cell_text(lines, rect(m, box, 2.0))
        add(_kind(field, hand), got)
        if not hand and _kind(field, hand) != "print":
            add("print", got)
        if field in cells:
            add("cell_" + _kind(field, hand), want in fold(cells[field].pop(0)))
    return out


# ----------------------------------------------------------------------------------------- report
def install_sizes() -> dict[str, float]:
    from importlib import metadata

    canon = lambda name: re.sub(r"[-_.]+", "-", name).lower()  # noqa: E731
    dists = {canon(d.metadata["Name"]): d for d in metadata.distributions()}

    def closure(todo: list[str]) -> dict:  # the distributions these need, without extras
        seen: dict = {}
        while todo:
            if (name := canon(todo.pop())) in dists and name not in seen:
                seen[name] = dists[name]
                todo += [re.split(r"[ ;<>=!~\[(]", q, maxsplit=1)[0] for q in dists[name].requires or [] if "extra ==" not in q]
        return seen

    def mb(dists) -> float:
        files = [f.locate() for d in dists for f in d.files or []]
        return round(sum(f.stat().st_size for f in files if f.is_file()) / 2**20, 1)

    bot, rapid = closure(["usen-spot-bot"]), closure(["rapidocr", "onnxruntime"])
    return {"tesserocr + tessdata (A)": mb(d for n, d in bot.items() if n.startswith("tess")),
            "rapidocr + onnxruntime": mb(rapid[n] for n in ("rapidocr", "onnxruntime") if n in rapid),
            "+ their dependencies the bot lacks":
                mb(d for n, d in rapid.items() if n not in bot and n not in ("rapidocr", "onnxruntime"))}


def pct(rows: list, k: str) -> str:
    n = sum(r.get("n_" + k, 0) for r in rows)
    return f"{100 * sum(r.get(k, 0) for r in rows) / n:5.1f}%" if n else "     -"


def report(pages: list[dict], runs: dict, tol: float) -> None:
    from tests.fixtures.scans.families import FAMILIES, HELD_OUT_FAMILY

    cols = ("labels", "fields", "fuzzy", "decide", "code", "phone", "mail", "print", "hand")
    names = [c + ("=" if c in VALUE_FIELDS or c in ("print", "hand") else "") for c in cols]
    head = f"{'eng':4} {'family':22} {'pages':>5} " + " ".join(f"{c:>7}" for c in names)
    head += f" {'med s':>6} {'p95 s':>6} {'cpu s':>6}"
    print(f"\n{len(pages)} pages, label tolerance {tol} pt\n{head}\n" + "-" * len(head))
    tuning = [f for f in FAMILIES if f != HELD_OUT_FAMILY]
    groups = [(f + (" (held out)" if f == HELD_OUT_FAMILY else ""), [f]) for f in FAMILIES]
    for eng, run in runs.items():
        for name, fams in [*groups, ("tuning families", tuning), ("all", list(FAMILIES))]:
            rows = [s for p, s in zip(pages, run["scores"], strict=True) if p["family"] in fams]
            walls = sorted(r["wall"] for r in rows)
            p95 = walls[min(len(walls) - 1, round(0.95 * (len(walls) - 1)))]
            print(f"{eng:4} {name:22} {len(rows):5} " + " ".join(f"{pct(rows, c):>7}" for c in cols) +
                  f" {statistics.median(walls):6.2f} {p95:6.2f} {statistics.median(r['cpu'] for r in rows):6.2f}")
        print()
    print("value cells cut at their truth box, read alone (code, phone, mail printed; hand): exact; cpu s a cell;"
          " cpu s a page, page + its cells")
    q95 = lambda v: sorted(v)[round(0.95 * (len(v) - 1))]  # noqa: E731
    for eng, run in runs.items():
        rows, secs = run["scores"], [s for r in run["scores"] for s in r["cell_s"]]
        both = [r["cpu"] + sum(r["cell_s"]) for r in rows]
        print(f"  {eng:3} " + "  ".join(f"{k} {pct(rows, 'cell_' + k)}" for k in ("code", "phone", "mail", "hand")) +
              f"   cell median {statistics.median(secs):.3f}, p95 {q95(secs):.3f}"
              f"   page+cells median {statistics.median(both):.2f}, p95 {q95(both):.2f}")
    print("\nlabel recall by scan (all families)")
    for trait in ("dpi", "color", "fill", "orientation"):
        for v in sorted({p[trait] for p in pages}, key=str):
            idx = [i for i, p in enumerate(pages) if p[trait] == v]
            print(f"  {trait:11} {v!s:6} {len(idx):3} pages  " +
                  "  ".join(f"{e} {pct([r['scores'][i] for i in idx], 'labels')}" for e, r in runs.items()))
    print("\nrotated pages, label recall placed by line box: as scanned -> turned upright")
    for eng, run in runs.items():
        rot = [s for s in run["scores"] if "n_raw" in s]
        print(f"  {eng:3} {len(rot)} pages: {pct(rot, 'raw')} -> {pct(rot, 'raw_up')}")
    if "A" in runs:
        osd = [(p["orientation"], runs["A"]["pages"][p["id"]]["osd"]) for p in pages]
        print(f"  Tesseract OSD on the page as scanned: {sum(o[0] == t for t, o in osd)}/{len(osd)} right, "
              f"cpu median {statistics.median(o[2] for _, o in osd):.2f} s; wrong (truth->osd): "
              + (", ".join(f"{t}->{o[0]}" for t, o in osd if o[0] != t) or "none"))
    print("\nreader process (models loaded, every page read): peak RSS; model load + first page")
    for eng, run in runs.items():
        print(f"  {eng:3} {ENGINES[eng]:30} RSS {run['rss_mb']:5} MB  load {run['load_s']:5.2f} s  "
              f"{run.get('models', '')}")
    print("install size, MB: " + ", ".join(f"{k} {v}" for k, v in install_sizes().items()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-per-family", type=int, default=5)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--engines", nargs="+", default=None, choices=sorted({*ENGINES, *WORD_ENGINES}))
    ap.add_argument("--words", action="store_true", help="measure through bot.forms.words.find (see below)")
    ap.add_argument("--n", type=int, default=24, help="--words: forms over all families")
    ap.add_argument("--det-side", type=int, default=1280, help="RapidOCR detector input's longest side, px")
    ap.add_argument("--tol", type=float, default=6.0, help="label box tolerance, pt")
    ap.add_argument("--keep", type=Path, help="keep the pages and raw results in this folder")
    ap.add_argument("--reuse", action="store_true", help="read the pages already in --keep")
    ap.add_argument("--rescore", action="store_true", help="score the engines' results already in --keep")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.words:
        if args.worker:
            wf_worker(args.worker, args.dir, args.det_side)
            return 0
        args.engines = args.engines or ["A", "B", "C"]
        return words_main(args)
    args.engines = args.engines or ["A", "B", "C", "D"]
    if args.worker:
        worker(args.worker, args.dir, args.det_side)
        return 0
    if {"B", "C", "D"} & set(args.engines):
        try:
            import onnxruntime  # noqa: F401
            import rapidocr  # noqa: F401
        except ImportError as err:
            sys.exit(f"rapidocr/onnxruntime not installed ({err}): pip install rapidocr onnxruntime "
                     "(or pip install -e '.[bench]'), or run with --engines A")
    folder = args.keep or Path(tempfile.mkdtemp(prefix="ocr-engines-"))
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if args.reuse and (folder / "pages.json").exists():
        pages = json.loads((folder / "pages.json").read_text())
    else:
        pages = make_pages(args.n_per_family, args.seed, folder)
        (folder / "pages.json").write_text(json.dumps(pages, ensure_ascii=False))
    runs = {}
    for eng in args.engines:
        cmd = [sys.executable, __file__, "--worker", eng, "--dir", str(folder), "--det-side", str(args.det_side)]
        if not (args.rescore and (folder / f"res-{eng}.json").exists()) and \
                (code := subprocess.run(cmd, env={**os.environ, **ONE_THREAD}, check=False).returncode):
            return code
        runs[eng] = json.loads((folder / f"res-{eng}.json").read_text())
        runs[eng]["scores"] = [score(p, runs[eng]["pages"][p["id"]], args.tol) for p in pages]
    print(f"\nmachine: {os.cpu_count()} cores, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} at the "
          f"end; {time.perf_counter() - t0:.0f} s in all; seed {args.seed}; RapidOCR det side {args.det_side} px")
    report(pages, runs, args.tol)
    return 0




# ================================================================================================
# --words: the engines measured through the reader's own word finder (bot.forms.words.find)
#
#     /tmp/ocrlab/bin/python bench/bench_ocr_engines.py --words --n 24 --seed 9191 [--engines A B C]
#
# Pages: plan_families(n, seed), unencrypted, the form page rendered and straightened by
# bot.forms.raster (render + straighten, turned by the truth's orientation when straighten did not
# get it), so every engine sees the same upright grey page.  A: rule_mask(lenient_ink(up)) +
# words.read_lines (Tesseract PSM 11, as scan_words.by_words).  B: RapidOCR 3.x det + rec on the
# upright page.  C: RapidOCR 3.x's detector,
# Tesseract reading each box (PSM 7) on the rule-whitened page.  RapidOCR lines become words.Line,
# one Char per character, the line box shared out evenly.  Then words.find for every engine.
# keys: distinct label keys words.find found / the keys the family prints (words.find run on the
# printed label words themselves); placed: each printed label with a Found of its key whose centre
# lies within --tol pt of its truth box; extra: keys found that the page does not print.
# value exact: some line's text (NFKC, no spaces, hyphens folded, casefold) holds the true value;
# cell: the characters centred in the value's truth cell, read in rows, hold it.
# ================================================================================================
WORD_VALUES = ("customer_code", "contractor_phone", "shop_phone", "mail_local")
WORD_ENGINES = {"A": "Tesseract PSM 11 page (words.read_lines)", "B": "RapidOCR 3.x det+rec (PP-OCRv6 small)",
                "C": "RapidOCR det + Tesseract PSM 7 lines"}


def wf_fold(text: str) -> str:
    return fold(text).casefold()


def wf_pages(n: int, seed: int, out: Path) -> list[dict]:
    import pickle

    import cv2
    import numpy as np

    from bot.forms import raster, words
    from tests.fixtures.scans.corpus import make, plan_families
    from tests.fixtures.scans.families import LABELS

    metas = []
    for spec in plan_families(n, seed):
        pdf, truth = make(spec, password=None)
        img, size = raster.render(pdf, truth["form_page"])
        up = raster.straighten(img, size)
        straight_ok = up.rotation == spec.orientation
        if not straight_ok:
            up = raster.turned(up, img, (spec.orientation - up.rotation) % 360)
        fwd = cv2.invertAffineTransform(up.to_page)  # rendered px -> upright px
        m = np.vstack([np.array(truth["form_to_image"], float) * raster.DPI / spec.dpi, [0, 0, 1]])
        m_up = (np.vstack([fwd, [0, 0, 1]]) @ m)[:2].tolist()
        printed = {tuple(p["box"]): p["text"] for p in truth["boxes"]["printed"]}
        labels = []
        for key, box in truth["labels"].items():
            text = printed.get(tuple(box)) or LABELS[key][0]
            line = words.Line(tuple(words.Char(c, (10 * i, 0, 10 * i + 9, 10), 1.0)
                                    for i, c in enumerate(wf_fold(text))))
            got = words.find([line])
            wkeys = sorted({f.key for f in got if not f.key.startswith("option:")})
            labels.append((key, text, wkeys, rect(m_up, box, 0.0)))
        cells = truth["boxes"]["cells"]
        values = [(f, t, bool(truth["hand"].get(f)), rect(m_up, cells[f], 2.0) if f in cells else None)
                  for f, t in truth["printed_text"].items() if t]
        meta = {"id": truth["id"], "family": spec.family, "fill": spec.fill, "dpi": spec.dpi, "color": spec.color,
                "orientation": spec.orientation, "straight_ok": straight_ok, "labels": labels, "values": values}
        with open(out / f"{truth['id']}.pkl", "wb") as fh:
            pickle.dump(up, fh)
        metas.append(meta)
        print(f"  {truth['id']} {spec.family} {spec.fill} {spec.dpi} {spec.color} {spec.orientation}"
              f"{'' if straight_ok else ' (turned by truth)'}", file=sys.stderr, flush=True)
    return metas


def _spread(quad, text: str, conf: float):
    from bot.forms import words
    from bot.forms.normalise import nfkc

    import numpy as np

    q = np.asarray(quad, float)
    x0, y0, x1, y1 = float(q[:, 0].min()), float(q[:, 1].min()), float(q[:, 0].max()), float(q[:, 1].max())
    step = (x1 - x0) / max(1, len(text))
    chars = []
    for i, ch in enumerate(text):
        for c in nfkc(ch).casefold():
            if not c.isspace():
                chars.append(words.Char(c, (round(x0 + i * step), round(y0), round(x0 + (i + 1) * step), round(y1)),
                                        float(conf)))
    return words.Line(tuple(chars)) if chars else None


def wf_worker(engine: str, folder: Path, det_side: int) -> None:
    import pickle

    import cv2
    import numpy as np

    from bot.forms import ocr, raster, words
    from bot.forms.normalise import nfkc

    def rss() -> int:
        return round(int(re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text())[1]) / 1024)

    metas = json.loads((folder / "pages.json").read_text())
    info: dict = {"engine": engine, "rss_imports_mb": rss()}
    t0 = time.perf_counter()
    if engine in ("B", "C"):
        rapid, info["models"] = _rapid(det_side, rec=engine == "B")

    def read(up) -> list:
        if engine == "A":
            rules = words.rule_mask(raster.lenient_ink(up))
            return words.read_lines(up, rules, seconds=120.0)
        bgr = cv2.cvtColor(up.image, cv2.COLOR_GRAY2BGR)
        if engine == "B":
            r = rapid(bgr, use_cls=False)
            if r.txts is None:
                return []
            return [ln for q, t, s in zip(r.boxes, r.txts, r.scores, strict=True) if (ln := _spread(q, t, s))]
        # C: RapidOCR's boxes, Tesseract reading each on the page with its rules whitened
        rules = words.rule_mask(raster.lenient_ink(up))
        img = up.image.copy()
        img[rules] = 255
        r = rapid(bgr, use_cls=False, unclip_ratio=1.3)
        out = []
        for q in [] if r.boxes is None else r.boxes:
            x0, y0 = (int(v) for v in np.maximum(np.floor(q.min(0)) - 2, 0))
            x1, y1 = (int(v) for v in np.ceil(q.max(0)) + 2)
            tall = y1 - y0 > 1.5 * (x1 - x0)
            got = ocr.recognise(np.ascontiguousarray(img[y0:y1, x0:x1]), lang="jpn",
                                psm=ocr.PSM_SINGLE_BLOCK if tall else ocr.PSM_SINGLE_LINE, seconds=5.0)
            chars = [words.Char(c, (s.box[0] + x0, s.box[1] + y0, s.box[2] + x0, s.box[3] + y0), s.conf)
                     for ln in got.lines() for s in ln.symbols for c in nfkc(s.text).casefold() if not c.isspace()]
            if chars:
                out.append(words.Line(tuple(chars)))
        return out

    def load(meta):
        with open(folder / f"{meta['id']}.pkl", "rb") as fh:
            return pickle.load(fh)

    words.find(read(load(metas[0])))  # models loaded and warm before any timing
    info["load_s"] = round(time.perf_counter() - t0, 2)
    pages = {}
    for meta in metas:
        up = load(meta)
        w0, c0 = time.perf_counter(), time.process_time()
        lines_ = read(up)
        found = words.find(lines_)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        pages[meta["id"]] = {"wall": wall, "cpu": cpu,
                             "lines": [[[c.text, *c.box] for c in ln.chars] for ln in lines_],
                             "found": [[f.key, f.text, list(f.box), f.score] for f in found]}
        del up
        print(f"  {engine} {meta['id']} {wall:.2f} s wall {cpu:.2f} s cpu", file=sys.stderr, flush=True)
    info["rss_mb"] = rss()
    info["pages"] = pages
    (folder / f"wres-{engine}.json").write_text(json.dumps(info, ensure_ascii=False, default=float))


def wf_score(meta: dict, res: dict, tol_px: float) -> dict:
    lines = res["lines"]
    texts = [wf_fold("".join(c[0] for c in ln)) for ln in lines]
    found = [f for f in res["found"] if not f[0].startswith("option:")]
    fkeys = {f[0] for f in found}
    want = {k for _, _, ks, _ in meta["labels"] for k in ks}
    out = {"keys": len(fkeys & want), "n_keys": len(want), "extra": len(fkeys - want), "placed": 0, "n_placed": 0,
           "wall": res["wall"], "cpu": res["cpu"]}
    for _, _, ks, r in meta["labels"]:
        if not ks:
            continue
        out["n_placed"] += 1
        out["placed"] += any(f[0] in ks and r[0] - tol_px <= (f[2][0] + f[2][2]) / 2 <= r[2] + tol_px
                             and r[1] - tol_px <= (f[2][1] + f[2][3]) / 2 <= r[3] + tol_px for f in found)
    for field, text, hand, cell in meta["values"]:
        w = wf_fold(text)
        line_hit = any(w in t for t in texts)
        cell_hit = False
        if cell:
            pieces = []
            for ln in lines:
                inside = [c for c in ln if cell[0] <= (c[1] + c[3]) / 2 <= cell[2] and cell[1] <= (c[2] + c[4]) / 2 <= cell[3]]
                if inside:
                    yc = sum((c[2] + c[4]) / 2 for c in inside) / len(inside)
                    pieces.append((yc, max(c[4] - c[2] for c in inside), inside[0][1], "".join(c[0] for c in inside)))
            rows: list[list] = []
            for yc, h, x, t in sorted(pieces):  # chained into rows, so a row of digit boxes stays one row
                if rows and yc - rows[-1][-1][0] < 0.6 * h:
                    rows[-1].append((yc, x, t))
                else:
                    rows.append([(yc, x, t)])
            cell_hit = w in wf_fold("".join(t for row in rows for _, _, t in sorted(row, key=lambda p: p[1])))
        kinds = [("hand" if hand else "typed") + "_all"]
        if field in WORD_VALUES:
            kinds.append(("hand_" if hand else "") + ("code" if field == "customer_code" else
                                                      "phone" if "phone" in field else "mail"))
        for k in kinds:
            for suffix, hit in (("", line_hit), ("@cell", cell_hit)):
                out[k + suffix] = out.get(k + suffix, 0) + hit
                out["n_" + k + suffix] = out.get("n_" + k + suffix, 0) + 1
    return out


def wf_report(metas: list[dict], runs: dict) -> None:
    from tests.fixtures.scans.families import FAMILIES, HELD_OUT_FAMILY

    def frac(rows, k):
        n = sum(r.get("n_" + k, 0) for r in rows)
        return f"{sum(r.get(k, 0) for r in rows)}/{n}" if n else "-"

    def pc(rows, k):
        n = sum(r.get("n_" + k, 0) for r in rows)
        return f"{100 * sum(r.get(k, 0) for r in rows) / n:.0f}%" if n else "-"

    q = lambda v, p: sorted(v)[min(len(v) - 1, round(p * (len(v) - 1)))]  # noqa: E731
    groups = [(f + (" (held out)" if f == HELD_OUT_FAMILY else ""), [f]) for f in FAMILIES if f != HELD_OUT_FAMILY]
    groups += [("tuning families", [f for f in FAMILIES if f != HELD_OUT_FAMILY]),
               (HELD_OUT_FAMILY + " (held out)", [HELD_OUT_FAMILY]), ("all", list(FAMILIES))]
    cols = ["keys", "placed", "code", "phone", "mail", "typed_all", "hand_code", "hand_phone", "hand_mail", "hand_all"]
    print("\n| engine | pages | label keys | labels placed | extra keys/page | code | phone | mail | typed all |"
          " hand code | hand phone | hand mail | hand all | cpu s med / p95 | wall s med / p95 |")
    print("|" + "---|" * 15)
    for name, fams in groups:
        print(f"| **{name}** |" + " |" * 14)
        for eng, run in runs.items():
            rows = [s for m, s in zip(metas, run["scores"], strict=True) if m["family"] in fams]
            if not rows:
                continue
            cpu, wall = [r["cpu"] for r in rows], [r["wall"] for r in rows]
            print(f"| {eng} | {len(rows)} | " + " | ".join(
                f"{pc(rows, c)} ({frac(rows, c)})" if c in ("keys", "placed") else f"{frac(rows, c)}" for c in cols[:2]
            ) + f" | {sum(r['extra'] for r in rows) / len(rows):.1f} | " + " | ".join(frac(rows, c) for c in cols[2:]) +
                  f" | {statistics.median(cpu):.2f} / {q(cpu, .95):.2f} | {statistics.median(wall):.2f} / {q(wall, .95):.2f} |")
    print("\nvalues read in their truth cell (chars centred in the cell, rows top to bottom):")
    for eng, run in runs.items():
        rows = run["scores"]
        print(f"  {eng:3} " + "  ".join(f"{c} {frac(rows, c + '@cell')}" for c in cols[2:]))
    print("\nby fill (label keys / typed values / hand values):")
    for fill in ("typed", "mixed", "hand"):
        idx = [i for i, m in enumerate(metas) if m["fill"] == fill]
        print(f"  {fill:6} " + "   ".join(
            f"{e}: {pc([r['scores'][i] for i in idx], 'keys')} / {frac([r['scores'][i] for i in idx], 'typed_all')}"
            f" / {frac([r['scores'][i] for i in idx], 'hand_all')}" for e, r in runs.items()))
    print("\nreader process: peak RSS (VmHWM) after imports -> after every page; model load + first page")
    for eng, run in runs.items():
        print(f"  {eng:3} {WORD_ENGINES[eng]:45} {run['rss_imports_mb']} -> {run['rss_mb']} MB  load {run['load_s']} s"
              f"  {run.get('models', '')}")
    print(f"straighten got the truth's orientation on {sum(m['straight_ok'] for m in metas)}/{len(metas)} pages "
          "(the others were turned by the truth)")


def words_main(args) -> int:
    folder = args.keep or Path(tempfile.mkdtemp(prefix="ocr-words-"))
    folder.mkdir(parents=True, exist_ok=True)
    if args.reuse and (folder / "pages.json").exists():
        metas = json.loads((folder / "pages.json").read_text())
    else:
        metas = wf_pages(args.n, args.seed, folder)
        (folder / "pages.json").write_text(json.dumps(metas, ensure_ascii=False))
        (folder / "plan.json").write_text(json.dumps({"seed": args.seed, "n": args.n}))
    if (folder / "plan.json").exists():  # the pages' own seed when they are reused
        args.seed = json.loads((folder / "plan.json").read_text())["seed"]
    runs = {}
    for eng in args.engines:
        cmd = [sys.executable, __file__, "--words", "--worker", eng, "--dir", str(folder), "--det-side", str(args.det_side)]
        if not (args.rescore and (folder / f"wres-{eng}.json").exists()):
            if code := subprocess.run(cmd, env={**os.environ, **ONE_THREAD}, check=False).returncode:
                print(f"engine {eng} failed ({code})", file=sys.stderr)
                continue
        runs[eng] = json.loads((folder / f"wres-{eng}.json").read_text())
        tol_px = args.tol * 200 / 72
        runs[eng]["scores"] = [wf_score(m, runs[eng]["pages"][m["id"]], tol_px) for m in metas]
    print(f"\nmachine: {os.cpu_count()} cores, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} at the end;"
          f" seed {args.seed}, n {len(metas)}; RapidOCR det side {args.det_side} px; label tolerance {args.tol} pt")
    wf_report(metas, runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
