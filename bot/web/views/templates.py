"""テンプレート (admins only): the mail templates with the admin's overrides, an editor with a
live preview on sample data, and every version (history, revert, back to built-in).

The work is :mod:`bot.templating.store`'s (render a draft, save a version and the override
file); these views only read the form, write the audit row in the same transaction, and show
the result. A template name is looked up in the store's allow-list before anything else.
Errors are shown in Japanese with their line (:mod:`bot.templating.errors`), the variables
of the sample data beside the editor (:mod:`bot.web.template_vars`); a revert or a 組み込みに
戻す first answers with a confirmation page showing what would change
(:mod:`bot.web.views.template_history`), and acts only when posted again with ``confirm=1``.

Preview: ``POST …/preview`` answers JSON to the page's script (``static/template_editor.js``)
and the whole editor page to the 「プレビュー」 button without script. An HTML template
(the digest) is shown in a sandboxed frame: ``…/frame`` serves the rendered mail with its own
CSP (no script at all, inline styles allowed as mail clients need them).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from bot.db.models import TemplateVersion
from bot.domain import vocab
from bot.templating import errors as template_errors
from bot.templating import store
from bot.web import audit, template_vars
from bot.web.pages import Page, client_ip, page
from bot.web.queries import time_label
from bot.web.views import template_history

TEMPLATE_SAVE, TEMPLATE_REVERT, TEMPLATE_BUILTIN = "template_save", "template_revert", "template_builtin"
AUDIT_ACTIONS = {store.SAVE: TEMPLATE_SAVE, store.REVERT: TEMPLATE_REVERT, store.BUILTIN: TEMPLATE_BUILTIN}
# How the audit page reads them: bot/domain/vocab.py (AUDIT_ACTIONS, TEMPLATE_ACTIONS).
ACTION_LABELS = vocab.TEMPLATE_ACTIONS

# The rendered HTML mail in the preview frame: nothing runs, nothing is fetched, only this
# console may frame it. Inline styles are allowed: mail HTML is styled inline.
FRAME_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox; "
             "frame-ancestors 'self'; form-action 'none'; base-uri 'none'")
FRAME_HEADERS = {"Content-Security-Policy": FRAME_CSP, "X-Frame-Options": "SAMEORIGIN",
                 "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


def _admin_dir(p: Page) -> Path | None:
    return Path(p.cfg.templates.dir) if p.cfg.templates.dir else None


def _name(p: Page) -> str | None:
    name = str(p.request.path_params["name"])
    return name if name in store.editable_names() else None


def _int(value: str | None) -> int | None:
    try:
        return int(value or "")
    except ValueError:
        return None


def _not_found(p: Page) -> Response:
    return p.error(404, "指定のテンプレートはありません。")


# -- pages ------------------------------------------------------------------------------------

@page(admin=True)
def template_list(p: Page) -> Response:
    admin_dir = _admin_dir(p)
    newest = store.latest_versions(p.db)
    rows = [{"name": name, "label": store.label(name), "partial": store.is_partial(name),
             "override": store.override_source(name, admin_dir) is not None, "latest": newest.get(name),
             "drifted": store.drifted(name, newest.get(name), admin_dir)} for name in store.editable_names()]
    return p.render("templates.html", title="テンプレート", rows=rows, admin_dir=admin_dir,
                    actions=ACTION_LABELS, when=lambda at: time_label(at, p.cfg.office.tz))


@page(admin=True)
def template_edit(p: Page) -> Response:
    name = _name(p)
    if name is None:
        return _not_found(p)
    admin_dir = _admin_dir(p)
    body, notice, frame = store.current_source(name, admin_dir), "", ""
    shown = _int(p.request.query_params.get("version"))
    if shown is not None:
        row = p.db.get(TemplateVersion, shown)
        if row is None or row.name != name:
            return p.error(404, "指定の版はありません。")
        body, notice = row.body, f"版 #{row.id} の内容を表示しています（まだ保存していません）。"
        frame = f"?version={row.id}"
    saved = _int(p.request.query_params.get("saved"))
    if saved is not None:
        row = p.db.get(TemplateVersion, saved)
        if row is not None and row.name == name:  # read back from the row, never text from the URL
            notice = (f"組み込みのテンプレートに戻しました（版 #{row.id}）。" if row.action == store.BUILTIN else
                      f"版 #{row.id} を保存しました。動いているボットは次に使うときからこの内容で送ります。")
    return _editor(p, name, body, notice=notice, frame=frame)


def _editor(p: Page, name: str, body: str, *, status: int = 200, notice: str = "", message: str = "",
            problems: list[store.Problem] | None = None, preview: store.Preview | None = None,
            base: int | None = None, frame: str = "") -> Response:
    admin_dir = _admin_dir(p)
    versions = store.history(p.db, name)
    newest = versions[0] if versions else None
    preview = preview or store.render_draft(name, body, admin_dir)
    problems = problems if problems is not None else list(preview.problems)
    return p.render(
        "templates_edit.html", status=status, title=f"テンプレート {name}", tpl=name, label=store.label(name),
        body=store.normalise(body), preview=preview, problems=template_errors.shown_all(problems, body),
        variables=template_vars.variables(name),
        versions=versions, base=base if base is not None else (newest.id if newest else 0),
        override=store.override_source(name, admin_dir) is not None, admin_dir=admin_dir,
        drifted=store.drifted(name, newest, admin_dir), partial=store.is_partial(name),
        required=store.REQUIRED_EXPORTS.get(name, ()), notice=notice, message=message, actions=ACTION_LABELS,
        frame_src=f"/templates/{name}/frame{frame}", when=lambda at: time_label(at, p.cfg.office.tz))


# -- preview ----------------------------------------------------------------------------------

def _problem_json(problem: store.Problem, body: str) -> dict[str, Any]:
    """One error for the script: in Japanese (`text`, and `parts`: (text, is_code) pieces the
    script shows as text and code), Jinja's own `message` kept for the title."""
    shown = template_errors.shown(problem, body)
    return {"file": problem.file, "line": problem.line, "message": problem.message, "in_draft": problem.in_draft,
            "text": shown.text, "parts": [list(part) for part in shown.parts]}


