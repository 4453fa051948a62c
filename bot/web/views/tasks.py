"""作業: the office's own tasks from the mails (bot/actions/tasks.py): an Original SSID to confirm in
UNIS (Z200549), a 登録通知書 to send again. Listed oldest first until a person marks one done;
完了 locks the row, records who and when, and writes its audit row in the same transaction
(a second click, or a second person, is told who did it)."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from bot.actions import tasks
from bot.web import audit
from bot.web.pages import Page, client_ip, page


@page()
def task_list(p: Page) -> Response:
    return _show(p)


def _show(p: Page, *, refused: str = "", status: int = 200) -> Response:
    tz = p.cfg.office.tz
    lines = [{"task": t, "created": f"{t.created_at.astimezone(tz):%Y/%m/%d %H:%M}"} for t in tasks.open_tasks(p.db)]
    done = p.request.query_params.get("done", "")
    return p.render("tasks.html", title="作業", lines=lines, refused=refused, status=status,
                    done=int(done) if done.isdigit() else 0)


@page()
def task_done(p: Page) -> Response:
    assert p.user is not None
    task_id = int(p.request.path_params["task_id"])
    try:
        with p.console.transaction() as w:
            task = tasks.mark_done(w, task_id, by=p.user.username, now=p.now)
            audit.record(w, action=audit.TASK_DONE, at=p.now, username=p.user.username, user_id=p.user.id,
                         mail_id=task.mail_id, ip=client_ip(p.request),
                         detail={"task": task.kind, "code": task.customer_code, **dict(task.detail or {})})
    except tasks.TaskError as err:
        return _show(p, refused=str(err), status=409)
    return RedirectResponse(f"/tasks?done={task_id}", status_code=303)
