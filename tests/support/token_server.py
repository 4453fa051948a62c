"""A local OAuth2 authorization server for the tests: the providers' token protocol, and the
RFC 7662 introspection endpoint a real Dovecot asks about every bearer token.

Two stdlib ``http.server`` listeners share one state:

- ``https_base`` (TLS, the test CA's certificate; msal accepts only https authorities) serves
  - Microsoft identity platform v2.0: ``GET /{tenant}/v2.0/.well-known/openid-configuration``
    and ``POST /{tenant}/oauth2/v2.0/token`` (``client_credentials`` with ``client_secret``,
    ``refresh_token`` with a rotating refresh token);
  - Google: ``POST /google/token`` (``urn:ietf:params:oauth:grant-type:jwt-bearer``: a service
    account's RS256 JWT, signature checked with its public key, ``sub`` = the delegated user;
    and ``refresh_token``);
  - a generic RFC 6749 endpoint: ``POST /generic/token`` (both grants).
- ``introspect_url`` (plain HTTP on loopback, for Dovecot): ``POST`` ``token=…`` →
  ``{"active": true, "username": …}`` while the token is known and unexpired.

Every access token expires ``lifetime`` seconds after it was issued; ``grants`` counts what was
asked of the token endpoints and ``introspections`` what Dovecot asked.
"""

from __future__ import annotations

import base64
import json
import secrets
import ssl
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.support.certs import Issued

MICROSOFT_APP_SCOPE = "https://outlook.office365.com/.default"
GOOGLE_SCOPE = "https://mail.google.com/"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_AUDIENCE = "https://oauth2.googleapis.com/token"


@dataclass
class Token:
    user: str
    expires_at: float