@page(admin=True)
def template_preview(p: Page) -> Response:
    """The draft rendered with the sample data: JSON for the script, else the editor page."""
    name = _name(p)
    if name is None:
        return _not_found(p)
    body = p.form.get("body", "")
    preview = store.render_draft(name, body, _admin_dir(p))
    if "application/json" in p.request.headers.get("accept", ""):
        return JSONResponse({"ok": preview.ok, "via": preview.via, "html": preview.html, "text": preview.text,
                             "subject": preview.subject, "problems": [_problem_json(x, body) for x in preview.problems]},
                            headers={"Cache-Control": "no-store"})
    return _editor(p, name, body, preview=preview, base=_int(p.form.get("base")))


@page(admin=True)
def template_frame(p: Page) -> Response:
    """An HTML template rendered for the preview frame: the draft posted, else a version
    (``?version=ID``), else what is in use."""
    name = _name(p)
    if name is None:
        return _not_found(p)
    admin_dir = _admin_dir(p)
    body = p.form.get("body") if p.request.method == "POST" else None
    version = _int(p.request.query_params.get("version"))
    if body is None and version is not None:
        row = p.db.get(TemplateVersion, version)
        if row is None or row.name != name:
            return _not_found(p)
        body = row.body
    preview = store.render_draft(name, store.current_source(name, admin_dir) if body is None else body, admin_dir)
    if not preview.html:
        return _not_found(p)
    if preview.ok:
        return HTMLResponse(preview.text, headers=FRAME_HEADERS)
    items = "".join(f"<li>{html.escape(template_errors.shown(x, body or '').text)}</li>" for x in preview.problems)
    page_html = (f'<!doctype html><html lang="ja"><meta charset="utf-8"><body style="font-family:sans-serif;'
                 f'color:#9b2c2c"><p>テンプレートにエラーがあるため表示できません。</p><ul>{items}</ul></body></html>')
    return HTMLResponse(page_html, status_code=422, headers=FRAME_HEADERS)


