"""What every console page shares: the app's state (:class:`Console`), the sign-in check
(:func:`page`), and rendering a template with the header's values (user, 保留 count, CSRF token).

Views are plain synchronous functions (Starlette runs them in its thread pool): they read
through a read-only session and write through :func:`bot.db.transaction` on the write factory.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from bot import db
from bot.config import Config
from bot.db import PROJECT_ROOT
from bot.domain import vocab
from bot.web import sessions
from bot.web.queries import DECISIONS, KINDS, held_count, learned_branches

TEMPLATES_DIR = PROJECT_ROOT / "templates" / "web"
# The mail templates' folder too: the console explains defects with the same sentences as the
# 差戻 mail (_defects.j2, built-in only: an admin override is rendered in the mail sandbox only).
MAIL_TEMPLATES_DIR = PROJECT_ROOT / "templates"


def make_environment() -> Environment:
    env = Environment(loader=FileSystemLoader([str(TEMPLATES_DIR), str(MAIL_TEMPLATES_DIR)]), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["qs"] = lambda values: urlencode(values)
    env.filters["filesize"] = _filesize
    env.filters["urlpart"] = lambda value: quote(str(value), safe="")
    # The office's words (bot/domain/vocab.py): codes and keys are never shown as they are stored.
    env.filters["code_name"] = vocab.code_name
    env.filters["field_name"] = vocab.field_name
    env.filters["plain"] = vocab.plain
    env.filters["value_text"] = vocab.value_text
    env.filters["detail_lines"] = vocab.detail_lines
    env.filters["technical"] = vocab.technical
    env.filters["audit_lines"] = _audit_lines
    env.globals.update(DECISIONS=DECISIONS, KINDS=KINDS, V=vocab)
    return env


def _audit_lines(detail: Mapping[str, Any] | None) -> tuple[tuple[str, str, bool], ...]:
    from bot.web.audit_details import lines

    return lines(detail)


def _filesize(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / 1024 / 1024:.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n} B"


class PngCache:
    """The last few rendered PDF pages (a person flips back and forth); bounded in entries."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._items: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> bytes | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: tuple[Any, ...], value: bytes) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)


@dataclass
class Console:
    cfg: Config
    write: sessionmaker[Session]
    read: sessionmaker[Session]
    clock: Callable[[], dt.datetime]
    env: Environment = field(default_factory=make_environment)
    directory: tuple[tuple[str, str], ...] = ()
    pngs: PngCache = field(default_factory=PngCache)

    def transaction(self) -> Any:
        return db.transaction(self.write)


@dataclass
class Page:
    request: Request
    console: Console
    user: sessions.SignedIn | None
    db: Session
    now: dt.datetime

    @property
    def cfg(self) -> Config:
        return self.console.cfg

    @property
    def form(self) -> Mapping[str, str]:
        return getattr(self.request.state, "form", {}) or {}

    @functools.cached_property
    def directory(self) -> tuple[tuple[str, str], ...]:
        """The branch directory and the branch names the mails themselves give (their domains)."""
        return learned_branches(self.db, self.console.directory)

    @functools.cached_property
    def people(self) -> dict[str, str]:
        """Login name → display name (香川), for every person a page names."""
        from bot.web.users import display_names

        return display_names(self.db)

    def person(self, username: str | None) -> str:
        """A person as the office names them: the display name; ``cli:…`` is an admin at the shell."""
        name = (username or "").strip()
        if name.startswith("cli:"):
            return "管理者（コマンド）"
        return self.people.get(name.lower()) or name or "—"

    def render(self, name: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        held = held_count(self.db) if self.user is not None else 0
        base = {"user": self.user, "csrf_token": self.request.state.csrf_token, "held_count": held,
                "path": self.request.url.path, "title": "", "params": dict(self.request.query_params),
                "person": self.person}
        html = self.console.env.get_template(name).render({**base, **context})
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})

    def error(self, status: int, message: str) -> HTMLResponse:
        return self.render("error.html", status=status, title=message, message=message)


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def console_of(request: Request) -> Console:
    return request.app.state.console  # type: ignore[no-any-return]


def page(*, admin: bool = False) -> Callable[[Callable[[Page], Response]], Callable[[Request], Response]]:
    """A page that needs a signed-in user (and the admin role when `admin`)."""

    def wrap(view: Callable[[Page], Response]) -> Callable[[Request], Response]:
        @functools.wraps(view)
        def endpoint(request: Request) -> Response:
            console = console_of(request)
            now = console.clock()
            with console.read() as session:
                user = sessions.resolve(session, request.cookies.get(sessions.COOKIE), now=now, web=console.cfg.web)
                if user is None:
                    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                    where = "/login" if request.method != "GET" else "/login?" + urlencode({"next": target})
                    return RedirectResponse(where, status_code=303)
                if user.touch_due:
                    with console.transaction() as w:
                        sessions.touch(w, user.session_key, now=now)
                p = Page(request, console, user, session, now)
                if admin and not user.is_admin:
                    return p.error(403, "このページは管理者のみ利用できます。")
                return view(p)

        return endpoint

    return wrap


def anonymous(view: Callable[[Page], Response]) -> Callable[[Request], Response]:
    """A page anyone may open (the login form), with the same rendering helpers."""

    @functools.wraps(view)
    def endpoint(request: Request) -> Response:
        console = console_of(request)
        now = console.clock()
        with console.read() as session:
            user = sessions.resolve(session, request.cookies.get(sessions.COOKIE), now=now, web=console.cfg.web)
            return view(Page(request, console, user, session, now))

    return endpoint
