"""テンプレート's history pages (admins only): the difference between two versions
(``/templates/{name}/diff?from=…&to=…``), and the confirmation a revert or a 組み込みに戻す
asks for before anything is written (the POST without ``confirm=1`` answers with this page).

A side of a comparison is a version id, ``builtin`` (the template shipped with the bot) or
``current`` (what the bot renders now: the admin's override, else the built-in one).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from starlette.responses import Response

from bot.db.models import TemplateVersion
from bot.domain import vocab
from bot.templating import store
from bot.web.pages import Page, page
from bot.web.queries import time_label
from bot.web.template_diff import compare

BUILTIN, CURRENT = "builtin", "current"


@dataclass(frozen=True)
class Side:
    key: str  # a version id, BUILTIN or CURRENT
    label: str
    body: str


def _admin_dir(p: Page) -> Path | None:
    return Path(p.cfg.templates.dir) if p.cfg.templates.dir else None


def version_label(p: Page, row: TemplateVersion) -> str:
    what = vocab.TEMPLATE_ACTIONS.get(row.action, "保存")
    return f"版 #{row.id}（{what}・{p.person(row.created_by)}・{time_label(row.created_at, p.cfg.office.tz)}）"


def side(p: Page, name: str, key: str) -> Side | None:
    """One side of a comparison; None when `key` names no version of `name`."""
    if key == BUILTIN:
        return Side(BUILTIN, "組み込みのテンプレート", store.builtin_source(name))
    if key == CURRENT:
        return Side(CURRENT, "いま使われている内容", store.current_source(name, _admin_dir(p)))
    try:
        row = p.db.get(TemplateVersion, int(key))
    except ValueError:
        return None
    if row is None or row.name != name:
        return None
    body = store.builtin_source(name) if row.action == store.BUILTIN else row.body
    return Side(str(row.id), version_label(p, row), body)


def choices(p: Page, name: str) -> list[tuple[str, str]]:
    """What the comparison's two selects offer: now, every version (newest first), built-in."""
    rows = store.history(p.db, name)
    return ([(CURRENT, "いま使われている内容")] + [(str(v.id), version_label(p, v)) for v in rows]
            + [(BUILTIN, "組み込みのテンプレート")])


@page(admin=True)
def template_diff(p: Page) -> Response:
    name = str(p.request.path_params["name"])
    if name not in store.editable_names():
        return p.error(404, "指定のテンプレートはありません。")
    old = side(p, name, p.request.query_params.get("from", BUILTIN) or BUILTIN)
    new = side(p, name, p.request.query_params.get("to", CURRENT) or CURRENT)
    if old is None or new is None:
        return p.error(404, "指定の版はありません。")
    return p.render("templates_diff.html", title=f"テンプレートの差分 {name}", tpl=name, label=store.label(name),
                    old=old, new=new, diff=compare(old.body, new.body), choices=choices(p, name))


def confirm(p: Page, name: str, *, target: Side, action: str, base: str) -> Response:
    """The page that asks before a revert (`action` "revert", with `target` the version) or a
    組み込みに戻す (`action` "builtin"): what changes, and the button that does it."""
    current = side(p, name, CURRENT)
    assert current is not None
    return p.render("templates_confirm.html", title="テンプレートを戻す前の確認", tpl=name, label=store.label(name),
                    target=target, current=current, action=action, base=base,
                    diff=compare(current.body, target.body))
