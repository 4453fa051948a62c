"""The scan review on /manual/ID: a held (or accepted) mail whose application form is a scan.

The form's page as an image with every field the reader found outlined (unsure ones first,
tinted: :mod:`bot.web.scan_overlay`, drawn in a reader process), beside a table of the fields
numbered as on the image (label, what was read, state, confidence, why unsure), and the inputs
for the vendor cells that would be 申込書参照: inside the 受付 form while the mail is held, in
their own form (the console's ``bot scan-values set``) once it is accepted and its vendor row
not yet sent. Everything comes from the reading stored with the mail (``Mail.facts``); only
the image opens the PDF.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from starlette.responses import Response

from bot import decide as deciding
from bot.actions import scan_values
from bot.checks.base import Facts
from bot.db.models import QUARANTINED, Mail
from bot.domain import vocab
from bot.forms import FormReading
from bot.forms.vocabulary import FieldReading
from bot.forms.workers import ReaderFailed, shared_pool
from bot.mail import parse_mail
from bot.vendor.forms import (
    ABSENT_CELLS,
    FORM_SOURCES,
    HEADERS,
    REFER,
    refer_keys,
    refer_keys_of,
)
from bot.web.detail import STATE_NAMES
from bot.web.pages import Page, page
from bot.web.scan_overlay import (
    MARKED,
    SURE,
    UNMARKED,
    UNSURE,
    WRITTEN,
    Outline,
    render_overlay,
    turn_of,
)

log = logging.getLogger("bot.web.scan_review")

OPTION_LABELS = vocab.OPTIONS
STATUS_LABELS = {UNSURE: "要確認", WRITTEN: "未読取", SURE: "読取済"}
# Fields the form prints in this order, in every layout (FORM-SPEC): how the scan was turned
# (turn_of).  The customer code is no guide: some forms print it at the top, others at the foot.
ORDERED = (("line_kind", "line_type", "down"), ("line_type", "check_method", "down"),
           ("mail_local", "mail_reading", "down"), ("contact_last", "contact_first", "right"))
# Inputs that take one of a few values (vendor_forms.validate accepts exactly these).
SELECTS = {"line_kind": ("フレッツ光ネクスト", "Bフレッツ"), "line_type": ("ファミリー", "マンション"), "plus": ("有", "無")}
_KEYS_OF = {source: key for key, sources in FORM_SOURCES.items() for source in sources}


@dataclass(frozen=True)
class InputView:
    key: str
    header: str  # the vendor CSV's column
    value: str
    placeholder: str
    error: str
    choices: tuple[str, ...]  # a select's values; () for a text input
    read: str = ""  # what the vendor row carries without the person (sent back as read_<key>)
    refer: bool = True  # the cell would be 申込書参照; False: a value read surely, open to correction


@dataclass(frozen=True)
class OptionView:
    label: str
    state: str
    status: str


@dataclass(frozen=True)
class FieldView:
    number: int
    name: str
    label: str
    value: str  # what was read surely ("" when nothing)
    guess: str  # what OCR made of writing it is not sure of (never sent anywhere)
    state: str
    confidence: str
    status: str  # UNSURE | WRITTEN | SURE
    why: str
    options: tuple[OptionView, ...]
    refer: bool  # its vendor cell is 申込書参照 (until typed)
    box: tuple[int, float, float, float, float] | None = field(repr=False, default=None)
    input: InputView | None = None  # where the person types its vendor value
    typed: str = ""  # the vendor value a person typed in for it (after 受付)

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]


@dataclass(frozen=True)
class ScanReview:
    mail_id: int
    image: str  # URL of the page image (with outlines when there are readings)
    fields: tuple[FieldView, ...]  # each with the input of its vendor cell, if any
    mode: str  # "accept" (held), "values" (accepted, row unsent), "" (view only)
    extra_inputs: tuple[InputView, ...]  # vendor cells no reading stands for (設置先住所)
    accept_hint: str  # why 受付 would be refused ("" when it would go through)
    sent: str  # the vendor row went out / was cancelled: what to do instead
    typed_before: tuple[str, ...]  # values typed in earlier: "SSID（kagawa）"
    errors: Mapping[str, str]
    reason: str = ""  # why the mail was held, first on the screen

    @property
    def inputs(self) -> tuple[InputView, ...]:
        return tuple(f.input for f in self.fields if f.input is not None) + self.extra_inputs

    @property
    def unsure(self) -> int:
        return sum(f.status == UNSURE for f in self.fields)

    @property
    def written(self) -> int:
        return sum(f.status == WRITTEN for f in self.fields)


# -- the fields -------------------------------------------------------------------------------

def _status(form: FormReading, r: FieldReading) -> str:
    if not r.sure or r.state == "unsure" or r.name in form.unsure:
        return UNSURE
    return WRITTEN if r.state == "filled" else SURE


def _why(form: FormReading, r: FieldReading, status: str, options: Sequence[OptionView]) -> str:
    if status == SURE:
        return ""
    if status == WRITTEN:  # handwriting is never read: the badge and the legend say so once
        return "" if r.hand is not False else "印字だが値が不確か"
    row = {"contact_last": "contact", "contact_first": "contact", "parent_units": "units",
           "child_units": "units"}.get(r.name, r.name)
    if f"row {row}: not trusted" in form.detail:
        return "行の位置が不確か（罫線・項目名）"
    if r.box is None:
        return "欄が見つからない"
    if r.name in ("line_kind", "line_type", "check_method", "plus"):
        if any(o.status == UNSURE for o in options):
            return "印の有無が不確かな選択肢あり"
        return "選択肢の□が見つからない"
    return "記入の有無が不確か（薄い筆跡・汚れ）"


def _value(r: FieldReading) -> tuple[str, str]:
    """(value read surely, guess) as staff read them; OCR's guess at handwriting is no guess
    worth showing (it is mostly wrong, and the image is beside it)."""
    if r.state == "empty":
        return "（空欄）", ""
    if r.state == "read":
        if r.name == "plus":
            return ("有" if r.value == "true" else "無"), ""
        if r.value is None:
            return "（印なし）", ""
        return OPTION_LABELS.get(r.value, r.value), ""
    return "", (r.value or "") if r.hand is not True else ""


NO_CONFIDENCE = "—"


def _confidence(r: FieldReading, status: str) -> str:
    """The reader's confidence in what it read; 未読取 (writing it never reads) has no value, so
    no confidence either: its 1.00 was the ink being there, not a value being right."""
    return NO_CONFIDENCE if status == WRITTEN else f"{r.conf:.2f}"


def field_views(form: FormReading, refer: Sequence[str] = ()) -> tuple[FieldView, ...]:
    """The fields of a scan, unsure ones first, then handwriting, then the sure ones (each group
    top to bottom as on the page), numbered in that order (the image's numbers)."""
    options: dict[str, list[OptionView]] = {}
    for r in form.readings:
        if "." in r.name:
            parent, key = r.name.split(".", 1)
            status = UNSURE if not r.sure or r.state == "unsure" else (MARKED if r.state == "marked" else UNMARKED)
            options.setdefault(parent, []).append(
                OptionView(OPTION_LABELS.get(key, key), STATE_NAMES.get(r.state, r.state), status))
    rows = []
    for r in form.readings:
        if "." in r.name:
            continue
        status = _status(form, r)
        # A choice read surely says it in its value; its options are listed only when unsure.
        opts = tuple(options.get(r.name, ())) if status == UNSURE else ()
        value, guess = _value(r)
        rows.append((r, status, opts, value, guess))
    order = {UNSURE: 0, WRITTEN: 1, SURE: 2}
    rows.sort(key=lambda t: (order[t[1]], t[0].box[2] if t[0].box else 1e9, t[0].box[1] if t[0].box else 0))
    return tuple(
        FieldView(n, r.name, vocab.field_name(r.name), value, guess,
                  STATE_NAMES.get(r.state, r.state) + ("・手書き" if r.hand else ""),
                  _confidence(r, status), status, _why(form, r, status, opts), opts, _KEYS_OF.get(r.name) in refer,
                  r.box)
        for n, (r, status, opts, value, guess) in enumerate(rows, start=1))


def outlines(form: FormReading, views: Sequence[FieldView]) -> tuple[int, tuple[Outline, ...], int]:
    """(page index, the boxes to draw, the scan's turn) for the overlay image."""
    page_index = next((v.box[0] for v in views if v.box), 0)
    drawn: list[Outline] = [Outline(v.number, v.box[1:], v.status) for v in views if v.box and v.box[0] == page_index]
    for r in form.readings:
        if "." in r.name and r.box and r.box[0] == page_index:
            style = UNSURE if not r.sure or r.state == "unsure" else (MARKED if r.state == "marked" else UNMARKED)
            drawn.append(Outline(None, r.box[1:], style))
    centres = {v.name: ((v.box[1] + v.box[3]) / 2, (v.box[2] + v.box[4]) / 2) for v in views if v.box}
    pairs = [(centres[a], centres[b], way) for a, b, way in ORDERED if a in centres and b in centres]
    return page_index, tuple(drawn), turn_of(pairs)


# -- the page section -------------------------------------------------------------------------

def is_scan(row: Mail | None) -> bool:
    return row is not None and (row.facts or {}).get("form_shape") == "scanned"


def editable_keys(form: FormReading, refer: Sequence[str]) -> list[str]:
    """Every vendor cell the form feeds, 申込書参照 ones first: a value read surely may be
    corrected too (「BarMoon」 for 「Bar Moon」). Not the cells the form does not print."""
    absent = ABSENT_CELLS.get(form.form, ())
    present = [k for k, sources in FORM_SOURCES.items()
               if k not in absent and (k in refer or any(form.reading(n) is not None for n in sources))]
    return list(dict.fromkeys([*refer, *present]))


def changed_values(form: Mapping[str, str]) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """The posted form with every value left as it was read (``read_<key>``) taken out, and the
    corrections: key → (value read surely, value typed) for a sure value a person changed."""
    out = dict(form)
    corrections: dict[str, tuple[str, str]] = {}
    for key in HEADERS:
        name = scan_values.INPUT_PREFIX + key
        typed = " ".join((form.get(name) or "").split())
        read = " ".join((form.get("read_" + key) or "").split())
        if typed and typed == read:
            out[name] = ""
        elif read and typed and typed != read:
            corrections[key] = (read, typed)
    return out, corrections


def _with_inputs(keys: Sequence[str], views: Sequence[FieldView], form: FormReading,
                 typed: Mapping[str, str], errors: Mapping[str, str], refer: Sequence[str] = (),
                 current: Mapping[str, str] | None = None) -> tuple[tuple[FieldView, ...], tuple[InputView, ...]]:
    """Each vendor cell's input on the line of the field it comes from (the rest: extra lines).
    `current`: the values the vendor row carries now (after 受付), instead of the reading's."""
    inputs: dict[str, InputView] = {}
    for key in dict.fromkeys(keys):
        sources = FORM_SOURCES.get(key, ())
        mine = [v for v in views if v.name in sources]
        sure = [form.reading(n) for n in sources]
        # Prefilled only with what was read surely; a guess is only a placeholder: a misread
        # must not reach the vendor by a careless click.
        words = {"true": "有", "false": "無"} if key == "plus" else OPTION_LABELS
        prefill = " ".join(words.get(r.value, r.value) for r in sure
                           if r is not None and r.sure and r.state == "read" and r.value)
        if current is not None:
            prefill = current.get(key, "")
        guess = " ".join(v.guess for v in mine if v.guess)
        is_refer = key in refer
        inputs[key] = InputView(key, HEADERS[key], typed.get(key, prefill),
                                f"候補: {guess}（要確認）" if guess else ("申込書参照のまま" if is_refer else "空欄のまま"),
                                errors.get(key, ""), SELECTS.get(key, ()), read=prefill, refer=is_refer)
    out = []
    for v in views:
        key = _KEYS_OF.get(v.name)
        out.append(dataclasses.replace(v, input=inputs.pop(key)) if key in inputs else v)
    return tuple(out), tuple(inputs.values())


def review(p: Page, row: Mail, *, light: Facts | None = None, typed: Mapping[str, str] | None = None,
           errors: Mapping[str, str] | None = None) -> ScanReview:
    """The scan section of /manual/ID. `light`: the mail's facts without the PDF (held mails:
    the body lines decide which cells stay 申込書参照, and the checks say if 受付 can work)."""
    typed, errors = typed or {}, errors or {}
    form = scan_values.stored_reading(row.facts or {})
    held = row.resolved_at is None and row.decision == deciding.MANUAL and row.status != QUARANTINED
    mode, keys, hint, sent, before = "", [], "", "", ()
    typed_in: dict[str, str] = {}
    current: dict[str, str] | None = None
    if held and form is not None and light is not None:
        mode = "accept"
        facts = dataclasses.replace(light, forms=(form,))
        hint = scan_values.accept_refusal(facts)
        keys = refer_keys_of(form, light.body.lines) if form.fields is not None else []
    elif held:
        mode, hint = "accept", "申込書（スキャン）のページを読み取れていないため、ここでは受付できません。差戻すか、対応済みにしてください。"
    elif row.decision == deciding.ACCEPTED:
        vendor_row = scan_values.open_row(p.db, row.id)
        if vendor_row is not None:
            payload = vendor_row.payload or {}
            before = tuple(f"{HEADERS.get(k, vocab.field_name(k))}（{p.person(t.get('by', ''))}）"
                           for k, t in payload.get("typed", {}).items())
            typed_in = {k: _shown(payload.get(k)) for k in payload.get("typed", {})}
            if vendor_row.batch_id is not None or vendor_row.cancelled_at is not None:
                sent = (f"ベンダー行は便 #{vendor_row.batch_id} で送信済みです。値の変更はベンダーへ直接連絡してください。"
                        if vendor_row.batch_id is not None else "ベンダー行は取消済みです。")
            else:
                keys = refer_keys(vendor_row)
                mode = "values"
                current = {k: ("" if payload.get(k) == REFER else _shown(payload.get(k))) for k in HEADERS}
                current["mail_address"] = current["mail_address"].removesuffix("@uspot.jp")  # the input adds it
    views, extra = field_views(form, keys) if form is not None else (), ()
    views = tuple(dataclasses.replace(v, typed=typed_in[_KEYS_OF[v.name]]) if _KEYS_OF.get(v.name) in typed_in else v
                  for v in views)
    if form is not None and mode:
        views, extra = _with_inputs(editable_keys(form, keys), views, form, typed, errors, refer=keys, current=current)
    if form is not None and form.readings:
        image = f"/manual/{row.id}/scan.png"
    else:  # the form page was not found: the first page as it is
        attachments = parse_mail(row.raw, p.cfg.limits).attachments
        first = next((i for i, a in enumerate(attachments) if a.is_pdf), None)
        image = f"/mails/{row.id}/attachments/{first}/pages/1.png" if first is not None else ""
    reason = vocab.plain(str((row.facts or {}).get("reason") or "")) if held else ""
    return ScanReview(row.id, image, views, mode, extra, hint, sent, before, errors, reason)


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "有" if value else "無"
    return "" if value is None else str(value)


# -- the image --------------------------------------------------------------------------------

@page()
def scan_png(p: Page) -> Response:
    mail_id = int(p.request.path_params["mail_id"])
    row = p.db.get(Mail, mail_id)
    form = scan_values.stored_reading(row.facts or {}) if row is not None else None
    pdfs = parse_mail(row.raw, p.cfg.limits).pdf_attachments() if row is not None and form is not None else ()
    if row is None or form is None or not form.readings or not pdfs:
        return p.error(404, "このメールにはスキャンの読み取り結果がありません。")
    index, drawn, turn = outlines(form, field_views(form))
    digest = hashlib.sha256(repr((drawn, turn)).encode()).hexdigest()[:16]
    key = ("scan", row.id, index, digest)
    png = p.console.pngs.get(key)
    if png is None:
        try:
            # The same bounded reader process and limits as the page images (bot/web/pdfpages.py).
            png = shared_pool(p.cfg.limits).call(render_overlay, pdfs[0].data, p.cfg.pdf.password, p.cfg.limits,
                                                 index, drawn, turn, timeout=p.cfg.limits.pdf_seconds)
        except ReaderFailed as err:
            log.warning("mail %s: scan overlay not drawn: %s", row.id, err.detail)
            return Response("このページは表示できません。", status_code=422, media_type="text/plain; charset=utf-8")
        p.console.pngs.put(key, png)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600",
                                                           "X-Content-Type-Options": "nosniff"})
