"""The console's ASGI app (Starlette) and ``bot web`` (uvicorn).

    create_app(cfg)  →  SecurityHeaders → CsrfMiddleware → routes (one module per kind of page)

Reads go through a read-only connection (SQLite: ``query_only``, no write lock taken, so a
page never waits for the daemon's transactions); writes (sign-in, sign-out, actions, audit)
through the bot's own :func:`bot.db.transaction`.
"""

from __future__ import annotations

import datetime as dt
import errno
import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bot import db
from bot.config import Config, ConfigError
from bot.web.csrf import CsrfMiddleware
from bot.web.pages import Console
from bot.web.queries import branch_directory
from bot.web.views import (
    audit,
    branches,
    exports,
    ledger,
    login,
    mails,
    manual,
    manual_claims,
    manual_reject,
    outbox,
    quarantine,
    scan_review,
    status,
    tasks,
    template_history,
    templates,
    vendor,
)

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
        Route("/mails.csv", exports.mails_csv),
        Route("/mails/{mail_id:int}", mails.mail_view),
        Route("/mails/{mail_id:int}/attachments/{index:int}", mails.attachment_download),
        Route("/mails/{mail_id:int}/attachments/{index:int}/pages/{page:int}.png", mails.attachment_page),
        Route("/manual", manual.queue),
        Route("/manual.csv", exports.manual_csv),
        Route("/manual/{mail_id:int}", manual.held_mail),
        Route("/manual/{mail_id:int}/dismiss", manual.dismiss, methods=["POST"]),
        Route("/manual/{mail_id:int}/accept", manual.accept_mail, methods=["POST"]),
        Route("/manual/{mail_id:int}/reject", manual_reject.reject_mail, methods=["POST"]),
        Route("/manual/{mail_id:int}/take", manual_claims.take_mail, methods=["POST"]),
        Route("/manual/{mail_id:int}/release", manual_claims.release_mail, methods=["POST"]),
        Route("/manual/{mail_id:int}/refile", manual.refile_mail, methods=["POST"]),
        Route("/manual/{mail_id:int}/values", manual.set_values, methods=["POST"]),
        Route("/manual/{mail_id:int}/scan.png", scan_review.scan_png),
        Route("/manual/refile", manual.refile_all, methods=["POST"]),
        Route("/tasks", tasks.task_list),
        Route("/branches", branches.branch_list),
        Route("/tasks/{task_id:int}/done", tasks.task_done, methods=["POST"]),
        Route("/ledger", ledger.ledger_search_page),
        Route("/ledger/{code}", ledger.ledger_customer),
        Route("/vendor", vendor.vendor_home),
        Route("/vendor/batches/{batch_id:int}", vendor.vendor_batch),
        Route("/vendor/batches/{batch_id:int}/csv", vendor.vendor_csv),
        Route("/vendor/batches/{batch_id:int}/ledger-csv", vendor.vendor_ledger_csv),
        Route("/vendor/batches/{batch_id:int}/houjin-csv", vendor.vendor_corporate_csv),
        Route("/audit", audit.audit_log),
        Route("/status", status.status),
        Route("/outbox", outbox.outbox_list),
        Route("/outbox/{row_id:int}/requeue", outbox.requeue, methods=["POST"]),
        Route("/quarantine", quarantine.quarantine_list),
        Route("/quarantine/{mail_id:int}/reprocess", quarantine.reprocess_mail, methods=["POST"]),
        Route("/templates", templates.template_list),
        Route("/templates/{name}", templates.template_edit),
        Route("/templates/{name}/preview", templates.template_preview, methods=["POST"]),
        Route("/templates/{name}/frame", templates.template_frame, methods=["GET", "POST"]),
        Route("/templates/{name}/save", templates.template_save, methods=["POST"]),
        Route("/templates/{name}/diff", template_history.template_diff),
        Route("/templates/{name}/revert", templates.template_revert, methods=["POST"]),
        Route("/templates/{name}/builtin", templates.template_builtin, methods=["POST"]),
        Route("/favicon.ico", favicon),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]