@dataclass
class TokenServer:
    """Start with ``with TokenServer(cert=…, user=…) as server``."""

    cert: Issued
    user: str  # the mailbox the tokens are for (client credentials: the app's granted mailbox)
    tenant: str = "contoso-tenant"
    client_id: str = "bot-client-id"
    client_secret: str = "bot-client-secret"
    refresh_token: str = "rt-1"
    lifetime: int = 3600
    service_account_key: rsa.RSAPrivateKey | None = None
    service_account_email: str = "usen-bot@usen-spot.iam.gserviceaccount.com"
    tokens: dict[str, Token] = field(default_factory=dict)
    grants: Counter[str] = field(default_factory=Counter)
    introspections: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # error codes answered

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._servers: list[ThreadingHTTPServer] = []
        self._rt_serial = 1

    # -- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> TokenServer:
        handler = _handler(self)
        secure = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(self.cert.cert), str(self.cert.key))
        secure.socket = context.wrap_socket(secure.socket, server_side=True)
        plain = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._servers = [secure, plain]
        for server in self._servers:
            threading.Thread(target=server.serve_forever, daemon=True).start()
        self.https_base = f"https://127.0.0.1:{secure.server_address[1]}"
        self.introspect_url = f"http://127.0.0.1:{plain.server_address[1]}/introspect"
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()

    # -- URLs a config points at ----------------------------------------------------------

    @property
    def microsoft_token_url(self) -> str:
        return f"{self.https_base}/{self.tenant}/oauth2/v2.0/token"

    @property
    def google_token_url(self) -> str:
        return f"{self.https_base}/google/token"

    @property
    def generic_token_url(self) -> str:
        return f"{self.https_base}/generic/token"

    def write_service_account(self, path: Path) -> Path:
        """A Google service account key file (JSON, 0600) whose key this server trusts."""
        self.service_account_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = self.service_account_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()).decode()
        path.write_text(json.dumps({
            "type": "service_account", "project_id": "usen-spot", "private_key_id": "k1", "private_key": pem,
            "client_email": self.service_account_email, "client_id": "1234567890",
            "token_uri": "https://oauth2.googleapis.com/token",
        }))
        path.chmod(0o600)
        return path

    # -- what tests look at ---------------------------------------------------------------

    def issue(self, user: str | None = None) -> str:
        token = "at-" + secrets.token_urlsafe(16)
        with self._lock:
            self.tokens[token] = Token(user or self.user, time.time() + self.lifetime)
        return token

    def revoke_all(self) -> None:
        with self._lock:
            self.tokens.clear()

    def active(self, token: str) -> Token | None:
        with self._lock:
            found = self.tokens.get(token)
        return found if found is not None and found.expires_at > time.time() else None

    # -- the grants -----------------------------------------------------------------------

    def grant(self, path: str, form: dict[str, str], headers: dict[str, str]) -> tuple[int, dict[str, object]]:
        kind = form.get("grant_type", "")
        self.grants[f"{path}:{kind}"] += 1
        if path == "microsoft" and kind == "client_credentials":
            if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
                return self._error("invalid_client", "AADSTS7000215: Invalid client secret provided.")
            if form.get("scope") != MICROSOFT_APP_SCOPE:
                return self._error("invalid_scope", f"AADSTS1002012: scope {form.get('scope')!r} is not valid.")
            return 200, self._access()
        if kind == "refresh_token":
            if form.get("refresh_token") != self.refresh_token:
                return self._error("invalid_grant", "AADSTS70000: The refresh token has expired or is invalid.")
            client_id, client_secret = self._client(form, headers)
            if client_id != self.client_id or (path != "microsoft" and client_secret != self.client_secret):
                return self._error("invalid_client", "The OAuth client was not found.")
            answer = self._access()
            if path == "microsoft":  # Microsoft rotates refresh tokens; Google and most others do not
                self._rt_serial += 1
                self.refresh_token = answer["refresh_token"] = f"rt-{self._rt_serial}"
            return 200, answer
        if path == "generic" and kind == "client_credentials":
            client_id, client_secret = self._client(form, headers)
            if client_id != self.client_id or client_secret != self.client_secret:
                return self._error("invalid_client", "client authentication failed")
            return 200, self._access()
        if path == "google" and kind == JWT_BEARER:
            return self._jwt_bearer(form.get("assertion", ""))
        return self._error("unsupported_grant_type", f"{kind!r} at {path}")

    def _jwt_bearer(self, assertion: str) -> tuple[int, dict[str, object]]:
        try:
            head, body, signature = assertion.split(".")
            claims = json.loads(_unb64(body))
            assert self.service_account_key is not None
            self.service_account_key.public_key().verify(_unb64(signature), f"{head}.{body}".encode(),
                                                          padding.PKCS1v15(), hashes.SHA256())
        except Exception:  # noqa: BLE001 - any malformed or badly signed assertion
            return self._error("invalid_grant", "Invalid JWT Signature.")
        # Google wants its own token URL as the audience, wherever the assertion is posted.
        if claims.get("iss") != self.service_account_email or claims.get("aud") != GOOGLE_AUDIENCE:
            return self._error("invalid_grant", f"Invalid JWT: iss {claims.get('iss')!r} or aud {claims.get('aud')!r}")
        if claims.get("scope") != GOOGLE_SCOPE:
            return self._error("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        if claims.get("sub") != self.user:
            return self._error("unauthorized_client",
                               "Client is unauthorized to retrieve access tokens using this method, or client not "
                               "authorized for any of the scopes requested.")
        return 200, self._access()

    def _client(self, form: dict[str, str], headers: dict[str, str]) -> tuple[str | None, str | None]:
        basic = headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            pair = base64.b64decode(basic[6:]).decode()
            user, _, secret = pair.partition(":")
            return urllib.parse.unquote(user), urllib.parse.unquote(secret)
        return form.get("client_id"), form.get("client_secret")

    def _access(self) -> dict[str, object]:
        return {"token_type": "Bearer", "expires_in": self.lifetime, "access_token": self.issue()}

    def _error(self, code: str, description: str) -> tuple[int, dict[str, object]]:
        self.refused.append(code)
        return (401 if code == "invalid_client" else 400), {"error": code, "error_description": description}

    def openid_configuration(self, tenant: str) -> dict[str, object]:
        base = f"{self.https_base}/{tenant}"
        return {"token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "issuer": f"{base}/v2.0", "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode"}

    def introspect(self, token: str) -> dict[str, object]:
        self.introspections.append(token)
        found = self.active(token)
        if found is None:
            return {"active": False}
        return {"active": True, "username": found.user, "exp": int(found.expires_at)}


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _handler(server: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
            pass

        def _send(self, status: int, payload: dict[str, object]) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            parts = urllib.parse.urlsplit(self.path).path.strip("/").split("/")
            if len(parts) == 4 and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
                self._send(200, server.openid_configuration(parts[0]))
            else:
                self._send(404, {"error": "not_found"})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
            path = urllib.parse.urlsplit(self.path).path
            headers = {k.lower(): v for k, v in self.headers.items()}
            if path == "/introspect":
                self._send(200, server.introspect(form.get("token", "")))
            elif path == f"/{server.tenant}/oauth2/v2.0/token":
                self._send(*server.grant("microsoft", form, headers))
            elif path == "/google/token":
                self._send(*server.grant("google", form, headers))
            elif path == "/generic/token":
                self._send(*server.grant("generic", form, headers))
            else:
                self._send(404, {"error": "not_found"})

    return Handler
