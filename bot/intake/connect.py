"""How the bot reaches its two mail servers: transport security, the CA it trusts, and login
(issue 22, points 1 and 2). bot/intake/__init__.py (IMAP), bot/actions/outbox.py (SMTP) and bot/daemon/startup.py
(the probes of `bot check` and `bot run`'s start) all connect through here.

``security`` per server ([mailbox], [smtp]):
- ``"tls"``: TLS from the first byte (IMAP 993, SMTP 465).
- ``"starttls"``: plain connect, then STARTTLS before anything else is said (IMAP 143, SMTP 587
  or 25). A server that does not offer it is an error: never a silent fall back to plaintext.
- ``"plain"``: no TLS, only where it is chosen. Unset, it is derived (:func:`resolve_security`):
  ``ssl = true`` (an alias kept for old configs) or the implicit-TLS port means "tls", a loopback
  host "plain" (the password never leaves the machine), every other host "starttls".
The certificate is always verified, against ``ca_file`` when set (a private CA) else the system
store, and so is the host name: there is no key to turn either off.

A TLS setting that does not fit the port (TLS spoken to a plain port: ``WRONG_VERSION_NUMBER``;
plain spoken to a TLS port: no greeting), an untrusted certificate or a host name the certificate
does not name comes back as :class:`ServerSecurityError`, whose message is one Japanese line
naming the config key and the likely fix (:func:`explain`).
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.domain.config_error import ConfigError
from bot.intake.oauth2 import is_loopback as is_loopback  # kept importable from here

if TYPE_CHECKING:
    import smtplib

    import aiosmtplib

    from bot.config import Config, OAuth2Config, SmtpConfig

log = logging.getLogger("bot.intake.connect")

TLS, STARTTLS, PLAIN = "tls", "starttls", "plain"
SECURITY = (TLS, STARTTLS, PLAIN)
IMAP_TLS_PORT, IMAP_PORT, SMTP_TLS_PORT, SMTP_SUBMISSION_PORT = 993, 143, 465, 587


class ServerSecurityError(Exception):
    """TLS could not be set up as configured; the message is the admin's one line."""


class SilentServer(ServerSecurityError):
    """No greeting in time on a plain connection: a TLS port, or just a server that hangs."""


def resolve_security(security: str, *, tls_alias: bool, starttls_alias: bool, port: int, host: str,
                     tls_port: int) -> str:
    """The effective ``security`` of one server (see the module docstring)."""
    if security:
        return security
    if tls_alias or port == tls_port:
        return TLS
    if starttls_alias:
        return STARTTLS
    return PLAIN if is_loopback(host) else STARTTLS


