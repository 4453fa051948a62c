"""受信一覧 (the mail list) and メール詳細 (one mail), its attachments and their page images.

Mail content is only ever shown as escaped text (an HTML body as the text the pipeline read
from it); attachments are served as downloads with ``nosniff``; PDF pages are drawn on the
server, in a bounded reader process, and served as PNG.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from starlette.responses import RedirectResponse, Response

from bot.forms.workers import ReaderFailed, shared_pool
from bot.web import audit
from bot.web.detail import attachment, mail_detail
from bot.web.pages import Page, client_ip, page
from bot.web.pdfpages import PdfOutline, outline, render_page
from bot.web.queries import MailFilter, day_label, mail_page

log = logging.getLogger("bot.web.mails")


@page()
def home(p: Page) -> Response:
    return RedirectResponse("/manual", status_code=303)


@page()
def mail_list(p: Page) -> Response:
    filters = MailFilter.parse(p.request.query_params)
    result = mail_page(p.db, filters, cfg=p.cfg, directory=p.directory, write=p.console.write)
    nav = {}
    if filters.day is not None:
        import datetime as dt

        nav = {"prev": filters.query(day=filters.day - dt.timedelta(days=1), page=1),
               "next": filters.query(day=filters.day + dt.timedelta(days=1), page=1),
               "label": day_label(filters.day)}
    return p.render("mails.html", title="受信一覧", result=result, f=filters, nav=nav)


def _mail_id(p: Page) -> int | None:
    try:
        return int(p.request.path_params["mail_id"])
    except (KeyError, ValueError):
        return None


def _outlines(p: Page, mail_id: int, detail_attachments: tuple) -> dict[int, PdfOutline]:
    """Pages of each PDF attachment, opened in a reader process (bounded like the pipeline's)."""
    from bot.db.models import Mail

    found: dict[int, PdfOutline] = {}
    pdfs = [a for a in detail_attachments if a.is_pdf]
    if not pdfs:
        return found
    row = p.db.get(Mail, mail_id)
    assert row is not None
    from bot.web.detail import parsed

    inbound = parsed(row, p.cfg)
    pool = shared_pool(p.cfg.limits)
    for a in pdfs:
        data = inbound.attachments[a.index].data
        try:
            found[a.index] = pool.call(outline, data, p.cfg.pdf.password, p.cfg.limits, timeout=p.cfg.limits.pdf_seconds)
        except ReaderFailed as err:
            found[a.index] = PdfOutline(0, False, "PDF_UNREADABLE", err.detail)
    return found


def render_mail(p: Page, *, queue: bool, **extra: object) -> Response:
    """`extra`: more context for the page (the 保留 action panel's choices)."""
    mail_id = _mail_id(p)
    detail = mail_detail(p.db, mail_id, cfg=p.cfg, directory=p.directory) if mail_id is not None else None
    if detail is None or mail_id is None:
        return p.error(404, "指定のメールは見つかりません。")
    lines, _total = audit.entries(p.db, mail_id=mail_id, limit=50)
    return p.render("mail.html", title=detail.row.subject, d=detail, outlines=_outlines(p, mail_id, detail.attachments),
                    audit_lines=lines, queue=queue, done=p.request.query_params.get("done", ""),
                    when=lambda at: at.astimezone(p.cfg.office.tz).strftime("%Y/%m/%d %H:%M"),
                    kind_label=detail.row.kind_label, **extra)


@page()
def mail_view(p: Page) -> Response:
    return render_mail(p, queue=False)


def _attachment(p: Page):
    from bot.db.models import Mail

    mail_id = _mail_id(p)
    try:
        index = int(p.request.path_params["index"])
    except (KeyError, ValueError):
        return None, None
    row = p.db.get(Mail, mail_id) if mail_id is not None else None
    return row, (attachment(row, p.cfg, index) if row is not None else None)


@page()
def attachment_download(p: Page) -> Response:
    row, att = _attachment(p)
    if row is None or att is None:
        return p.error(404, "指定の添付ファイルは見つかりません。")
    name = (att.filename or "attachment").replace("\r", "").replace("\n", "")
    # Who took a copy of what a customer sent (a page view is not audited; a file leaving is).
    assert p.user is not None
    with p.console.transaction() as w:
        audit.record(w, action=audit.ATTACHMENT_DOWNLOAD, at=p.now, username=p.user.username, user_id=p.user.id,
                     mail_id=row.id, ip=client_ip(p.request),
                     detail={"attachment": int(p.request.path_params["index"]), "filename": name[:200],
                             "bytes": len(att.data)})
    ascii_name = "".join(c if c.isascii() and c.isalnum() or c in ".-_" else "_" for c in name) or "attachment"
    return Response(att.data, media_type="application/octet-stream", headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}",
        "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store",
        "Content-Security-Policy": "default-src 'none'; sandbox"})


@page()
def attachment_page(p: Page) -> Response:
    row, att = _attachment(p)
    try:
        number = int(p.request.path_params["page"])
    except (KeyError, ValueError):
        number = 0
    if row is None or att is None or not att.is_pdf or number < 1:
        return p.error(404, "指定のページは見つかりません。")
    key = (row.id, int(p.request.path_params["index"]), number)
    png = p.console.pngs.get(key)
    if png is None:
        try:
            png = shared_pool(p.cfg.limits).call(render_page, att.data, p.cfg.pdf.password, p.cfg.limits, number - 1,
                                                 timeout=p.cfg.limits.pdf_seconds)
        except ReaderFailed as err:
            log.warning("mail %s attachment %s page %s: not drawn: %s", key[0], key[1], number, err.detail)
            return Response("このページは表示できません。", status_code=422, media_type="text/plain; charset=utf-8")
        p.console.pngs.put(key, png)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600",
                                                           "X-Content-Type-Options": "nosniff"})
