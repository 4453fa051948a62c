"""保留 (the manual queue): the mails held for a person, oldest first, and what a person does
with one: 受付 (accept), 差戻 (reject with the defects they choose) or 対応済み (dismiss with a
note). Accept and reject run the pipeline's own action code (:mod:`bot.actions.resolve`), in
one transaction with the resolution and its audit row; the IMAP mail is filed after the
commit, and a filing IMAP refused is retried from here (the decision stands meanwhile).
A scanned form is reviewed on its page image (:mod:`bot.web.views.scan_review`); its values
are typed in with 受付, or afterwards until the vendor row is sent (:mod:`bot.actions.scan_values`)."""

from __future__ import annotations

import threading
from collections.abc import Mapping

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.actions import scan_shadow, scan_values
from bot.actions.queue import ManualQueueError
from bot.actions.resolve import (
    ClaimedError,
    Filing,
    ResolveError,
    StaleError,
    Tools,
    accept,
    grouped_choices,
    light_facts,
    locked_held,
    pending_filing,
    read_for_accept,
    refile,
    refile_pending,
)
from bot.db.models import QUARANTINED, Mail
from bot.domain import vocab
from bot.mail import parse_mail
from bot.pipeline.filing import folder_for
from bot.vendor.forms import HEADERS, refer_keys
from bot.web import audit
from bot.web.pages import Page, client_ip, page
from bot.web.queries import HOLD_REASONS, held_page, waiting_label
from bot.web.replies import latest_reply, recent_rejections, reply_state
from bot.web.views.mails import render_mail
from bot.web.views.scan_review import changed_values, is_scan, review

MAX_NOTE = 2000
SCAN_VALUES = "scan_values_set"  # audit action: values typed into an accepted scan's vendor row
_tools_lock = threading.Lock()


def tools_of(request: Request) -> Tools:
    """The pipeline's pieces (rule settings, calendar, templates, reader pool), made once per app."""
    state = request.app.state
    with _tools_lock:
        if getattr(state, "resolve_tools", None) is None:
            state.resolve_tools = Tools.from_config(request.app.state.console.cfg)
        return state.resolve_tools  # type: ignore[no-any-return]


def mail_id_param(p: Page) -> int:
    return int(p.request.path_params["mail_id"])


def refused(p: Page, err: ResolveError, mail_id: int) -> Response:
    status = 409 if isinstance(err, StaleError) else 422
    message = str(err)
    if isinstance(err, ClaimedError):  # the owner as the office names them, and since when
        message = (f"メール #{err.mail_id} は {p.person(err.owner)} さんが対応中です（{waiting_label(p.now - err.since)}前から）。"
                   "対応を代わるときは、管理者に「対応中を解除」してもらってください。")
    return p.render("manual_refused.html", status=status, title="操作できませんでした", message=message, mail_id=mail_id)


_refused = refused


def _pending_ids(p: Page, *, limit: int = 50) -> list[int]:
    return list(p.db.scalars(pending_filing().with_only_columns(Mail.id).order_by(Mail.id).limit(limit)))


# -- pages ----------------------------------------------------------------------------------

@page()
def queue(p: Page) -> Response:
    reason = p.request.query_params.get("reason", "")
    reason = reason if reason in HOLD_REASONS else ""
    rows, counts = held_page(p.db, cfg=p.cfg, now=p.now, directory=p.directory, reason=reason)
    notice, filing = _notice(p)
    return p.render("manual.html", title="保留", rows=rows, notice=notice, filing=filing, pending=_pending_ids(p),
                    scan_left=_scan_left(p), reason=reason, reasons=HOLD_REASONS, reason_counts=counts,
                    reply=_reply_notice(p), recent=recent_rejections(p.db, now=p.now, tz=p.cfg.office.tz))


def _reply_notice(p: Page) -> object:
    """The 差戻 just sent: where its mail stands (送信待ち …), read from its outbox row."""
    try:
        mail_id = int(p.request.query_params.get("done", ""))
    except ValueError:
        return None
    row = p.db.get(Mail, mail_id)
    if row is None or row.decision != "rejected" or row.resolved_at is None:
        return None
    out = latest_reply(p.db, mail_id)
    return (mail_id, reply_state(out, p.cfg.office.tz)) if out is not None else None


def _scan_left(p: Page) -> tuple[int, list[str]] | None:
    """An accepted scan's vendor cells still 申込書参照 (to type in before the batch), read back."""
    try:
        mail_id = int(p.request.query_params.get("done", ""))
    except ValueError:
        return None
    row = p.db.get(Mail, mail_id)
    if row is None or row.decision != "accepted" or not is_scan(row):
        return None
    vendor_row = scan_values.open_row(p.db, mail_id)
    if vendor_row is None or vendor_row.batch_id is not None or vendor_row.cancelled_at is not None:
        return None
    left = [HEADERS[k] for k in refer_keys(vendor_row)]
    return (mail_id, left) if left else None


