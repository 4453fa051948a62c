"""The console's ASGI app (Starlette) and ``bot web`` (uvicorn).

    create_app(cfg)  →  SecurityHeaders → CsrfMiddleware → routes (one module per kind of page)

Reads go through a read-only connection (SQLite: ``query_only``, no write lock taken, so a
page never waits for the daemon's transactions); writes (sign-in, sign-out, actions, audit)
through the bot's own :func:`bot.db.transaction`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bot import db
from bot.config import Config, ConfigError
from bot.web.csrf import CsrfMiddleware
from bot.web.pages import Console
from bot.web.queries import branch_directory
from bot.web.views import audit, ledger, login, mails, manual, scan_review, templates, vendor

log = logging.getLogger("bot.web")

STATIC_DIR = Path(__file__).resolve().parent / "static"
MIN_SECRET = 32
# No script, style or frame from anywhere but this server; mail content can never run.
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; "
       "base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


class SecurityHeaders:
    """The same protective headers on every response (unless a view set its own CSP)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                for name, value in ((b"content-security-policy", CSP), (b"x-content-type-options", "nosniff"),
                                    (b"referrer-policy", "same-origin"), (b"x-frame-options", "DENY")):
                    if name not in names:
                        headers.append((name, value.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def routes() -> list[Any]:
    return [
        Route("/", mails.home),
        Route("/login", login.login_form, methods=["GET"]),
        Route("/login", login.login_submit, methods=["POST"]),
        Route("/logout", login.logout, methods=["POST"]),
        Route("/mails", mails.mail_list),
        Route("/mails/{mail_id:int}", mails.mail_view),
        Route("/mails/{mail_id:int}/attachments/{index:int}", mails.attachment_download),
        Route("/mails/{mail_id:int}/attachments/{index:int}/pages/{page:int}.png", mails.attachment_page),
        Route("/manual", manual.queue),
        Route("/manual/{mail_id:int}", manual.held_mail),
        Route("/manual/{mail_id:int}/dismiss", manual.dismiss, methods=["POST"]),
        Route("/manual/{mail_id:int}/accept", manual.accept_mail, methods=["POST"]),
        Route("/manual/{mail_id:int}/reject", manual.reject_mail, methods=["POST"]),
        Route("/manual/{mail_id:int}/refile", manual.refile_mail, methods=["POST"]),
        Route("/manual/{mail_id:int}/values", manual.set_values, methods=["POST"]),
        Route("/manual/{mail_id:int}/scan.png", scan_review.scan_png),
        Route("/manual/refile", manual.refile_all, methods=["POST"]),
        Route("/ledger", ledger.ledger_search_page),
        Route("/ledger/{code}", ledger.ledger_customer),
        Route("/vendor", vendor.vendor_home),
        Route("/vendor/batches/{batch_id:int}", vendor.vendor_batch),
        Route("/vendor/batches/{batch_id:int}/csv", vendor.vendor_csv),
        Route("/vendor/batches/{batch_id:int}/ledger-csv", vendor.vendor_ledger_csv),
        Route("/audit", audit.audit_log),
        Route("/templates", templates.template_list),
        Route("/templates/{name}", templates.template_edit),
        Route("/templates/{name}/preview", templates.template_preview, methods=["POST"]),
        Route("/templates/{name}/frame", templates.template_frame, methods=["GET", "POST"]),
        Route("/templates/{name}/save", templates.template_save, methods=["POST"]),
        Route("/templates/{name}/revert", templates.template_revert, methods=["POST"]),
        Route("/templates/{name}/builtin", templates.template_builtin, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]


def read_engine(url: str) -> Engine:
    """An engine for pages: on SQLite read-only and without BEGIN IMMEDIATE (see the module doc)."""
    if not url.startswith("sqlite"):
        return db.make_engine(url)
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA query_only=ON")
        cur.close()

    return engine


def check_config(cfg: Config) -> None:
    if len(cfg.web.secret_key) < MIN_SECRET:
        raise ConfigError(f"{cfg.source}: [web] secret_key: set at least {MIN_SECRET} random characters, "
                          "preferably as $BOT_WEB_SECRET_KEY (the console signs its form tokens with it)")


def create_app(cfg: Config, *, clock: Callable[[], dt.datetime] | None = None) -> Starlette:
    check_config(cfg)
    write_engine = db.make_engine(cfg.database.url)
    reads = read_engine(cfg.database.url)
    console = Console(cfg=cfg, write=db.session_factory(write_engine), read=db.session_factory(reads),
                      clock=clock or (lambda: dt.datetime.now(dt.UTC)), directory=branch_directory(cfg))
    app = Starlette(routes=routes(), middleware=[
        Middleware(SecurityHeaders), Middleware(CsrfMiddleware, secret=cfg.web.secret_key, https=cfg.web.https)])
    app.state.console = console
    app.state.engines = (write_engine, reads)
    return app


def serve(cfg: Config, *, host: str | None = None, port: int | None = None) -> int:
    """``bot web``: migrate, then serve until SIGINT/SIGTERM (uvicorn stops gracefully)."""
    import uvicorn

    check_config(cfg)
    db.upgrade(cfg.database.url)
    app = create_app(cfg)
    where = f"http://{host or cfg.web.host}:{port or cfg.web.port}/"
    print(f"事務センター コンソール: {where}  (Ctrl+C で停止 / stop)", flush=True)
    uvicorn.run(app, host=host or cfg.web.host, port=port or cfg.web.port, log_level="info",
                proxy_headers=True, server_header=False)
    for engine in app.state.engines:
        engine.dispose()
    return 0
