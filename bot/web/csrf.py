"""CSRF protection: a narrow ASGI middleware of our own (the idea of Datasette's asgi-csrf).

Every browser gets a random ``bot_csrf`` cookie (HttpOnly, SameSite=Lax). A form carries
``csrf_token`` = HMAC-SHA256(``[web] secret_key``, cookie); a POST (any unsafe method) whose
token does not match is refused with 403 before any view runs, as is one from another
Origin. Without the secret a page elsewhere can neither read nor forge the token, even if it
manages to plant a cookie.

The middleware reads the form body anyway to check the token, so it keeps the parsed fields in
``request.state.form`` for the (synchronous) views; only ``application/x-www-form-urlencoded``
bodies up to ``MAX_BODY`` bytes are accepted: the console has no uploads.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlsplit

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "bot_csrf"
FIELD = "csrf_token"
HEADER = b"x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_BODY = 64 * 1024
MAX_FIELDS = 200
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,100}$")

REFUSED_HTML = """<!doctype html><html lang="ja"><meta charset="utf-8"><title>送信できません</title>
<link rel="stylesheet" href="/static/console.css"><main class="narrow"><h1>送信できませんでした</h1>
<p>{why}</p><p><a href="/">トップへ戻る</a>（ページを開き直してから、もう一度操作してください）</p></main></html>"""


def sign(secret: str, cookie_token: str) -> str:
    return hmac.new(secret.encode(), cookie_token.encode(), hashlib.sha256).hexdigest()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _cookie(scope: Scope, name: str) -> str | None:
    raw = _header(scope, b"cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # noqa: BLE001 - a malformed Cookie header is no cookie
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


class CsrfMiddleware:
    def __init__(self, app: ASGIApp, *, secret: str, https: bool = False) -> None:
        if not secret:
            raise ValueError("CsrfMiddleware needs a secret key")
        self.app = app
        self.secret = secret
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = _cookie(scope, COOKIE)
        fresh = None
        if token is None or not _TOKEN.match(token):
            token = fresh = secrets.token_urlsafe(24)
        state = scope.setdefault("state", {})
        state["csrf_token"] = sign(self.secret, token)
        if scope["method"] not in SAFE_METHODS:
            refusal, form, receive = await self._check(scope, receive, fresh is not None, state["csrf_token"])
            if refusal is not None:
                await _refuse(send, *refusal)
                return
            state["form"] = form
        if fresh is None:
            await self.app(scope, receive, send)
            return
        secure = "; Secure" if self.https or scope.get("scheme") == "https" else ""
        cookie = f"{COOKIE}={fresh}; Path=/; HttpOnly; SameSite=Lax{secure}".encode("latin-1")

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"set-cookie", cookie)]
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    async def _check(self, scope: Scope, receive: Receive, no_cookie: bool,
                     expected: str) -> tuple[tuple[int, str] | None, dict[str, str], Receive]:
        origin = _header(scope, b"origin")
        host = _header(scope, b"host")
        if origin and origin != "null" and host and urlsplit(origin).netloc != host:
            return (403, "別のサイトからの送信は受け付けません。"), {}, receive
        if origin == "null":
            return (403, "送信元が不明なため受け付けません。"), {}, receive
        body = b""
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return (400, "接続が切れました。"), {}, receive
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > MAX_BODY:
                return (413, "送信された内容が大きすぎます。"), {}, receive
        ctype = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        form: dict[str, str] = {}
        if body or ctype:
            if ctype != "application/x-www-form-urlencoded":
                return (415, "この形式の送信は受け付けません。"), {}, receive
            try:
                pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True,
                                  max_num_fields=MAX_FIELDS)
            except ValueError:
                return (400, "送信内容が不正です。"), {}, receive
            for key, value in pairs:
                form.setdefault(key, value)
        supplied = form.get(FIELD) or _header(scope, HEADER) or ""
        if no_cookie or not hmac.compare_digest(supplied.encode(), expected.encode()):
            return (403, "フォームの確認用トークンがない、または一致しません。"), form, receive

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return None, form, replay


async def _refuse(send: Send, status: int, why: str) -> None:
    body = REFUSED_HTML.format(why=why).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff")]})
    await send({"type": "http.response.body", "body": body})
