"""対応中: a person takes a held mail (others see who and since when, and cannot act on it);
the owner gives it back, or an admin releases it for anyone. Each is audited in the
transaction that changes the row (:func:`bot.actions.held.take` / :func:`release`)."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from bot.actions.held import ResolveError, release, take
from bot.web import audit
from bot.web.pages import Page, client_ip, page
from bot.web.views.manual import mail_id_param, refused


@page()
def take_mail(p: Page) -> Response:
    assert p.user is not None
    mail_id = mail_id_param(p)
    try:
        with p.console.transaction() as w:
            claim = take(w, mail_id, by=p.user.username, now=p.now)
            if claim.before != p.user.username:
                audit.record(w, action=audit.MANUAL_TAKE, at=p.now, username=p.user.username, user_id=p.user.id,
                             mail_id=mail_id, ip=client_ip(p.request), detail={})
    except ResolveError as err:
        return refused(p, err, mail_id)
    return RedirectResponse(f"/manual/{mail_id}", status_code=303)


@page()
def release_mail(p: Page) -> Response:
    assert p.user is not None
    mail_id = mail_id_param(p)
    try:
        with p.console.transaction() as w:
            claim = release(w, mail_id, by=p.user.username, admin=p.user.is_admin)
            audit.record(w, action=audit.MANUAL_RELEASE, at=p.now, username=p.user.username, user_id=p.user.id,
                         mail_id=mail_id, ip=client_ip(p.request), detail={"claimed_by": p.person(claim.before)})
    except ResolveError as err:
        return refused(p, err, mail_id)
    back = p.form.get("back", "")
    return RedirectResponse("/manual" if back == "queue" else f"/manual/{mail_id}", status_code=303)
