"""ログイン / ログアウト. A failed or limited sign-in says the same thing whether the user
name exists or not; every attempt is in the audit log."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from bot.web import audit, sessions, users
from bot.web.pages import Page, anonymous, client_ip, page


def _safe_next(target: str | None) -> str:
    """Only a path on this site (never //host or a scheme): no open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _cookie_secure(p: Page) -> bool:
    return p.cfg.web.https or p.request.url.scheme == "https"


@anonymous
def login_form(p: Page) -> Response:
    if p.user is not None:
        return RedirectResponse(_safe_next(p.request.query_params.get("next")), status_code=303)
    return p.render("login.html", title="ログイン", next=_safe_next(p.request.query_params.get("next")),
                    error="", username="")


@anonymous
def login_submit(p: Page) -> Response:
    username = p.form.get("username", "")
    password = p.form.get("password", "")
    target = _safe_next(p.form.get("next"))
    with p.console.transaction() as w:
        result = users.authenticate(w, username, password, ip=client_ip(p.request), now=p.now, web=p.cfg.web)
        token = sessions.start(w, result.user, now=p.now, web=p.cfg.web, ip=client_ip(p.request)) \
            if result.user is not None else None
    if token is None:
        if result.limited:
            error = (f"ログインの失敗が続いたため、しばらく受け付けません。{p.cfg.web.login_window_minutes}分ほど"
                     "待ってから、もう一度お試しください。")
        else:
            error = "ユーザー名またはパスワードが違います。"
        return p.render("login.html", status=429 if result.limited else 401, title="ログイン", next=target,
                        error=error, username=username[:100])
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(sessions.COOKIE, token, max_age=p.cfg.web.session_minutes * 60, path="/", httponly=True,
                        samesite="lax", secure=_cookie_secure(p))
    return response


@page()
def logout(p: Page) -> Response:
    assert p.user is not None
    with p.console.transaction() as w:
        sessions.end(w, p.user.session_key)
        audit.record(w, action=audit.LOGOUT, at=p.now, username=p.user.username, user_id=p.user.id,
                     ip=client_ip(p.request))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/", httponly=True, samesite="lax", secure=_cookie_secure(p))
    return response
