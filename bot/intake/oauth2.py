"""OAuth2 access tokens for the mail servers (`auth = "oauth2"`, issue 22 point 1).

Microsoft 365 no longer takes passwords over IMAP/SMTP, and Google Workspace prefers tokens:
the bot logs in with SASL XOAUTH2 (OAUTHBEARER where only that is offered; bot/intake/connect.py)
and a bearer token from [oauth2]:

- ``microsoft``: msal. Client credentials (an Entra app with the Exchange ``IMAP.AccessAsApp``/
  ``SMTP.SendAsApp`` permissions and a service principal granted the mailbox; scope
  ``https://outlook.office365.com/.default``), or a refresh token of the mailbox account
  (delegated ``IMAP.AccessAsUser.All`` + ``SMTP.Send``). Microsoft rotates refresh tokens: the
  newest one it returned is used from then on, and kept across restarts in
  ``refresh_token_file`` (bot/intake/oauth2_store.py).
- ``google``: google-auth. A service account with domain-wide delegation acting as the mailbox
  user (``sub``), or a refresh token; scope ``https://mail.google.com/``.
- ``generic``: any RFC 6749 token endpoint (``token_url``), client credentials or a refresh
  token, through msal's generic OAuth2 client.
The token exchange itself is the libraries'; this module decides when to ask and what a refusal
means to the admin. A token is kept until ``REFRESH_MARGIN`` seconds (half its lifetime when
shorter) before it expires, then fetched anew; one the server refused is dropped at once, and a
login refused with a token held from before is tried once more with a fresh one (:meth:`TokenSource.renew`).
Secrets come from the environment or from files only the bot's user can read (:func:`validate`).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import stat
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.domain.config_error import ConfigError
from bot.intake.oauth2_store import RefreshTokenStore

if TYPE_CHECKING:
    from bot.config import Config, OAuth2Config

log = logging.getLogger("bot.intake.oauth2")

PROVIDERS = ("microsoft", "google", "generic")
MICROSOFT_AUTHORITY = "https://login.microsoftonline.com"
MICROSOFT_TOKEN_PATH = "/oauth2/v2.0/token"
MICROSOFT_APP_SCOPES = ("https://outlook.office365.com/.default",)
MICROSOFT_USER_SCOPES = ("https://outlook.office.com/IMAP.AccessAsUser.All", "https://outlook.office.com/SMTP.Send")
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
GOOGLE_SCOPES = ("https://mail.google.com/",)
# msal serves a cached token until 5 minutes before its expiry: asking at 4 minutes always
# gets a new one, and leaves the IMAP/SMTP login minutes of validity.
REFRESH_MARGIN = 240.0
HTTP_TIMEOUT = 30.0


class OAuth2Error(Exception):
    """No token; the message names the [oauth2] key and the fix."""


class OAuth2Refused(OAuth2Error):
    """The provider refused the configured credentials: never fixed by waiting."""


class OAuth2Unavailable(OAuth2Error):
    """The token endpoint could not be reached or failed: tried again later."""


def is_loopback(host: str) -> bool:
    """A host on this machine (bot.intake.connect's plain default, [oauth2]'s http token_url)."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def xoauth2(user: str, token: str) -> str:
    """The SASL XOAUTH2 initial response (before base64)."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


def scopes(cfg: OAuth2Config) -> tuple[str, ...]:
    if cfg.scope.strip():
        return tuple(cfg.scope.split())
    if cfg.provider == "microsoft":
        return MICROSOFT_USER_SCOPES if cfg.refresh_token else MICROSOFT_APP_SCOPES
    if cfg.provider == "google":
        return GOOGLE_SCOPES
    return ()


@dataclass(frozen=True)
class _Held:
    value: str
    refresh_at: float  # on the source's clock


class TokenSource:
    """The current access token of one (config, mailbox user); safe to share between threads."""

    def __init__(self, cfg: OAuth2Config, user: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg, self.user = cfg, user
        self._clock = clock
        self._lock = threading.Lock()
        self._held: _Held | None = None
        self._fetch = _FETCHERS[cfg.provider](cfg, user)
        self.fetches = 0  # tokens fetched so far (tests, logs)

    def token(self) -> str:
        with self._lock:
            now = self._clock()
            if self._held is not None and now < self._held.refresh_at:
                return self._held.value
            value, lifetime = self._fetch()
            self.fetches += 1
            lifetime = max(lifetime, 1.0)
            self._held = _Held(value, now + lifetime - min(REFRESH_MARGIN, lifetime / 2))
            log.info("OAuth2 %s: new access token for %s (valid %.0f s)", self.cfg.provider, self.user, lifetime)
            return value

    def invalidate(self, token: str) -> None:
        """The server refused ``token``: the next :meth:`token` fetches a new one."""
        with self._lock:
            if self._held is not None and self._held.value == token:
                self._held = None
                forget = getattr(self._fetch, "forget", None)
                if forget is not None:
                    forget(token)

    def renew(self, refused: str) -> str | None:
        """The server refused ``refused``, a token held from before: a fresh one to log in with
        once more (None when the endpoint answered the same one). A held token goes stale before
        its time when it was revoked, or with the session it served (the server dropped the
        connection; Microsoft 365 does so when the token expires). One refused right after it was
        fetched is about the credentials: :meth:`checked_token` says so, and the caller does not
        call this (asking again would only hammer the provider)."""
        self.invalidate(refused)
        log.info("OAuth2 %s: the server refused the held token of %s; fetching a fresh one", self.cfg.provider,
                 self.user)
        token = self.token()
        return token if token != refused else None

    def checked_token(self) -> tuple[str, bool]:
        """(token, held): ``held`` when it was kept from before rather than fetched by this call."""
        with self._lock:
            before = self.fetches
        token = self.token()
        return token, self.fetches == before


_sources: dict[tuple[OAuth2Config, str], TokenSource] = {}
_sources_lock = threading.Lock()


def token_source(cfg: OAuth2Config, user: str) -> TokenSource:
    """One source per (settings, user) in this process: the IMAP and SMTP logins of the daemon
    share a token instead of fetching one each."""
    with _sources_lock:
        source = _sources.get((cfg, user))
        if source is None:
            source = _sources[(cfg, user)] = TokenSource(cfg, user)
        return source


# --------------------------------------------------------------------------- providers


def _answer(cfg: OAuth2Config, result: Mapping[str, Any]) -> tuple[str, float]:
    if result.get("access_token"):
        return str(result["access_token"]), float(result.get("expires_in") or 3600)
    raise refused(cfg, str(result.get("error") or "error"), str(result.get("error_description") or ""))


def _unavailable(cfg: OAuth2Config, err: BaseException) -> OAuth2Unavailable:
    where = cfg.token_url or cfg.provider
    return OAuth2Unavailable(f"OAuth2（{cfg.provider}）: トークンのエンドポイント {where} に接続できません"
                             f"（{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}）"
                             " → ネットワーク・プロキシと [oauth2] token_url を確認してください（自動で再試行します）")


class _Microsoft:
    def __init__(self, cfg: OAuth2Config, user: str) -> None:
        self.cfg = cfg
        self._app: Any = None
        self._refresh = RefreshTokenStore(cfg.refresh_token_file, cfg.refresh_token)

    def _build(self) -> Any:
        import msal

        cfg = self.cfg
        if cfg.token_url:  # a sovereign cloud or a test endpoint: HOST/TENANT/oauth2/v2.0/token
            authority, discovery = cfg.token_url[: -len(MICROSOFT_TOKEN_PATH)], False
        else:
            authority, discovery = f"{MICROSOFT_AUTHORITY}/{cfg.tenant}", None
        kwargs: dict[str, Any] = {"authority": authority, "instance_discovery": discovery, "timeout": HTTP_TIMEOUT}
        if cfg.client_secret:
            return msal.ConfidentialClientApplication(cfg.client_id, client_credential=cfg.client_secret, **kwargs)
        return msal.PublicClientApplication(cfg.client_id, **kwargs)

    def forget(self, token: str) -> None:
        """msal serves a cached client-credentials token until 5 minutes before its expiry: one
        the server refused must leave that cache too, or "a fresh token" would be the same one."""
        if self._app is not None:
            cache = self._app.token_cache
            for entry in list(cache.search(cache.CredentialType.ACCESS_TOKEN, query={"secret": token})):
                cache.remove_at(entry)

    def __call__(self) -> tuple[str, float]:
        try:
            if self._app is None:
                self._app = self._build()
            wanted = list(scopes(self.cfg))
            if self.cfg.refresh_token:
                result = self._app.acquire_token_by_refresh_token(self._refresh.current(), scopes=wanted)
                self._refresh.save(str(result.get("refresh_token") or ""))  # Microsoft rotates it
            else:
                result = self._app.acquire_token_for_client(scopes=wanted)
        except OSError as err:  # requests' errors are OSErrors
            raise _unavailable(self.cfg, err) from err
        except ValueError as err:  # msal: the tenant's OpenID configuration could not be had
            raise refused(self.cfg, "authority", str(err)) from err
        return _answer(self.cfg, result)


class _Google:
    def __init__(self, cfg: OAuth2Config, user: str) -> None:
        self.cfg, self.user = cfg, user
        self._credentials: Any = None
        self._refresh = RefreshTokenStore(cfg.refresh_token_file, cfg.refresh_token)

    def _build(self) -> Any:
        cfg = self.cfg
        token_url = cfg.token_url or GOOGLE_TOKEN_URL
        if cfg.service_account_file:
            from google.oauth2 import service_account

            info = json.loads(Path(cfg.service_account_file).read_text(encoding="utf-8"))
            info["token_uri"] = cfg.token_url or info.get("token_uri") or GOOGLE_TOKEN_URL
            # Domain-wide delegation: the service account acts as the mailbox user.
            return service_account.Credentials.from_service_account_info(info, scopes=list(scopes(cfg)),
                                                                         subject=self.user)
        from google.oauth2 import credentials

        return credentials.Credentials(None, refresh_token=self._refresh.current(), token_uri=token_url,
                                       client_id=cfg.client_id, client_secret=cfg.client_secret,
                                       scopes=list(scopes(cfg)))

    def __call__(self) -> tuple[str, float]:
        from google.auth import exceptions
        from google.auth.transport.requests import Request

        if self._credentials is None:
            self._credentials = self._build()
        creds = self._credentials
        try:
            creds.refresh(Request())
        except exceptions.RefreshError as err:
            body = err.args[1] if len(err.args) > 1 and isinstance(err.args[1], Mapping) else {}
            code = str(body.get("error") or str(err.args[0] if err.args else err).partition(":")[0])
            raise refused(self.cfg, code, str(body.get("error_description") or err)) from err
        except (exceptions.TransportError, OSError) as err:
            raise _unavailable(self.cfg, err) from err
        if self.cfg.refresh_token and not self.cfg.service_account_file:
            self._refresh.save(creds.refresh_token or "")  # Google keeps it; rotated when it does not
        expiry = creds.expiry  # naive UTC
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        return creds.token, (expiry - now).total_seconds() if expiry else 3600.0


class _Generic:
    def __init__(self, cfg: OAuth2Config, user: str) -> None:
        self.cfg = cfg
        self._refresh = RefreshTokenStore(cfg.refresh_token_file, cfg.refresh_token)
        self._client: Any = None

    def __call__(self) -> tuple[str, float]:
        from msal.oauth2cli import oauth2

        cfg = self.cfg
        if self._client is None:
            self._client = oauth2.Client({"token_endpoint": cfg.token_url}, cfg.client_id,
                                         client_secret=cfg.client_secret or None, timeout=HTTP_TIMEOUT)
        wanted = list(scopes(cfg)) or None
        try:
            if cfg.refresh_token:
                result = self._client.obtain_token_by_refresh_token(self._refresh.current(), scope=wanted)
                self._refresh.save(str(result.get("refresh_token") or ""))
            else:
                result = self._client.obtain_token_for_client(scope=wanted)
        except OSError as err:
            raise _unavailable(cfg, err) from err
        return _answer(cfg, result)


_FETCHERS: dict[str, Callable[[OAuth2Config, str], Callable[[], tuple[str, float]]]] = {
    "microsoft": _Microsoft, "google": _Google, "generic": _Generic,
}


def refused(cfg: OAuth2Config, code: str, description: str) -> OAuth2Refused:
    """The provider's refusal as one line: what it said, which key, what to do."""
    said = f"{code}: {description.splitlines()[0] if description else ''}".strip()
    if code == "invalid_client":
        fix = "[oauth2] client_id と client_secret（BOT_OAUTH2_CLIENT_SECRET）を確認してください（シークレットの期限切れも）"
    elif code == "invalid_grant" and cfg.refresh_token:
        fix = "[oauth2] refresh_token（BOT_OAUTH2_REFRESH_TOKEN）が無効か期限切れです。取り直して設定してください"
    elif code == "invalid_grant":
        fix = "[oauth2] service_account_file の鍵が無効です（鍵が削除されていないか、ファイルが正しいか確認してください）"
    elif code == "unauthorized_client" and cfg.provider == "google":
        fix = ("ドメイン全体の委任が許可されていません: Google 管理コンソール → セキュリティ → API の制御 → ドメイン全体の委任で、"
               "サービスアカウントのクライアント ID にスコープ https://mail.google.com/ を追加してください")
    elif code == "invalid_scope":
        fix = "[oauth2] scope を確認してください（空ならプロバイダの既定のスコープ）"
    elif code == "authority":
        fix = "[oauth2] tenant（または token_url）を確認してください"
    else:
        fix = "[oauth2] の設定（provider, client_id, tenant, token_url）を確認してください"
    return OAuth2Refused(f"OAuth2（{cfg.provider}）: トークンを取得できません（{said}） → {fix}")


