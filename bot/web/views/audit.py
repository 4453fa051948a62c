"""監査ログ (admins only): every sign-in, failed sign-in, sign-out and action, newest first,
filtered by who, what and when (the filters ride along in the pager's links)."""

from __future__ import annotations

import dataclasses
import math

from starlette.responses import Response

from bot.web import audit
from bot.web.pages import Page, page
from bot.web.queries import time_label

PAGE_SIZE = 100


@page(admin=True)
def audit_log(p: Page) -> Response:
    f = audit.AuditFilter.parse(p.request.query_params)
    tz = p.cfg.office.tz
    lines, total = audit.entries(p.db, limit=PAGE_SIZE, offset=(f.page - 1) * PAGE_SIZE, filters=f, tz=tz)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    if f.page > pages:  # past the end (the log was filtered further): the last page
        f = dataclasses.replace(f, page=pages)
        lines, total = audit.entries(p.db, limit=PAGE_SIZE, offset=(pages - 1) * PAGE_SIZE, filters=f, tz=tz)
    # A person named in a detail (ユーザー追加 of kagawa) by the name the office knows them by.
    lines = [dataclasses.replace(a, detail={**a.detail, "user": p.person(str(a.detail["user"]))})
             if "user" in a.detail else a for a in lines]
    people = [(name, p.person(name)) for name in audit.actors(p.db)]
    if f.actor and f.actor.lower() not in {name.lower() for name, _ in people}:
        people.append((f.actor, p.person(f.actor)))
    return p.render("audit.html", title="監査ログ", lines=lines, total=total, page=f.page, pages=pages, f=f,
                    people=people, actions=audit.LABELS, failed=audit.FAILED_ACTIONS,
                    when=lambda at: time_label(at, tz))
