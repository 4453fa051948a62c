"""A real Dovecot with TLS (a test CA's certificate) and, optionally, OAuth2 logins.

Beside the plain port of :class:`tests.support.dovecot.Dovecot` (``port``: plain and
STARTTLS, as port 143 is) it listens on ``tls_port`` with implicit TLS (as 993 is).

- ``ssl_mode = "yes"``: STARTTLS offered, plaintext logins allowed too (a loopback test server).
- ``ssl_mode = "required"``: no login without TLS (STARTTLS done, or the implicit TLS port).
- ``oauth2_introspection``: the passdb is Dovecot's ``oauth2`` driver, which sends every bearer
  token a client presents (SASL XOAUTH2 or OAUTHBEARER) to this URL (RFC 7662 introspection,
  ``introspection_mode = post``) and lets the login in only when the answer says
  ``"active": true`` and names the login user (``username``). PLAIN/LOGIN with the password
  stay for the test's own client (delivering mail).

Everything else (temp dir, start/stop, unprivileged users when run as root) is the base class's.
"""

from __future__ import annotations

import grp
import os
import pwd
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from imapclient import IMAPClient

from tests.support.certs import Issued
from tests.support.dovecot import _USERS_AS_ROOT, _USERS_ROOTLESS, Dovecot, _unprivileged_account, free_port


class SecureDovecot(Dovecot):
    def __init__(self, *, cert: Issued, ca_file: Path, ssl_mode: str = "yes", oauth2_introspection: str = "",
                 mechanisms: tuple[str, ...] = ("xoauth2", "oauthbearer"), **kwargs: object) -> None:
        if ssl_mode not in ("yes", "required"):
            raise ValueError("ssl_mode must be 'yes' or 'required', got %r" % ssl_mode)
        self.cert = cert
        self.ca_file = ca_file
        self.ssl_mode = ssl_mode
        self.oauth2_introspection = oauth2_introspection
        self.mechanisms = mechanisms
        self.tls_port = free_port()
        super().__init__(**kwargs)  # type: ignore[arg-type]

    @contextmanager
    def client(self) -> Iterator[IMAPClient]:
        """A logged-in connection over the implicit TLS port (trusting the test CA)."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        client = IMAPClient(self.host, port=self.tls_port, ssl=True, ssl_context=context, timeout=10)
        try:
            client.login(self.user, self.password)
            yield client
        finally:
            try:
                client.logout()
            except Exception:  # noqa: BLE001 - the test may have killed the server
                client.shutdown()

    def _write_config(self) -> None:
        for sub in ("run", "state", "mail", "home"):
            (self.root / sub).mkdir()
        # The key must be readable by Dovecot's config process only; copy it into our tree.
        key = self.root / "server.key"
        key.write_bytes(self.cert.key.read_bytes())
        os.chmod(key, 0o600)
        if os.geteuid() == 0:
            account = _unprivileged_account()
            users = _USERS_AS_ROOT.format(user=account.pw_name, group=grp.getgrgid(account.pw_gid).gr_name)
            for path in [self.root, *self.root.rglob("*")]:
                if path != key:
                    os.chown(path, account.pw_uid, account.pw_gid)
        else:
            me = pwd.getpwuid(os.getuid())
            users = _USERS_ROOTLESS.format(user=me.pw_name, group=grp.getgrgid(os.getgid()).gr_name)
        if self.oauth2_introspection:
            oauth2_conf = self.root / "oauth2.conf.ext"
            oauth2_conf.write_text(_OAUTH2.format(url=self.oauth2_introspection))
            # OAuth2 for the bot's mechanisms; the password still works for PLAIN/LOGIN so that
            # the test's own client (client(), append()) can deliver mail.
            passdb = "passdb {\n  driver = oauth2\n  mechanisms = %s\n  args = %s\n}\n" % (
                " ".join(self.mechanisms), oauth2_conf)
            passdb += _STATIC.format(password=self.password, mechanisms="mechanisms = plain login\n")
            mechanisms = "plain login " + " ".join(self.mechanisms)
        else:
            passdb = _STATIC.format(password=self.password, mechanisms="")
            mechanisms = "plain login"
        self.config_path.write_text(_CONFIG.format(
            root=self.root, port=self.port, tls_port=self.tls_port, users=users, ssl=self.ssl_mode,
            cert=self.cert.cert, key=key, mechanisms=mechanisms, passdb=passdb,
            plaintext="yes" if self.ssl_mode == "required" else "no",
        ))


_STATIC = """\
passdb {{
  driver = static
  {mechanisms}  args = password={password}
}}
"""

_OAUTH2 = """\
introspection_mode = post
introspection_url = {url}
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
"""

_CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
auth_verbose = yes
protocols = imap
listen = 127.0.0.1
ssl = {ssl}
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = {plaintext}
auth_mechanisms = {mechanisms}
auth_failure_delay = 0
{users}mail_location = maildir:{root}/mail
{passdb}
userdb {{
  driver = static
  args = home={root}/home
}}

service imap-login {{
  chroot =
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = {tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""