# --------------------------------------------------------------------------- config


def validate(cfg: Config, env: Mapping[str, str]) -> None:
    """ConfigError when [oauth2] cannot work as set (called when a server has auth = "oauth2")."""
    o, src = cfg.oauth2, cfg.source

    def fail(key: str, why: str) -> ConfigError:
        return ConfigError(f"{src}: [oauth2] {key}: {why}")

    if o.provider not in PROVIDERS:
        raise fail("provider", f"\"microsoft\", \"google\" or \"generic\" (auth = \"oauth2\" needs it), got {o.provider!r}")
    if o.token_url:
        from urllib.parse import urlsplit

        url = urlsplit(o.token_url)
        if url.scheme != "https" and not (url.scheme == "http" and is_loopback(url.hostname or "")):
            raise fail("token_url", f"https:// が必要です / must be https (http only on loopback), got {o.token_url!r}")
        if o.provider == "microsoft" and (url.scheme != "https" or not url.path.endswith(MICROSOFT_TOKEN_PATH)):
            raise fail("token_url", f"microsoft: https://HOST/TENANT{MICROSOFT_TOKEN_PATH} の形にしてください, "
                                    f"got {o.token_url!r}")
    if o.provider == "microsoft":
        if not o.client_id or not (o.tenant or o.token_url):
            raise fail("client_id" if not o.client_id else "tenant", "microsoft needs client_id and tenant "
                       "(Entra のアプリのクライアント ID とテナント ID)")
        if not (o.client_secret or o.refresh_token):
            raise fail("client_secret", "microsoft needs client_secret (client credentials) or refresh_token: "
                                        "set BOT_OAUTH2_CLIENT_SECRET or BOT_OAUTH2_REFRESH_TOKEN")
    elif o.provider == "google":
        if not o.service_account_file and not (o.refresh_token and o.client_id and o.client_secret):
            raise fail("service_account_file", "google needs service_account_file (domain-wide delegation), or "
                                               "refresh_token with client_id and client_secret")
    else:
        if not o.token_url or not o.client_id:
            raise fail("token_url" if not o.token_url else "client_id", "generic needs token_url and client_id")
        if not (o.client_secret or o.refresh_token):
            raise fail("client_secret", "generic needs client_secret or refresh_token (BOT_OAUTH2_…)")
    for key in ("client_secret", "refresh_token"):
        env_name = f"BOT_OAUTH2_{key.upper()}"
        if getattr(o, key) and env_name not in env and src != "(defaults)":
            mode = _group_or_world(Path(src))
            if mode is not None:
                raise fail(key, f"秘密情報が、ほかのユーザーも読める設定ファイル（{src}, {mode:04o}）に書かれています / "
                                f"a secret in a group- or world-readable file → {env_name} で渡す（/etc/usen-spot-bot/env）か、"
                                f"chmod 600 {src} にしてください")
    if o.provider == "google" and o.service_account_file:
        _check_secret_file(Path(o.service_account_file), fail)
    if o.refresh_token_file and o.refresh_token:
        _check_state_file(Path(o.refresh_token_file), fail)


