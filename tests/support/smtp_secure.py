"""A real aiosmtpd server with TLS (a test CA's certificate) and SASL XOAUTH2 that checks the token.

``SecureSmtp(cert, mode="tls")`` speaks TLS from the first byte (as port 465 does);
``mode="starttls"`` offers STARTTLS and refuses MAIL and AUTH before it (``require_starttls``, as
port 587 does); ``mode="plain"`` offers no TLS at all. ``check_token(user, token)`` decides each
XOAUTH2 login (a refused one gets Gmail's answer: a 334 JSON challenge, then 535); ``password``
enables PLAIN/LOGIN for that one password. Received mails are in ``messages``; every AUTH attempt
(mechanism, user, accepted) in ``logins``.
"""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import Callable
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.support.certs import Issued
from tests.support.dovecot import free_port


class _Handler:
    def __init__(self, server: SecureSmtp) -> None:
        self.server = server

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's name
        self.server.messages.append(bytes(envelope.original_content or b""))
        return "250 OK"

    async def auth_XOAUTH2(self, smtp: SMTP, args: list[str]) -> AuthResult:  # noqa: N802
        if len(args) < 2:
            answer = await smtp.challenge_auth("")
            raw = answer if isinstance(answer, bytes) else b""
        else:
            raw = base64.b64decode(args[1])
        fields = dict(part.split("=", 1) for part in raw.decode().split("\x01") if "=" in part)
        user, bearer = fields.get("user", ""), fields.get("auth", "")
        token = bearer[len("Bearer "):] if bearer.startswith("Bearer ") else ""
        ok = bool(self.server.check_token and self.server.check_token(user, token))
        self.server.logins.append(("XOAUTH2", user, ok))
        if ok:
            return AuthResult(success=True, auth_data=user)
        error = json.dumps({"status": "401", "schemes": "Bearer", "scope": "https://mail.google.com/"})
        await smtp.challenge_auth(base64.b64encode(error.encode()).decode(), encode_to_b64=False)
        return AuthResult(success=False, handled=False)


class SecureSmtp:
    def __init__(self, cert: Issued, *, mode: str = "tls", check_token: Callable[[str, str], bool] | None = None,
                 password: str | None = None) -> None:
        if mode not in ("tls", "starttls", "plain"):
            raise ValueError(mode)
        self.mode = mode
        self.check_token = check_token
        self.password = password
        self.messages: list[bytes] = []
        self.logins: list[tuple[str, str, bool]] = []
        self.host, self.port = "127.0.0.1", free_port()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert.cert), str(cert.key))
        # aiosmtpd counts only STARTTLS as TLS for AUTH; on the implicit-TLS port every byte is TLS.
        kwargs: dict[str, Any] = {"authenticator": self._password, "auth_require_tls": mode == "starttls"}
        if mode == "tls":
            kwargs["ssl_context"] = context
        elif mode == "starttls":
            kwargs.update(tls_context=context, require_starttls=True)
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port, **kwargs)

    def _password(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                  auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and self.password is not None
              and auth_data.password.decode() == self.password)
        self.logins.append((mechanism, auth_data.login.decode() if isinstance(auth_data, LoginPassword) else "", ok))
        return AuthResult(success=ok, handled=False)

    def __enter__(self) -> SecureSmtp:
        self._controller.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._controller.stop()