# -- saving -----------------------------------------------------------------------------------

def _audit(p: Page, name: str) -> store.OnSaved:
    assert p.user is not None
    user = p.user

    def record(session: Any, row: TemplateVersion) -> None:
        detail: dict[str, Any] = {"template": name, "version": row.id}
        if row.reverted_from is not None:
            detail["reverted_from"] = row.reverted_from
        if row.note:
            detail["note"] = row.note
        audit.record(session, action=AUDIT_ACTIONS[row.action], at=p.now, username=user.username, user_id=user.id,
                     ip=client_ip(p.request), detail=detail)

    return record


def _refused(p: Page, name: str, body: str, err: store.TemplateStoreError) -> Response:
    if isinstance(err, store.TemplateInvalid):
        return _editor(p, name, body, status=422, problems=err.problems, base=_int(p.form.get("base")),
                       message="テンプレートにエラーがあるため保存しませんでした。エラーを直してから保存してください。")
    if isinstance(err, store.StaleVersion):
        # The draft stays; a second click saves over the newer version knowingly.
        return _editor(p, name, body, status=409, message=str(err), base=err.latest_id)
    status = 409 if isinstance(err, store.NoAdminFolder) else 422
    return _editor(p, name, body, status=status, message=str(err), base=_int(p.form.get("base")))


def _done(name: str, row: TemplateVersion) -> Response:
    return RedirectResponse(f"/templates/{name}?saved={row.id}", status_code=303)


def _common(p: Page, name: str) -> dict[str, Any]:
    assert p.user is not None
    return {"admin_dir": _admin_dir(p), "by": p.user.username, "now": p.now, "note": p.form.get("note", ""),
            "base": _int(p.form.get("base")), "user_id": p.user.id, "on_saved": _audit(p, name)}


@page(admin=True)
def template_save(p: Page) -> Response:
    name = _name(p)
    if name is None:
        return _not_found(p)
    body = p.form.get("body", "")
    try:
        row = store.save(p.console.write, name, body, **_common(p, name))
    except store.TemplateStoreError as err:
        return _refused(p, name, body, err)
    return _done(name, row)


def _confirmed(p: Page) -> bool:
    return p.form.get("confirm") == "1"


@page(admin=True)
def template_revert(p: Page) -> Response:
    name = _name(p)
    version = _int(p.form.get("version"))
    if name is None or version is None:
        return _not_found(p)
    if not _confirmed(p):  # first the confirmation page: what would change
        target = template_history.side(p, name, str(version))
        if target is None:
            return p.error(404, "指定の版はありません。")
        return template_history.confirm(p, name, target=target, action="revert", base=p.form.get("base", ""))
    try:
        row = store.revert(p.console.write, name, version, **_common(p, name))
    except store.UnknownTemplate:
        return p.error(404, "指定の版はありません。")
    except store.TemplateStoreError as err:
        old = p.db.get(TemplateVersion, version)
        return _refused(p, name, old.body if old is not None else "", err)
    return _done(name, row)


@page(admin=True)
def template_builtin(p: Page) -> Response:
    name = _name(p)
    if name is None:
        return _not_found(p)
    if not _confirmed(p):
        target = template_history.side(p, name, template_history.BUILTIN)
        assert target is not None
        return template_history.confirm(p, name, target=target, action="builtin", base=p.form.get("base", ""))
    try:
        row = store.reset_to_builtin(p.console.write, name, **_common(p, name))
    except store.TemplateStoreError as err:
        return _refused(p, name, store.current_source(name, _admin_dir(p)), err)
    return _done(name, row)
