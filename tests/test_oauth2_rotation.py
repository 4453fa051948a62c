"""OAuth2 over time (issue 22, point 1): a rotated refresh token outlives a restart, and a
long-running IMAP session whose held token the server stops accepting logs in again at once
with a fresh one.

Real components throughout: msal against the local token endpoint (tests/support/token_server.py,
which, like Microsoft, rotates the refresh token at every refresh and here accepts only the
newest), a real Dovecot whose ``oauth2`` passdb asks that server's introspection endpoint about
every token, and the intake's own watch loop."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import ConfigError, OAuth2Config, load_config
from bot.intake import IntakeLoginError, Mailbox, MailboxSettings, watch
from bot.intake.oauth2 import TokenSource
from tests.support.certs import Issued, TestCa
from tests.support.dovecot_secure import SecureDovecot
from tests.support.mailbuilder import build_mail
from tests.support.tls_fixtures import ca, cert, tokens  # noqa: F401 (fixtures)
from tests.support.token_server import TokenServer

USER = "usen_spot@usen-spot.example.jp"
REPO = Path(__file__).resolve().parents[1]




@pytest.fixture
def imap(tokens: TokenServer, cert: Issued, ca: TestCa) -> Iterator[SecureDovecot]:
    with SecureDovecot(cert=cert, ca_file=ca.ca_file, ssl_mode="required", user=USER,
                       oauth2_introspection=tokens.introspect_url) as server:
        yield server


def microsoft(tokens: TokenServer, *, state: Path | None = None, refresh_token: str = "") -> OAuth2Config:
    return OAuth2Config(provider="microsoft", tenant=tokens.tenant, client_id=tokens.client_id,
                        refresh_token=refresh_token or tokens.refresh_token, token_url=tokens.microsoft_token_url,
                        refresh_token_file=str(state) if state else "")


def stored(state: Path) -> str:
    return str(json.loads(state.read_text())["refresh_token"])


# --------------------------------------------------------------------------- the refresh token


def test_a_rotated_refresh_token_is_used_by_the_next_process(tokens: TokenServer, ca: TestCa, tmp_path: Path) -> None:
    """Given a Microsoft refresh token in the env file and a refresh_token_file, when the bot
    refreshes (Microsoft answers with a new refresh token, and this server then accepts only the
    new one), then a bot process started afterwards refreshes with the newest token, not the env's."""
    (tmp_path / "state").mkdir()
    state = tmp_path / "state" / "oauth2-refresh-token.json"
    assert TokenSource(microsoft(tokens, state=state), USER).token()
    assert tokens.refresh_token == "rt-2" and stored(state) == "rt-2"
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert sorted(p.name for p in state.parent.iterdir()) == [state.name]  # written in one rename, nothing left
    assert "rt-1" not in state.read_text()  # the configured token is only named by its hash
    config = tmp_path / "config.toml"
    config.write_text(f'[mailbox]\nhost = "127.0.0.1"\nuser = "{USER}"\nauth = "oauth2"\n'
                      f'[oauth2]\nprovider = "microsoft"\ntenant = "{tokens.tenant}"\nclient_id = "{tokens.client_id}"\n'
                      f'token_url = "{tokens.microsoft_token_url}"\nrefresh_token_file = "{state}"\n')
    restart = ("import sys\nfrom bot.config import load_config\nfrom bot.intake.oauth2 import TokenSource\n"
               "cfg = load_config(sys.argv[1])\nprint(TokenSource(cfg.oauth2, cfg.mailbox.user).token())\n")
    env = {**os.environ, "BOT_OAUTH2_REFRESH_TOKEN": "rt-1", "REQUESTS_CA_BUNDLE": str(ca.ca_file)}
    done = subprocess.run([sys.executable, "-c", restart, str(config)], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert tokens.active(done.stdout.strip()) is not None
    assert tokens.grants["microsoft:refresh_token"] == 2 and tokens.refused == []
    assert tokens.refresh_token == "rt-3" and stored(state) == "rt-3"  # and the next start has that one


def test_without_the_file_a_restart_falls_back_to_the_configured_token(tokens: TokenServer) -> None:
    """The failure the file prevents (this server, unlike Microsoft, refuses a superseded token
    at once): the same two starts without refresh_token_file."""
    TokenSource(microsoft(tokens), USER).token()
    with pytest.raises(Exception, match="invalid_grant"):
        TokenSource(microsoft(tokens, refresh_token="rt-1"), USER).token()


def test_a_new_configured_token_wins_over_the_file(tokens: TokenServer, tmp_path: Path) -> None:
    """Given a file holding the successor of a token the admin has since replaced (revoked,
    re-consented), when the bot starts with the new token, then it uses the new one and the file
    follows its line from then on."""
    state = tmp_path / "oauth2-refresh-token.json"
    TokenSource(microsoft(tokens, state=state), USER).token()
    assert stored(state) == "rt-2"
    tokens.refresh_token = "rt-new"  # the admin signed in again: only this one is valid now
    assert TokenSource(microsoft(tokens, state=state, refresh_token="rt-new"), USER).token()
    assert tokens.refused == [] and stored(state) == tokens.refresh_token == "rt-3"


def test_the_file_must_be_the_bots_alone(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    state = tmp_path / "oauth2-refresh-token.json"
    config.write_text('[mailbox]\nhost = "outlook.office365.com"\nport = 993\nauth = "oauth2"\n'
                      '[oauth2]\nprovider = "microsoft"\ntenant = "contoso"\nclient_id = "app"\n'
                      f'refresh_token_file = "{state}"\n')
    env = {"BOT_OAUTH2_REFRESH_TOKEN": "rt-1"}
    assert load_config(config, env=env).oauth2.refresh_token_file == str(state)  # not there yet: made at rotation
    state.write_text("{}")
    state.chmod(0o644)
    with pytest.raises(ConfigError) as caught:
        load_config(config, env=env)
    assert "[oauth2] refresh_token_file" in str(caught.value) and f"chmod 600 {state}" in str(caught.value)
    state.chmod(0o600)
    assert load_config(config, env=env)
    with pytest.raises(ConfigError, match=r"\[oauth2\] refresh_token_file: .*no such folder"):
        load_config(config, env={**env, "BOT_OAUTH2_REFRESH_TOKEN_FILE": str(tmp_path / "missing" / "rt.json")})


# --------------------------------------------------------------------------- the long session


def settings(server: SecureDovecot, ca: TestCa, oauth2: OAuth2Config) -> MailboxSettings:
    return MailboxSettings(host=server.host, port=server.tls_port, user=USER, password="", ssl=False, security="tls",
                           ca_file=str(ca.ca_file), timeout=5.0, auth="oauth2", oauth2=oauth2)


def client_credentials(tokens: TokenServer) -> OAuth2Config:
    return OAuth2Config(provider="microsoft", tenant=tokens.tenant, client_id=tokens.client_id,
                        client_secret=tokens.client_secret, token_url=tokens.microsoft_token_url)


def wait_until(condition: object, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_dropped_session_whose_token_went_stale_logs_in_again_at_once(tokens: TokenServer, imap: SecureDovecot,
                                                                        ca: TestCa) -> None:
    """Given the intake in IDLE for a while with a token it holds, when the server ends the
    session and no longer accepts that token (revoked, or expired with the session, as Microsoft
    365 does), then the reconnect fetches a fresh token and logs in with it in the same attempt:
    no login refusal reported, the next mail handled, one token fetched for it."""
    seen: list[int] = []
    states: list[str | None] = []
    stop = threading.Event()

    def handle(box: Mailbox) -> None:
        seen[:] = box.list_uids()

    loop = threading.Thread(target=watch, args=(settings(imap, ca, client_credentials(tokens)), handle),
                            kwargs={"stop": stop, "backoff_initial": 0.1, "wait_timeout": 0.5,
                                    "on_state": states.append}, daemon=True)
    loop.start()
    try:
        wait_until(lambda: None in states)  # the first pass ran
        first = list(tokens.tokens)
        assert len(first) == 1
        tokens.revoke_all()  # the introspection endpoint now answers "active": false for it
        imap.stop()  # the session ends (a server drops it; Dovecot killed and started again here)
        imap.start()
        imap.append(build_mail())
        wait_until(lambda: len(seen) == 1)
    finally:
        stop.set()
        loop.join(timeout=20)
    problems = [s for s in states if s]
    assert problems and all("refused" not in s and "拒否" not in s for s in problems), problems
    assert tokens.grants["microsoft:client_credentials"] == 2  # the first token and exactly one fresh one
    assert first[0] in tokens.introspections  # Dovecot did ask about the stale token, and was told no
    logins = [line for line in imap.log_tail(400).splitlines() if "Login: user=" in line]
    assert f"user=<{USER}>, method=XOAUTH2" in logins[-1]


def test_a_token_refused_right_after_it_was_fetched_is_not_fetched_again(tokens: TokenServer, imap: SecureDovecot,
                                                                         ca: TestCa) -> None:
    """The renewal is once per login, and only for a token held from before: a fresh token the
    server refuses is the credentials' fault (here: granted for another mailbox), said at once."""
    tokens.user = "someone-else@usen-spot.example.jp"
    with pytest.raises(IntakeLoginError):
        Mailbox(settings(imap, ca, client_credentials(tokens))).connect()
    assert tokens.grants["microsoft:client_credentials"] == 1


def test_a_held_token_refused_is_renewed_once_not_in_a_loop(tokens: TokenServer, imap: SecureDovecot,
                                                            ca: TestCa) -> None:
    oauth2 = client_credentials(tokens)
    with Mailbox(settings(imap, ca, oauth2)):
        pass
    tokens.revoke_all()
    tokens.user = "someone-else@usen-spot.example.jp"  # and the fresh one is refused too
    with pytest.raises(IntakeLoginError):
        Mailbox(settings(imap, ca, oauth2)).connect()
    assert tokens.grants["microsoft:client_credentials"] == 2
