"""差戻 by a person, from a held mail's page (/manual/ID): the defects chosen in their groups
and a remark of the person's own → the exact mail shown (nothing sent) → 送信 with the
fingerprint of what was shown → the 差戻 queued with the decision, in one transaction with
its audit row (:mod:`bot.actions.person_reject`). A send without a confirmed preview is a
preview: nothing leaves before a person has read it."""

from __future__ import annotations

from starlette.responses import Response

from bot.actions.person_reject import MAX_REMARK, chosen_codes, clean_remark, preview, reject
from bot.actions.resolve import ResolveError, StaleError
from bot.web import audit
from bot.web.pages import Page, client_ip, page
from bot.web.views.manual import finish_held, mail_id_param, tools_of, refused, show


@page()
def reject_mail(p: Page) -> Response:
    assert p.user is not None
    mail_id = mail_id_param(p)
    codes = chosen_codes(p.form)
    remark = clean_remark(p.form.get("remark", ""))
    confirmed = p.form.get("confirm", "").strip()
    compose: dict[str, object] = {"picked": codes, "remark": remark, "max_remark": MAX_REMARK}
    if not confirmed:
        try:
            with p.console.transaction() as w:  # nothing written: the row is only locked while the mail is built
                compose["preview"] = preview(w, mail_id, codes, tools=tools_of(p.request), by=p.user.username,
                                             now=p.now, remark=remark)
        except StaleError as err:
            return refused(p, err, mail_id)
        except ResolveError as err:
            compose["error"] = str(err)
            return show(p, compose=compose, status=422)
        return show(p, compose=compose)
    try:
        with p.console.transaction() as w:
            done = reject(w, mail_id, codes, tools=tools_of(p.request), by=p.user.username, now=p.now, remark=remark,
                          confirmed=confirmed)
            audit.record(w, action=audit.MANUAL_REJECT, at=p.now, username=p.user.username, user_id=p.user.id,
                         mail_id=mail_id, ip=client_ip(p.request),
                         detail={"defects": codes, "outbox_id": done.outbox_id, "to": list(done.reply_to),
                                 **({"remark": remark} if remark else {})})
    except StaleError as err:
        if "内容が変わりました" in str(err):
            compose["error"] = str(err)
            return show(p, compose=compose, status=409)
        return refused(p, err, mail_id)
    except ResolveError as err:
        compose["error"] = str(err)
        return show(p, compose=compose, status=422)
    return finish_held(p, mail_id)
