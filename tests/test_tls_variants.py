"""Every TLS variant of the two mail servers (issue 22, point 2), against a real Dovecot and real
aiosmtpd servers whose certificates come from a CA made in the test: IMAP 993-style implicit TLS
and 143-style STARTTLS, SMTP 465 and 587; ``ca_file`` per server; the host name always
verified; a TLS setting that does not fit the port told in one Japanese line naming the key."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot import db
from bot.actions import outbox
from bot.commands.check import run_checks
from bot.config import Config, ConfigError, MailboxConfig, SmtpConfig, load_config
from bot.daemon import startup
from bot.db.models import OutboxMessage
from bot.intake import IntakeConnectionError, IntakeTlsError, Mailbox, MailboxSettings
from tests.support.app import make_config
from tests.support.certs import Issued, TestCa
from tests.support.dovecot import Dovecot
from tests.support.dovecot_secure import SecureDovecot
from tests.support.mailbuilder import build_mail
from tests.support.smtp_secure import SecureSmtp
from tests.support.tls_fixtures import ca, cert  # noqa: F401 (fixtures)

NOW = dt.datetime(2026, 11, 24, 1, 0, tzinfo=dt.UTC)
USER = "usen_spot"


@pytest.fixture
def imap(ca: TestCa, cert: Issued) -> Iterator[SecureDovecot]:
    with SecureDovecot(cert=cert, ca_file=ca.ca_file, user=USER) as server:
        yield server


def settings(server: Dovecot, *, port: int, security: str, ca_file: Path | str = "", **kw: object) -> MailboxSettings:
    return MailboxSettings(host=server.host, port=port, user=server.user, password=server.password, ssl=False,
                           security=security, ca_file=str(ca_file), timeout=kw.pop("timeout", 5.0), **kw)  # type: ignore[arg-type]


def logins(server: Dovecot) -> list[str]:
    return [line for line in server.log_tail(200).splitlines() if "Login: user=" in line]


def one_line(text: str) -> str:
    assert "\n" not in text, text
    return text


# --------------------------------------------------------------------------- IMAP


def test_imap_implicit_tls_reads_the_inbox_and_dovecot_saw_tls(imap: SecureDovecot, ca: TestCa) -> None:
    imap.append(build_mail(subject="USEN SPOT 器材発注依頼_988776654"))
    with Mailbox(settings(imap, port=imap.tls_port, security="tls", ca_file=ca.ca_file)) as box:
        assert len(list(box.fetch(box.list_uids()))) == 1
    mine = logins(imap)[-1]
    assert "method=PLAIN" in mine or "method=LOGIN" in mine
    assert ", TLS," in mine, mine


def test_imap_starttls_upgrades_before_the_password_is_sent(imap: SecureDovecot, ca: TestCa) -> None:
    with Mailbox(settings(imap, port=imap.port, security="starttls", ca_file=ca.ca_file)) as box:
        assert box.list_uids() == []
    # Dovecot writes "TLS" for a login over STARTTLS, "secured" for plaintext from loopback.
    assert ", TLS," in logins(imap)[-1], logins(imap)
    # The same server and port with "plain": no TLS at all (the control for the line above).
    with Mailbox(settings(imap, port=imap.port, security="plain")):
        pass
    assert ", TLS," not in logins(imap)[-1] and "secured" in logins(imap)[-1]


def test_starttls_required_a_server_without_it_gets_no_password(dovecot: Dovecot) -> None:
    with pytest.raises(IntakeTlsError) as caught:
        Mailbox(settings(dovecot, port=dovecot.port, security="starttls")).connect()
    line = one_line(str(caught.value))
    assert "STARTTLS に対応していません" in line and '[mailbox] security = "tls"' in line, line
    assert logins(dovecot) == [] and "method=" not in dovecot.log_tail(200)  # no login was tried


def test_tls_on_the_plain_port_is_one_line_naming_port_and_security(imap: SecureDovecot, ca: TestCa) -> None:
    with pytest.raises(IntakeTlsError) as caught:
        Mailbox(settings(imap, port=imap.port, security="tls", ca_file=ca.ca_file)).connect()
    line = one_line(str(caught.value))
    assert "WRONG_VERSION_NUMBER" in line and "TLS で応答しません" in line, line
    assert "[mailbox] port = 993" in line and 'security = "starttls"' in line, line


def test_plain_on_the_tls_port_says_it_may_be_a_tls_port(imap: SecureDovecot) -> None:
    started = time.monotonic()
    with pytest.raises(IntakeConnectionError) as caught:
        Mailbox(settings(imap, port=imap.tls_port, security="plain", timeout=2.0)).connect()
    assert time.monotonic() - started < 10
    line = one_line(str(caught.value))
    assert "あいさつがありません" in line and '[mailbox] security = "tls"' in line, line
    # Silence may also be a hung server: retried by the daemon, not a config error (exit 2).
    assert not isinstance(caught.value, IntakeTlsError)


def test_an_unknown_ca_is_refused_and_the_message_names_ca_file(imap: SecureDovecot) -> None:
    probe = startup.imap_probe(settings(imap, port=imap.tls_port, security="tls"), oldest=False)
    assert probe.outcome == startup.TLS
    assert "CERTIFICATE_VERIFY_FAILED" in probe.detail and "[mailbox] ca_file" in one_line(probe.detail)
    assert logins(imap) == []


def test_the_host_name_is_verified_even_with_the_right_ca(ca: TestCa) -> None:
    other = ca.issue("other", names=("mail.example.test",))
    with SecureDovecot(cert=other, ca_file=ca.ca_file, user=USER) as server:
        probe = startup.imap_probe(settings(server, port=server.tls_port, security="tls", ca_file=ca.ca_file),
                                   oldest=False)
        assert probe.outcome == startup.TLS, probe
        line = one_line(probe.detail)
        assert "mismatch" in line and '[mailbox] host = "127.0.0.1"' in line, line
        # STARTTLS verifies the name too.
        probe = startup.imap_probe(settings(server, port=server.port, security="starttls", ca_file=ca.ca_file),
                                   oldest=False)
        assert probe.outcome == startup.TLS and "mismatch" in probe.detail
        assert logins(server) == []


# --------------------------------------------------------------------------- SMTP


def message() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "usen_spot@mx.usen.co.jp"
    msg["To"] = "uchida@aoyama.usen.co.jp"
    msg["Subject"] = "Re: USEN SPOT 器材発注依頼_988776654"
    msg["Message-ID"] = outbox.new_message_id("usen_spot@mx.usen.co.jp")
    msg.set_content("差戻のお知らせ", charset="utf-8")
    return msg


def queue(factory: sessionmaker[Session]) -> int:
    with db.transaction(factory) as s:
        return outbox.enqueue(s, message(), purpose="reply", now=NOW).id


def row(factory: sessionmaker[Session], row_id: int) -> OutboxMessage:
    with factory() as s:
        found = s.get(OutboxMessage, row_id)
        assert found is not None
        return found


def smtp(server: SecureSmtp, **kw: object) -> SmtpConfig:
    return dataclasses.replace(SmtpConfig(), host=server.host, port=server.port, timeout=3.0, **kw)


@pytest.mark.parametrize("mode", ["tls", "starttls"])
def test_the_outbox_sends_over_465_and_587_with_auth(factory: sessionmaker[Session], ca: TestCa, cert: Issued,
                                                     mode: str) -> None:
    # The starttls server refuses MAIL and AUTH before STARTTLS: a delivery proves TLS was on.
    with SecureSmtp(cert, mode=mode, password="smtp-pass") as server:
        row_id = queue(factory)
        result = outbox.flush(factory, smtp(server, security=mode, ca_file=str(ca.ca_file), user="bot",
                                            password="smtp-pass"), now=NOW)
        assert (result.sent, result.failed) == (1, 0), row(factory, row_id).last_error
        assert len(server.messages) == 1 and server.logins == [("PLAIN", "bot", True)]


def test_smtp_starttls_required_a_server_without_it_gets_nothing(factory: sessionmaker[Session], ca: TestCa,
                                                                 cert: Issued) -> None:
    with SecureSmtp(cert, mode="plain", password="smtp-pass") as server:
        row_id = queue(factory)
        result = outbox.flush(factory, smtp(server, security="starttls", ca_file=str(ca.ca_file), user="bot",
                                            password="smtp-pass"), now=NOW)
        assert result.sent == 0 and server.messages == [] and server.logins == []
        waiting = row(factory, row_id)
        assert waiting.status == outbox.PENDING and waiting.attempts == 0  # the mail waits, not counted
        assert "[smtp] security" in (waiting.last_error or "") and "STARTTLS" in (waiting.last_error or "")


def test_smtp_tls_on_a_plain_port_and_plain_on_a_tls_port(ca: TestCa, cert: Issued) -> None:
    with SecureSmtp(cert, mode="starttls") as plain_port, SecureSmtp(cert, mode="tls") as tls_port:
        wrong = startup.smtp_probe(Config(smtp=smtp(plain_port, security="tls", ca_file=str(ca.ca_file))))
        assert wrong.outcome == startup.TLS
        assert "[smtp] port = 465" in one_line(wrong.detail) and "WRONG_VERSION_NUMBER" in wrong.detail
        silent = startup.smtp_probe(Config(smtp=smtp(tls_port, security="starttls", ca_file=str(ca.ca_file))))
        assert silent.outcome == startup.AWAY and '[smtp] security = "tls"' in one_line(silent.detail)
        unknown_ca = startup.smtp_probe(Config(smtp=smtp(tls_port, security="tls")))
        assert unknown_ca.outcome == startup.TLS and "[smtp] ca_file" in unknown_ca.detail
        right = startup.smtp_probe(Config(smtp=smtp(tls_port, security="tls", ca_file=str(ca.ca_file))))
        assert right.outcome == startup.OK and right.steps == ("TLS", "EHLO")


# --------------------------------------------------------------------------- config, check, run


def test_security_is_derived_from_the_old_keys_the_port_and_the_host(tmp_path: Path) -> None:
    assert MailboxConfig().security_mode == "plain"  # 127.0.0.1:143, as before
    assert MailboxConfig(host="imap.example.co.jp").security_mode == "starttls"
    assert MailboxConfig(host="imap.example.co.jp", port=993).security_mode == "tls"
    assert MailboxConfig(host="imap.example.co.jp", ssl=True, port=10993).security_mode == "tls"
    assert SmtpConfig(host="smtp.example.co.jp", port=25).security_mode == "starttls"
    assert SmtpConfig(host="smtp.example.co.jp", port=465).security_mode == "tls"
    assert SmtpConfig(starttls=True).security_mode == "starttls"
    assert SmtpConfig(host="smtp.example.co.jp", security="plain").security_mode == "plain"
    path = tmp_path / "config.toml"
    path.write_text('[mailbox]\nssl = true\nsecurity = "starttls"\n')
    with pytest.raises(ConfigError, match=r"\[mailbox\] ssl = true"):
        load_config(path, env={})
    path.write_text('[smtp]\nsecurity = "ssl"\n')
    with pytest.raises(ConfigError, match=r"\[smtp\] security"):
        load_config(path, env={})
    path.write_text(f'[mailbox]\nca_file = "{tmp_path / "missing.pem"}"\n')
    with pytest.raises(ConfigError, match=r"\[mailbox\] ca_file"):
        load_config(path, env={})
    path.write_text('[mailbox]\nssl = true\n')
    assert load_config(path, env={}).mailbox.security_mode == "tls"


def test_bot_check_prints_the_tls_mismatch_and_passes_when_right(sqlite_url: str, imap: SecureDovecot,
                                                                 ca: TestCa, cert: Issued) -> None:
    with SecureSmtp(cert, mode="tls") as server:
        cfg = make_config(sqlite_url, host=imap.host, port=imap.port, user=imap.user, password=imap.password,
                          security="tls", ca_file=str(ca.ca_file))
        cfg = cfg.replace(smtp=smtp(server, security="starttls", ca_file=str(ca.ca_file)))
        got = {r.what: r for r in run_checks(cfg)}
        assert not got["IMAP"].ok and "[mailbox] port = 993" in one_line(got["IMAP"].line())
        assert not got["SMTP"].ok and '[smtp] security = "tls"' in one_line(got["SMTP"].line())
        cfg = cfg.replace(mailbox=dataclasses.replace(cfg.mailbox, port=imap.tls_port),
                          smtp=dataclasses.replace(cfg.smtp, security="tls"))
        got = {r.what: r for r in run_checks(cfg)}
        assert got["IMAP"].ok and "（tls）" in got["IMAP"].found, got["IMAP"].line()
        assert got["SMTP"].ok and "TLS / EHLO" in got["SMTP"].found, got["SMTP"].line()


def test_bot_run_stops_with_the_key_on_a_tls_mismatch(sqlite_url: str, imap: SecureDovecot, ca: TestCa) -> None:
    from bot.daemon.main import mailbox_settings

    cfg = make_config(sqlite_url, host=imap.host, port=imap.port, user=imap.user, password=imap.password,
                      security="tls", ca_file=str(ca.ca_file))
    factory = db.session_factory(db.make_engine(sqlite_url))
    with pytest.raises(ConfigError, match=r"\[mailbox\] port = 993"):
        startup.refuse_wrong_credentials(cfg, factory, mailbox_settings(cfg))
