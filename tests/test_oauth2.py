"""OAuth2 logins (issue 22, point 1): a real Dovecot whose ``oauth2`` passdb asks a loopback
introspection endpoint about every token, aiosmtpd checking XOAUTH2 tokens, and a local token
endpoint speaking Microsoft's, Google's and plain RFC 6749's protocol (tests/support/token_server.py),
all over TLS with a CA made in the test. The token exchange is msal's and google-auth's, for real."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ssl
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError
from sqlalchemy.orm import Session, sessionmaker

from bot import db
from bot.actions import outbox
from bot.commands.check import run_checks
from bot.config import Config, ConfigError, OAuth2Config, SmtpConfig, load_config
from bot.daemon import startup
from bot.intake import Mailbox, MailboxSettings
from bot.intake.oauth2 import TokenSource
from tests.support.app import make_config
from tests.support.certs import Issued, TestCa
from tests.support.dovecot_secure import SecureDovecot
from tests.support.mailbuilder import build_mail
from tests.support.smtp_secure import SecureSmtp
from tests.support.tls_fixtures import ca, cert, tokens  # noqa: F401 (fixtures)
from tests.support.token_server import TokenServer

USER = "usen_spot@usen-spot.example.jp"
NOW = dt.datetime(2026, 11, 24, 1, 0, tzinfo=dt.UTC)


@pytest.fixture
def imap(tokens: TokenServer, cert: Issued, ca: TestCa) -> Iterator[SecureDovecot]:
    with SecureDovecot(cert=cert, ca_file=ca.ca_file, ssl_mode="required", user=USER,
                       oauth2_introspection=tokens.introspect_url) as server:
        yield server


def provider_config(tokens: TokenServer, kind: str, tmp_path: Path) -> OAuth2Config:
    t = tokens
    if kind == "microsoft-client-credentials":
        return OAuth2Config(provider="microsoft", tenant=t.tenant, client_id=t.client_id, client_secret=t.client_secret,
                            token_url=t.microsoft_token_url)
    if kind == "microsoft-refresh-token":
        return OAuth2Config(provider="microsoft", tenant=t.tenant, client_id=t.client_id, refresh_token=t.refresh_token,
                            token_url=t.microsoft_token_url)
    if kind == "google-service-account":
        key = t.write_service_account(tmp_path / "service-account.json")
        return OAuth2Config(provider="google", service_account_file=str(key), token_url=t.google_token_url)
    if kind == "google-refresh-token":
        return OAuth2Config(provider="google", client_id=t.client_id, client_secret=t.client_secret,
                            refresh_token=t.refresh_token, token_url=t.google_token_url)
    if kind == "generic-client-credentials":
        return OAuth2Config(provider="generic", client_id=t.client_id, client_secret=t.client_secret,
                            token_url=t.generic_token_url)
    raise AssertionError(kind)


def imap_settings(server: SecureDovecot, ca: TestCa, oauth2: OAuth2Config, *, tls: bool = True) -> MailboxSettings:
    return MailboxSettings(host=server.host, port=server.tls_port if tls else server.port, user=USER, password="",
                           ssl=False, security="tls" if tls else "starttls", ca_file=str(ca.ca_file), timeout=5.0,
                           auth="oauth2", oauth2=oauth2)


def xoauth_logins(server: SecureDovecot) -> list[str]:
    return [line for line in server.log_tail(300).splitlines() if "Login: user=" in line]


GRANTS = {
    "microsoft-client-credentials": "microsoft:client_credentials",
    "microsoft-refresh-token": "microsoft:refresh_token",
    "google-service-account": "google:urn:ietf:params:oauth:grant-type:jwt-bearer",
    "google-refresh-token": "google:refresh_token",
    "generic-client-credentials": "generic:client_credentials",
}


@pytest.mark.parametrize("kind", list(GRANTS))
def test_each_provider_logs_in_to_dovecot_with_xoauth2(kind: str, tokens: TokenServer, imap: SecureDovecot,
                                                       ca: TestCa, tmp_path: Path) -> None:
    imap.append(build_mail())
    with Mailbox(imap_settings(imap, ca, provider_config(tokens, kind, tmp_path))) as box:
        assert len(list(box.fetch(box.list_uids()))) == 1
    assert dict(tokens.grants) == {GRANTS[kind]: 1} and tokens.refused == []
    # Dovecot asked the introspection endpoint about the very token the token endpoint issued.
    assert tokens.introspections == list(tokens.tokens)
    assert f"user=<{USER}>, method=XOAUTH2" in xoauth_logins(imap)[-1] and ", TLS," in xoauth_logins(imap)[-1]


def test_oauthbearer_where_the_server_offers_only_that(tokens: TokenServer, cert: Issued, ca: TestCa,
                                                       tmp_path: Path) -> None:
    with SecureDovecot(cert=cert, ca_file=ca.ca_file, user=USER, oauth2_introspection=tokens.introspect_url,
                       mechanisms=("oauthbearer",)) as server:
        oauth2 = provider_config(tokens, "generic-client-credentials", tmp_path)
        with Mailbox(imap_settings(server, ca, oauth2, tls=False)):  # STARTTLS on the plain port
            pass
        assert "method=OAUTHBEARER" in xoauth_logins(server)[-1] and ", TLS," in xoauth_logins(server)[-1]


def test_the_token_is_refreshed_before_it_expires(tokens: TokenServer, imap: SecureDovecot, ca: TestCa,
                                                  tmp_path: Path) -> None:
    tokens.lifetime = 3  # seconds; refreshed half-way (a real one: 4 minutes before its hour is up)
    source = TokenSource(provider_config(tokens, "microsoft-client-credentials", tmp_path), USER)
    first = source.token()
    assert source.token() == first and source.fetches == 1  # kept while fresh: no request
    time.sleep(1.7)
    second = source.token()
    assert second != first and source.fetches == 2
    assert tokens.active(first) is not None  # the old one had not expired yet: refreshed before, not after
    time.sleep(1.5)
    assert tokens.active(first) is None  # now it has; the server would refuse it, the new one works:
    context = ssl.create_default_context(cafile=str(ca.ca_file))
    for token, works in ((first, False), (second, True)):
        client = IMAPClient(imap.host, port=imap.tls_port, ssl=True, ssl_context=context, timeout=5)
        try:
            if works:
                client.oauth2_login(USER, token)
            else:
                with pytest.raises(LoginError):
                    client.oauth2_login(USER, token)
        finally:
            client.shutdown()


def test_a_refused_token_is_dropped_and_the_next_login_fetches_a_new_one(tokens: TokenServer, imap: SecureDovecot,
                                                                          ca: TestCa, tmp_path: Path) -> None:
    settings = imap_settings(imap, ca, provider_config(tokens, "microsoft-refresh-token", tmp_path))
    with Mailbox(settings):
        pass
    tokens.revoke_all()  # e.g. the admin revoked the sessions, or the server restarted
    with Mailbox(settings):  # the held token refused: a fresh one, in the same login (test_oauth2_rotation.py)
        pass
    # Microsoft rotated the refresh token at the first refresh; the second used the new one.
    assert tokens.grants["microsoft:refresh_token"] == 2 and tokens.refused == [] and tokens.refresh_token == "rt-3"
    assert len(tokens.introspections) == 3  # the first token, the same one refused, the fresh one


def test_refusals_are_one_line_naming_the_key(tokens: TokenServer, imap: SecureDovecot, ca: TestCa,
                                              tmp_path: Path) -> None:
    wrong_secret = dataclasses.replace(provider_config(tokens, "microsoft-client-credentials", tmp_path),
                                       client_secret="expired-secret")
    probe = startup.imap_probe(imap_settings(imap, ca, wrong_secret), oldest=False)
    assert probe.outcome == startup.REFUSED and "BOT_OAUTH2_CLIENT_SECRET" in probe.detail, probe
    assert "invalid_client" in probe.detail and "\n" not in probe.detail
    tokens.user = "someone-else@usen-spot.example.jp"  # delegation granted for another mailbox only
    probe = startup.imap_probe(imap_settings(imap, ca, provider_config(tokens, "google-service-account", tmp_path)),
                               oldest=False)
    assert probe.outcome == startup.REFUSED and "ドメイン全体の委任" in probe.detail, probe
    assert xoauth_logins(imap) == []


# --------------------------------------------------------------------------- SMTP


def message() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = USER
    msg["To"] = "uchida@aoyama.usen.co.jp"
    msg["Subject"] = "Re: USEN SPOT 器材発注依頼_988776654"
    msg["Message-ID"] = outbox.new_message_id(USER)
    msg.set_content("差戻のお知らせ", charset="utf-8")
    return msg


def test_the_outbox_sends_with_xoauth2_and_retries_with_a_new_token(factory: sessionmaker[Session],
                                                                    tokens: TokenServer, cert: Issued,
                                                                    ca: TestCa, tmp_path: Path) -> None:
    oauth2 = provider_config(tokens, "google-refresh-token", tmp_path)

    def check(user: str, token: str) -> bool:
        found = tokens.active(token)
        return found is not None and found.user == user

    with SecureSmtp(cert, mode="starttls", check_token=check) as server:
        smtp = dataclasses.replace(SmtpConfig(), host=server.host, port=server.port, timeout=5.0, security="starttls",
                                   ca_file=str(ca.ca_file), user=USER, auth="oauth2")
        with db.transaction(factory) as s:
            outbox.enqueue(s, message(), purpose="reply", now=NOW)
        first = outbox.flush(factory, smtp, now=NOW, oauth2=oauth2)
        assert first.sent == 1 and server.logins == [("XOAUTH2", USER, True)]
        tokens.revoke_all()
        with db.transaction(factory) as s:
            outbox.enqueue(s, message(), purpose="reply", now=NOW)
        refused = outbox.flush(factory, smtp, now=NOW, oauth2=oauth2)
        assert refused.sent == 0 and server.logins[-1] == ("XOAUTH2", USER, False)
        with factory() as s:  # the mail waits, its attempts not counted (the login failed, not the mail)
            waiting = s.get(outbox.OutboxMessage, 2)
            assert waiting is not None and waiting.status == outbox.PENDING and waiting.attempts == 0
        again = outbox.flush(factory, smtp, now=NOW + dt.timedelta(minutes=5), oauth2=oauth2)
        assert again.sent == 1 and len(server.messages) == 2 and server.logins[-1] == ("XOAUTH2", USER, True)
        assert tokens.grants["google:refresh_token"] == 2


# --------------------------------------------------------------------------- config and bot check


def test_secrets_only_from_the_environment_or_a_file_the_bot_alone_reads(tmp_path: Path, tokens: TokenServer) -> None:
    key = tokens.write_service_account(tmp_path / "sa.json")
    config = tmp_path / "config.toml"
    config.write_text(f'[mailbox]\nhost = "imap.gmail.com"\nport = 993\nuser = "{USER}"\nauth = "oauth2"\n'
                      f'[oauth2]\nprovider = "google"\nservice_account_file = "{key}"\n')
    config.chmod(0o640)
    assert load_config(config, env={}).oauth2.service_account_file == str(key)
    key.chmod(0o640)
    with pytest.raises(ConfigError) as caught:
        load_config(config, env={})
    assert "[oauth2] service_account_file" in str(caught.value) and f"chmod 600 {key}" in str(caught.value)
    assert "ほかのユーザーにも読める" in str(caught.value)
    key.chmod(0o600)
    config.write_text('[mailbox]\nhost = "outlook.office365.com"\nport = 993\nauth = "oauth2"\n'
                      '[oauth2]\nprovider = "microsoft"\ntenant = "contoso"\nclient_id = "app"\n'
                      'client_secret = "in-the-file"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(config, env={})
    assert "[oauth2] client_secret" in str(caught.value) and "BOT_OAUTH2_CLIENT_SECRET" in str(caught.value)
    config.chmod(0o600)  # readable by the bot alone: accepted
    assert load_config(config, env={}).oauth2.client_secret == "in-the-file"
    config.chmod(0o640)
    config.write_text(config.read_text().replace('client_secret = "in-the-file"\n', ""))
    cfg = load_config(config, env={"BOT_OAUTH2_CLIENT_SECRET": "from-env"})
    assert cfg.oauth2.client_secret == "from-env" and "from-env" not in repr(cfg)
    with pytest.raises(ConfigError, match=r"\[oauth2\] client_secret"):
        load_config(config, env={})  # client credentials without a secret
    config.write_text(config.read_text() + 'token_url = "https://login.example/contoso/token"\n')
    with pytest.raises(ConfigError, match=r"\[oauth2\] token_url"):
        load_config(config, env={"BOT_OAUTH2_CLIENT_SECRET": "from-env"})


def test_bot_check_fetches_the_token_and_logs_in_to_both_servers(sqlite_url: str, tokens: TokenServer,
                                                                 imap: SecureDovecot, cert: Issued, ca: TestCa,
                                                                 tmp_path: Path) -> None:
    def check(user: str, token: str) -> bool:
        return tokens.active(token) is not None

    with SecureSmtp(cert, mode="tls", check_token=check) as server:
        cfg: Config = make_config(sqlite_url, host=imap.host, port=imap.tls_port, user=USER, security="tls",
                                  ca_file=str(ca.ca_file), auth="oauth2")
        cfg = cfg.replace(smtp=dataclasses.replace(SmtpConfig(), host=server.host, port=server.port, timeout=5.0,
                                                   security="tls", ca_file=str(ca.ca_file), user=USER, auth="oauth2"),
                          oauth2=provider_config(tokens, "microsoft-client-credentials", tmp_path))
        got = {r.what: r for r in run_checks(cfg)}
        assert got["OAuth2"].ok and "クライアント資格情報" in got["OAuth2"].found, got["OAuth2"].line()
        assert got["IMAP"].ok and "OAuth2" in got["IMAP"].found, got["IMAP"].line()
        assert got["SMTP"].ok and "AUTH XOAUTH2" in got["SMTP"].found, got["SMTP"].line()
        assert tokens.grants["microsoft:client_credentials"] == 1  # one token for the three checks
        assert server.messages == []
        bad = cfg.replace(oauth2=dataclasses.replace(cfg.oauth2, client_secret="wrong"))
        got = {r.what: r for r in run_checks(bad)}
        assert not got["OAuth2"].ok and "BOT_OAUTH2_CLIENT_SECRET" in got["OAuth2"].line()
        assert not got["IMAP"].ok and not got["SMTP"].ok


def test_bot_run_refuses_to_start_on_a_refused_token(sqlite_url: str, tokens: TokenServer, imap: SecureDovecot,
                                                      ca: TestCa, tmp_path: Path) -> None:
    from bot.daemon.main import mailbox_settings

    cfg = make_config(sqlite_url, host=imap.host, port=imap.tls_port, user=USER, security="tls",
                      ca_file=str(ca.ca_file), auth="oauth2")
    cfg = cfg.replace(oauth2=dataclasses.replace(provider_config(tokens, "microsoft-refresh-token", tmp_path),
                                                 refresh_token="revoked"))
    factory = db.session_factory(db.make_engine(sqlite_url))
    with pytest.raises(ConfigError) as caught:
        startup.refuse_wrong_credentials(cfg, factory, mailbox_settings(cfg))
    assert "[oauth2]" in str(caught.value) and "BOT_OAUTH2_REFRESH_TOKEN" in str(caught.value)