def tls_context(ca_file: str) -> ssl.SSLContext:
    """Certificate and host name verified (TLS 1.2 or later), against ``ca_file`` when given."""
    context = ssl.create_default_context(cafile=ca_file or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


@dataclass(frozen=True)
class Endpoint:
    """One server as configured, for the messages: ``[section] host:port`` and its security."""

    section: str  # "mailbox" | "smtp"
    host: str
    port: int
    security: str
    timeout: float = 30.0

    @property
    def tls_port(self) -> int:
        return IMAP_TLS_PORT if self.section == "mailbox" else SMTP_TLS_PORT

    @property
    def plain_port(self) -> int:
        return IMAP_PORT if self.section == "mailbox" else SMTP_SUBMISSION_PORT


def _chain_text(err: BaseException) -> str:
    parts, seen = [], 0
    current: BaseException | None = err
    while current is not None and seen < 5:
        parts.append(f"{type(current).__name__}: {current}")
        current = current.__cause__ or current.__context__
        seen += 1
    return " / ".join(parts)


def explain(err: BaseException, ep: Endpoint) -> str | None:
    """One Japanese line for a TLS failure (what happened, the key, the likely fix), or None when
    ``err`` says nothing about TLS (a refused connection, a wrong password …)."""
    text = _chain_text(err)
    low = text.lower()
    key = f"[{ep.section}]"
    where = f"{ep.host}:{ep.port}"
    if ("wrong_version_number" in low or "wrong version number" in low or "record layer failure" in low
            or "unknown protocol" in low or "packet length too long" in low or "http_request" in low):
        return (f"{key} security = \"{ep.security}\" ですが、{where} は TLS で応答しません（平文のポート、{text}）"
                f" → {key} port = {ep.tls_port}（TLS のポート）にするか、security = \"starttls\"（port = {ep.plain_port}）"
                "にしてください")
    if "hostname mismatch" in low or "ip address mismatch" in low:
        return (f"{where} の証明書は {key} host = \"{ep.host}\" の名前のものではありません（{text}）"
                f" → {key} host を証明書にある名前（例: mail.example.co.jp）にしてください（検証は外せません）")
    if "certificate_verify_failed" in low or "certificate verify failed" in low:
        return (f"{where} の証明書を検証できません（{text}）"
                f" → 社内 CA の証明書なら {key} ca_file にその CA 証明書（PEM）のパスを設定してください。"
                "期限切れならサーバーの証明書を更新してください")
    if isinstance(err, (TimeoutError, socket.timeout)) or "timed out" in low or "timeout" in low:
        if ep.security == TLS:
            return None  # a TLS client talks first; silence is a host that does not answer at all
        likely = ep.port == ep.tls_port
        return (f"{key} security = \"{ep.security}\" で {where} に接続しましたが、{ep.timeout:g} 秒以内に"
                f"サーバーのあいさつがありません（{'TLS 専用のポートです' if likely else 'TLS 専用のポートかもしれません'}）"
                f" → {key} security = \"tls\" にするか、port = {ep.plain_port} にしてください"
                + ("" if likely else "（違うなら host / port とファイアウォールを確認してください）"))
    if ep.security == TLS and ("eof occurred in violation of protocol" in low or "unexpected eof" in low):
        return (f"{key} security = \"tls\" ですが、{where} は TLS のハンドシェイクの途中で切断しました（{text}）"
                f" → 平文のポートなら port = {ep.tls_port} にするか security = \"starttls\" にしてください")
    return None


def no_starttls(ep: Endpoint) -> ServerSecurityError:
    fix = (f"[{ep.section}] security = \"tls\"（port = {ep.tls_port}）にしてください"
           if not is_loopback(ep.host) else
           f"[{ep.section}] security = \"tls\"（port = {ep.tls_port}）、または同じマシンのサーバーなら security = \"plain\" にしてください")
    return ServerSecurityError(
        f"[{ep.section}] security = \"starttls\" ですが、{ep.host}:{ep.port} は STARTTLS に対応していません"
        f"（平文のままではパスワードやトークンを送りません） → {fix}")


# --------------------------------------------------------------------------- config


def validate_servers(cfg: Config, env: Mapping[str, str]) -> None:
    """ConfigError for [mailbox]/[smtp] security, ca_file and auth keys (and [oauth2] when used)."""
    m, s = cfg.mailbox, cfg.smtp
    for section, security in (("mailbox", m.security), ("smtp", s.security)):
        if security and security not in SECURITY:
            raise ConfigError(f"{cfg.source}: [{section}] security: \"tls\", \"starttls\" or \"plain\", got {security!r}")
    if m.ssl and m.security not in ("", TLS):
        raise ConfigError(f"{cfg.source}: [mailbox] ssl = true is \"tls\", but security = {m.security!r}: "
                          "remove ssl (security says it all)")
    if s.starttls and s.security not in ("", STARTTLS):
        raise ConfigError(f"{cfg.source}: [smtp] starttls = true is \"starttls\", but security = {s.security!r}: "
                          "remove starttls (security says it all)")
    for section, ca_file in (("mailbox", m.ca_file), ("smtp", s.ca_file)):
        if ca_file:
            try:
                ssl.create_default_context(cafile=ca_file)
            except (OSError, ssl.SSLError) as err:
                raise ConfigError(f"{cfg.source}: [{section}] ca_file: CA 証明書（PEM）を読めません / cannot load "
                                  f"{ca_file!r}: {err}") from err
    if m.auth not in ("password", "oauth2"):
        raise ConfigError(f"{cfg.source}: [mailbox] auth: \"password\" or \"oauth2\", got {m.auth!r}")
    if s.auth not in ("", "password", "oauth2", "none"):
        raise ConfigError(f"{cfg.source}: [smtp] auth: \"password\", \"oauth2\" or \"none\", got {s.auth!r}")
    if s.auth in ("password", "oauth2") and not s.user:
        raise ConfigError(f"{cfg.source}: [smtp] user: required with auth = {s.auth!r} (the account to log in as)")
    for section, security, host in (("mailbox", m.security_mode, m.host), ("smtp", s.security_mode, s.host)):
        if security == PLAIN and not is_loopback(host):
            log.warning("[%s] security = \"plain\" to %s: the login crosses the network unencrypted", section, host)
    if m.auth == "oauth2" or s.auth_mode == "oauth2":
        from bot.intake.oauth2 import validate

        validate(cfg, env)


# --------------------------------------------------------------------------- IMAP


def open_imap(host: str, port: int, security: str, ca_file: str, timeout: float):  # type: ignore[no-untyped-def]
    """An IMAPClient connected as ``security`` says (TLS done, not logged in), or
    ServerSecurityError with the admin's line."""
    from imapclient import IMAPClient
    from imapclient.exceptions import IMAPClientError

    ep = Endpoint("mailbox", host, port, security, timeout)
    context = tls_context(ca_file) if security != PLAIN else None
    try:
        client = IMAPClient(host, port=port, ssl=security == TLS, ssl_context=context, timeout=timeout)
    except (OSError, EOFError) as err:
        raise _translated(err, ep) from err
    if security == STARTTLS:
        try:
            if b"STARTTLS" not in {c.upper() for c in client.capabilities()}:
                raise no_starttls(ep)
            client.starttls(context)
        except ServerSecurityError:
            _drop(client)
            raise
        except (OSError, EOFError, IMAPClientError) as err:
            _drop(client)  # a failed handshake may have closed the socket already
            raise _translated(err, ep) from err
    return client


def _drop(client) -> None:  # type: ignore[no-untyped-def]
    with suppress(Exception):
        client.shutdown()


def _translated(err: BaseException, ep: Endpoint) -> BaseException:
    line = explain(err, ep)
    if not line:
        return err
    silent = ep.security != TLS and ("timed out" in str(err).lower() or isinstance(err, (TimeoutError, socket.timeout)))
    return SilentServer(line) if silent else ServerSecurityError(line)


def imap_login(client, user: str, password: str, auth: str,  # type: ignore[no-untyped-def]
               oauth2: OAuth2Config | None) -> None:
    """LOGIN with the password, or SASL XOAUTH2 (OAUTHBEARER where only that is offered) with
    a token of [oauth2].

    A token held from an earlier login that the server now refuses (``NO [AUTHENTICATIONFAILED]``:
    revoked, or expired with the session the server just dropped) is replaced by a fresh one and
    the login tried once more on the same connection (IMAP allows another AUTHENTICATE after a
    failed one), so a long-running session reconnects in one go. A fresh token refused is the
    credentials' fault: dropped, and the refusal raised (the next login fetches anew)."""
    if auth != "oauth2":
        client.login(user, password)
        return
    from imapclient.exceptions import LoginError

    from bot.intake.oauth2 import token_source

    source = token_source(_required(oauth2), user)
    token, held = source.checked_token()
    offered = {c.upper() for c in client.capabilities()}
    bearer_only = b"AUTH=XOAUTH2" not in offered and b"AUTH=OAUTHBEARER" in offered
    login = client.oauthbearer_login if bearer_only else client.oauth2_login
    try:
        login(user, token)
    except LoginError:
        fresh = source.renew(token) if held else None
        if fresh is None:
            source.invalidate(token)
            raise
        log.info("IMAP %s: the held OAuth2 token was refused; logging in once more with a fresh one", user)
        try:
            login(user, fresh)
        except LoginError:
            source.invalidate(fresh)
            raise


# --------------------------------------------------------------------------- SMTP


def smtp_endpoint(smtp: SmtpConfig) -> Endpoint:
    return Endpoint("smtp", smtp.host, smtp.port, smtp.security_mode, smtp.timeout)


def smtp_client(smtp: SmtpConfig) -> aiosmtplib.SMTP:
    """An aiosmtplib client (not connected) with the configured TLS: STARTTLS is required (a
    server without it is an error), never opportunistic."""
    import aiosmtplib

    security = smtp.security_mode
    return aiosmtplib.SMTP(
        hostname=smtp.host, port=smtp.port, timeout=smtp.timeout,
        use_tls=security == TLS, start_tls=security == STARTTLS,
        tls_context=tls_context(smtp.ca_file) if security != PLAIN else None,
    )


async def smtp_connect(smtp: SmtpConfig, oauth2: OAuth2Config | None = None) -> aiosmtplib.SMTP:
    """Connected, TLS as configured, logged in as ``auth`` says (XOAUTH2 with a token of
    ``oauth2``, fetched in a thread: the token endpoint is plain blocking HTTP)."""
    import asyncio

    import aiosmtplib

    client = smtp_client(smtp)
    ep = smtp_endpoint(smtp)
    try:
        await client.connect()
    except aiosmtplib.SMTPException as err:
        if "starttls extension not supported" in str(err).lower():
            raise no_starttls(ep) from err
        raise _translated(err, ep) from err
    except (OSError, asyncio.TimeoutError) as err:
        raise _translated(err, ep) from err
    try:
        auth = smtp.auth_mode
        if auth == "password":
            await client.login(smtp.user, smtp.password)
        elif auth == "oauth2":
            from bot.intake.oauth2 import token_source

            source = token_source(_required(oauth2), smtp.user)
            token = await asyncio.to_thread(source.token)
            try:
                await client.auth_xoauth2(smtp.user, token)
            except aiosmtplib.SMTPAuthenticationError:
                source.invalidate(token)
                raise
    except BaseException:
        client.close()
        raise
    return client


def _required(oauth2: OAuth2Config | None) -> OAuth2Config:
    if oauth2 is None:
        raise ValueError("auth = \"oauth2\" without [oauth2] settings")  # a programming error
    return oauth2


def smtplib_connect(smtp: SmtpConfig, *, timeout: float) -> tuple[smtplib.SMTP, list[str]]:
    """The same with the stdlib client, for the probes (no mail is sent): (client, steps done)."""
    import smtplib

    ep = smtp_endpoint(smtp)
    ep = Endpoint(ep.section, ep.host, ep.port, ep.security, min(smtp.timeout, timeout))
    context = tls_context(smtp.ca_file) if ep.security != PLAIN else None
    steps: list[str] = []
    try:
        if ep.security == TLS:
            client: smtplib.SMTP = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=ep.timeout, context=context)
            steps.append("TLS")
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=ep.timeout)
        client.ehlo()
        steps.append("EHLO")
        if ep.security == STARTTLS:
            if not client.has_extn("starttls"):
                client.close()
                raise no_starttls(ep)
            client.starttls(context=context)
            client.ehlo()
            steps.append("STARTTLS")
    except (OSError, smtplib.SMTPException) as err:
        raise _translated(err, ep) from err
    return client, steps


def smtplib_login(client: smtplib.SMTP, smtp: SmtpConfig, oauth2: OAuth2Config | None) -> str | None:
    """Log the probe's stdlib client in as ``auth`` says; the step's label, None for "none"."""
    auth = smtp.auth_mode
    if auth == "password":
        client.login(smtp.user, smtp.password)
        return f"AUTH（{smtp.user}）"
    if auth != "oauth2":
        return None
    import smtplib

    from bot.intake.oauth2 import token_source, xoauth2

    source = token_source(_required(oauth2), smtp.user)
    token = source.token()
    initial = xoauth2(smtp.user, token)
    client.ehlo_or_helo_if_needed()
    try:
        # On a refused token the server sends a JSON challenge; an empty answer ends the exchange.
        client.auth("XOAUTH2", lambda challenge=None: initial if challenge is None else "")
    except smtplib.SMTPAuthenticationError:
        source.invalidate(token)
        raise
    return f"AUTH XOAUTH2（{smtp.user}）"