def _notice(p: Page) -> tuple[str, str]:
    """What the last action did, read back from the row (never text from the URL)."""
    try:
        mail_id = int(p.request.query_params.get("done", ""))
    except ValueError:
        return "", ""
    row = p.db.get(Mail, mail_id)
    if row is None or row.resolved_at is None:
        return "", ""
    what = {"accepted": "受付しました", "rejected": "差戻しました"}.get(
        row.decision or "", "対応済みにしました")
    notice = f"メール #{mail_id} を{what}：{vocab.plain(row.resolution or '')}"
    if row.decision not in ("accepted", "rejected"):
        return notice, ""
    target = folder_for(row)
    if row.filed_at is None:
        return notice, ""
    if row.filed_folder == target:
        return notice, f"IMAP: {target} フォルダへ移動済みです。"
    return notice, (f"IMAPサーバーに接続できなかったため、メールはまだ {row.filed_folder} フォルダにあります"
                    "（判定は保存済みです）。下の「IMAPの振り分けを再試行」で移動してください。")


@page()
def held_mail(p: Page) -> Response:
    return show(p)


def show(p: Page, *, typed: Mapping[str, str] | None = None, errors: Mapping[str, str] | None = None,
         status: int = 200, compose: Mapping[str, object] | None = None) -> Response:
    """/manual/ID; `typed` and `errors`: a scan's values sent back to the person with why;
    `compose`: the 差戻 being written (picked codes, remark, its preview or why it was refused)."""
    mail_id = mail_id_param(p)
    row = p.db.get(Mail, mail_id)
    extra: dict[str, object] = {"found": (), "groups": (), "accept_hint": "", "filing_pending": "", "scan": None,
                                "claim": None, "compose": compose or {}}
    facts = None
    if row is not None and row.resolved_at is None and (row.decision == "manual" or row.status == QUARANTINED):
        extra["claim"] = _claim(p, row)
    if row is not None and row.resolved_at is None and row.decision == "manual" and row.status != QUARANTINED:
        tools = tools_of(p.request)
        facts = light_facts(p.db, row, parse_mail(row.raw, p.cfg.limits), tools.vouched_cfg, tools.settings)
        extra["found"], extra["groups"] = grouped_choices(row, facts)
        extra["accept_hint"] = _accept_hint(row)
    elif row is not None and mail_id in _pending_ids(p, limit=1000):
        extra["filing_pending"] = row.filed_folder or ""
    if row is not None and is_scan(row):
        extra["scan"] = review(p, row, light=facts, typed=typed, errors=errors)
    response = render_mail(p, queue=True, **extra)
    response.status_code = status if response.status_code == 200 else response.status_code
    return response


def _claim(p: Page, row: Mail) -> dict[str, object]:
    """対応中: who took the mail and since when (none: anyone may take it)."""
    assert p.user is not None
    if not row.claimed_by:
        return {"owner": "", "mine": False, "since": "", "waited": ""}
    since = row.claimed_at or row.received_at
    return {"owner": p.person(row.claimed_by), "mine": row.claimed_by == p.user.username,
            "since": since.astimezone(p.cfg.office.tz).strftime("%m/%d %H:%M"), "waited": waiting_label(p.now - since)}


def _accept_hint(row: Mail) -> str:
    """Why 受付 cannot work, when the row already says so (the POST checks everything again)."""
    facts = row.facts or {}
    if facts.get("oversize"):
        return "メールが大きすぎて取り込んでいないため、受付できません。"
    if not row.kind or not row.customer_code:
        return "件名から依頼の種類または顧客コードが分からないため、受付できません。"
    return ""


# -- actions --------------------------------------------------------------------------------

def finish_held(p: Page, mail_id: int) -> Response:
    """After the commit: file the IMAP mail (the decision stands whatever IMAP says)."""
    refile(p.cfg, p.console.write, mail_id, now=p.now)
    return RedirectResponse(f"/manual?done={mail_id}", status_code=303)


@page()
def accept_mail(p: Page) -> Response:
    assert p.user is not None
    mail_id = mail_id_param(p)
    tools = tools_of(p.request)
    row = p.db.get(Mail, mail_id)
    if row is None:
        return p.error(404, "指定のメールは見つかりません。")
    posted, corrections = changed_values(p.form)  # values left as read are no one's typing
    try:
        typed = scan_values.typed_from(posted)  # a scan's values: checked before anything is read
    except scan_values.TypedValueErrors as err:
        return show(p, typed=err.typed, errors=err.errors, status=422)
    try:
        # A quick look first: a stale page must not cost a PDF reading.
        if row.resolved_at is not None or row.status == QUARANTINED or row.decision != "manual":
            with p.console.transaction() as w:
                locked_held(w, mail_id, by=p.user.username)
        attachments = read_for_accept(tools, row.raw)
        with p.console.transaction() as w:
            done = accept(w, mail_id, tools=tools, attachments=attachments, by=p.user.username, now=p.now,
                          typed=typed)
            audit.record(w, action=audit.MANUAL_ACCEPT, at=p.now, username=p.user.username, user_id=p.user.id,
                         mail_id=mail_id, ip=client_ip(p.request),
                         detail={"note": done.note, **({"typed": dict(done.typed)} if done.typed else {})})
            _audit_corrections(p, w, mail_id, corrections)
    except ResolveError as err:
        return _refused(p, err, mail_id)
    return finish_held(p, mail_id)