def favicon(_request: Any) -> Response:
    """The browser's tab icon (asked for at /favicon.ico by every browser, signed in or not)."""
    return FileResponse(STATIC_DIR / "favicon.ico", media_type="image/x-icon",
                        headers={"Cache-Control": "public, max-age=86400"})


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
    # The header's 「異常」 badge (base.html): the last verdict of bot.daemon.health, reused a while.
    app.state.health_badge = status.HealthBadge(console.read, console.clock, cfg.office.tz)
    console.env.globals["health_badge"] = app.state.health_badge
    return app


def serve(cfg: Config, *, host: str | None = None, port: int | None = None) -> int:
    """``bot web``: migrate, then serve until SIGINT/SIGTERM (uvicorn stops gracefully)."""
    import uvicorn

    check_config(cfg)
    host, port = host or cfg.web.host, port or cfg.web.port
    # The port is opened here, before anything else starts, so that a port in use is a config
    # error naming [web] port (exit 2), not uvicorn's startup failure (exit 3, undocumented).
    sock = listen_socket(host, port)
    db.upgrade(cfg.database.url)
    app = create_app(cfg)
    print(f"事務センター コンソール: http://{host}:{port}/  (Ctrl+C で停止 / stop)", flush=True)
    # log_config=None: uvicorn's lines go through the bot's own handler and format ([log]
    # format = "json" too), not a second logging set-up of uvicorn's.
    config = uvicorn.Config(app, log_config=None, proxy_headers=True, server_header=False)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        for engine in app.state.engines:
            engine.dispose()
    return 0


def listen_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port; ConfigError naming ``[web] port`` when it cannot be
    opened (in use, or a privileged port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as err:
        sock.close()
        why = "使用中です" if err.errno == errno.EADDRINUSE else (err.strerror or str(err))
        raise ConfigError(f"[web] port: {host}:{port} を開けません（{why}）。ほかのポートを [web] port "
                          f"または --port で指定してください / cannot listen on {host}:{port}: "
                          f"{err.strerror or err}") from None
    sock.set_inheritable(True)
    return sock


class ConsoleThread:
    """The console served by uvicorn in a daemon thread (``[web] in_run``: inside ``bot run``).
    :meth:`stop` ends it gracefully (open requests finish) and closes its database engines."""

    def __init__(self, server: Any, thread: threading.Thread, app: Starlette) -> None:
        self.server, self.thread, self.app = server, thread, app

    @property
    def url(self) -> str:
        config = self.server.config
        return f"http://{config.host}:{config.port}/"

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=timeout)
        if self.thread.is_alive():
            log.warning("console: still stopping after %.0f s; leaving it to the process exit", timeout)
            self.server.force_exit = True
            self.thread.join(timeout=2.0)
        for engine in self.app.state.engines:
            engine.dispose()


def serve_in_thread(cfg: Config, *, start_timeout: float = 20.0) -> ConsoleThread:
    """Serve the console from a thread of the calling process (the daemon), on ``[web] host``
    and ``port``. Installs no signal handler (the daemon owns SIGINT/SIGTERM: it calls
    :meth:`ConsoleThread.stop`) and leaves the process's logging as it is. Returns once the
    port is listening; raises :class:`ConfigError` without a secret key, and ``OSError`` when
    the port cannot be opened. The database must be migrated already (the daemon does it)."""
    import contextlib

    import uvicorn

    app = create_app(cfg)
    config = uvicorn.Config(app, host=cfg.web.host, port=cfg.web.port, log_config=None, access_log=False,
                            proxy_headers=True, server_header=False, lifespan="off")
    server = uvicorn.Server(config)
    # Signals belong to the daemon (uvicorn skips them off the main thread; make sure anyway).
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # uvicorn < 0.29
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, name="bot-web", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(timeout=5.0)
            for engine in app.state.engines:
                engine.dispose()
            raise OSError(f"[web] {cfg.web.host}:{cfg.web.port}: the console did not start "
                          "(port in use or not allowed? see the log)")
        time.sleep(0.05)
    log.info("console serving on http://%s:%s/", cfg.web.host, cfg.web.port)
    return ConsoleThread(server, thread, app)