def _check_state_file(path: Path, fail: Callable[[str, str], Exception]) -> None:
    """The rotated refresh tokens' file: in a folder the bot may write, readable by the bot alone."""
    key = "refresh_token_file"
    if not path.parent.is_dir():
        raise fail(key, f"フォルダ {path.parent} がありません / no such folder (e.g. /var/lib/usen-spot-bot)")
    mode = _group_or_world(path)
    if mode is not None:
        raise fail(key, f"{path} がほかのユーザーにも読める権限（{mode:04o}）です / readable by group or others "
                        f"→ chmod 600 {path}（ボットのユーザーが所有）にしてください")


def _group_or_world(path: Path) -> int | None:
    """The file's permission bits when group or others may read it, else None."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    return mode if mode & 0o077 else None


def _check_secret_file(path: Path, fail: Callable[[str, str], Exception]) -> None:
    key = "service_account_file"
    if not path.is_file():
        raise fail(key, f"ファイルがありません / no such file: {path}")
    mode = _group_or_world(path)
    if mode is not None:
        raise fail(key, f"秘密鍵のファイル {path} がほかのユーザーにも読める権限（{mode:04o}）です / readable by group "
                        f"or others → chmod 600 {path}（所有者はボットのユーザー）にしてください")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise fail(key, f"{path} を読めません / cannot read it: {err.strerror} (the bot's user must own it)") from err
    except ValueError as err:
        raise fail(key, f"{path} は JSON ではありません / not JSON: {err}") from err
    missing = [k for k in ("client_email", "private_key") if not isinstance(info, dict) or not info.get(k)]
    if missing:
        raise fail(key, f"{path} はサービスアカウントの鍵ではありません（{', '.join(missing)} がありません）")