@page()
def dismiss(p: Page) -> Response:
    assert p.user is not None
    mail_id = mail_id_param(p)
    note = p.form.get("note", "").strip()[:MAX_NOTE]
    if not note:
        return p.error(400, "対応内容（メモ）を入力してください。")
    try:
        with p.console.transaction() as w:
            # Locked first, like accept and reject: two clicks resolve it once (PostgreSQL too).
            locked = w.scalar(select(Mail).where(Mail.id == mail_id).with_for_update())
            if locked is not None and locked.claimed_by and locked.claimed_by != p.user.username:
                raise ClaimedError(mail_id, locked.claimed_by, locked.claimed_at or locked.received_at)
            tools = tools_of(p.request)
            scan_shadow.dismiss(w, mail_id, cfg=tools.cfg, settings=tools.settings, by=p.user.username, note=note,
                                now=p.now)
            audit.record(w, action=audit.MANUAL_DISMISS, at=p.now, username=p.user.username, user_id=p.user.id,
                         mail_id=mail_id, ip=client_ip(p.request), detail={"note": note})
    except ManualQueueError as err:
        return _refused(p, StaleError(err.words(p.person)), mail_id)
    except ResolveError as err:
        return _refused(p, err, mail_id)
    return RedirectResponse(f"/manual?done={mail_id}", status_code=303)


@page()
def set_values(p: Page) -> Response:
    """Values typed into an accepted scan's unsent vendor row (``bot scan-values set``)."""
    assert p.user is not None
    mail_id = mail_id_param(p)
    posted, corrections = changed_values(p.form)
    try:
        typed = scan_values.typed_from(posted)
    except scan_values.TypedValueErrors as err:
        return show(p, typed=err.typed, errors=err.errors, status=422)
    if not typed:  # nothing changed
        return RedirectResponse(f"/manual/{mail_id}#scan", status_code=303)
    try:
        with p.console.transaction() as w:
            results = scan_values.type_values(w, mail_id, typed, now=p.now, by=p.user.username)
            _audit_corrections(p, w, mail_id, corrections)
            scan_shadow.note_typed(w, results)
            audit.record(w, action=SCAN_VALUES, at=p.now, username=p.user.username, user_id=p.user.id,
                         mail_id=mail_id, ip=client_ip(p.request),
                         detail={"vendor_row": results[0].row_id, "values": {r.key: r.after for r in results}})
    except scan_values.ScanRefused as err:
        return _refused(p, ResolveError(str(err)), mail_id)
    return RedirectResponse(f"/manual/{mail_id}#scan", status_code=303)


@page()
def refile_mail(p: Page) -> Response:
    """Retry the IMAP move of one decided mail (IMAP was away when it was decided)."""
    assert p.user is not None
    mail_id = mail_id_param(p)
    result = refile(p.cfg, p.console.write, mail_id, now=p.now)
    _audit_refile(p, mail_id, result)
    if not result.done:
        return _refused(p, ResolveError(result.message), mail_id)
    return RedirectResponse(f"/manual?done={mail_id}", status_code=303)


@page()
def refile_all(p: Page) -> Response:
    assert p.user is not None
    results = refile_pending(p.cfg, p.console.write, now=p.now)
    for mail_id, result in results:
        _audit_refile(p, mail_id, result)
    failed = [r for _id, r in results if not r.done]
    if failed:
        return _refused(p, ResolveError(failed[0].message), results[-1][0])
    return RedirectResponse("/manual", status_code=303)


def _audit_corrections(p: Page, w: object, mail_id: int, corrections: Mapping[str, tuple[str, str]]) -> None:
    """A value the reader read surely, changed by a person: before and after, by name."""
    assert p.user is not None
    if corrections:
        audit.record(w, action=audit.SCAN_VALUE_CORRECT, at=p.now, username=p.user.username,  # type: ignore[arg-type]
                     user_id=p.user.id, mail_id=mail_id, ip=client_ip(p.request),
                     detail={"values": {HEADERS.get(k, k): f"{before} → {after}" for k, (before, after) in corrections.items()}})


def _audit_refile(p: Page, mail_id: int, result: Filing) -> None:
    assert p.user is not None
    with p.console.transaction() as w:
        audit.record(w, action=audit.MANUAL_REFILE, at=p.now, username=p.user.username, user_id=p.user.id,
                     mail_id=mail_id, ip=client_ip(p.request), detail={"done": result.done, "message": result.message})
