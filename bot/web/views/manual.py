"""保留 (the manual queue): the mails held for a person, oldest first, and closing one with a
note (``bot manual resolve``'s own code, audited). Accept and reject come with issue 7's next
step (they must call bot/actions, the pipeline's action code): shown disabled until then."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from bot.manual import ManualQueueError, resolve
from bot.web import audit
from bot.web.pages import Page, client_ip, page
from bot.web.queries import held_rows
from bot.web.views.mails import render_mail

MAX_NOTE = 2000


@page()
def queue(p: Page) -> Response:
    rows = held_rows(p.db, cfg=p.cfg, now=p.now, directory=p.console.directory)
    return p.render("manual.html", title="保留", rows=rows, done=p.request.query_params.get("done", ""))


@page()
def held_mail(p: Page) -> Response:
    return render_mail(p, queue=True)


@page()
def dismiss(p: Page) -> Response:
    assert p.user is not None
    mail_id = int(p.request.path_params["mail_id"])
    note = p.form.get("note", "").strip()[:MAX_NOTE]
    if not note:
        return p.error(400, "対応内容（メモ）を入力してください。")
    try:
        with p.console.transaction() as w:
            resolve(w, mail_id, by=p.user.username, note=note, now=p.now)
            audit.record(w, action=audit.MANUAL_DISMISS, at=p.now, username=p.user.username, user_id=p.user.id,
                         mail_id=mail_id, ip=client_ip(p.request), detail={"note": note})
    except ManualQueueError as err:
        return p.error(409, f"このメールは対応済みにできません（{err}）。")
    return RedirectResponse(f"/manual?done={mail_id}", status_code=303)
