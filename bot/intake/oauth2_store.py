"""The newest refresh token, kept across restarts (``[oauth2] refresh_token_file``).

Microsoft (and some generic servers) answer every refresh with a new refresh token. The one in
the env file stays valid only until it expires (Microsoft: 90 days of not being used to start
again, however often its successors were), so a bot that starts from it again after every
restart fails some months after it was set up. The newest token is therefore written to a file
only the bot's user can read (0600, written to a temporary file beside it and renamed into place,
so a crash leaves the old file or the new one, never half of one), and read again before every
refresh: several bot processes (PostgreSQL setups) and ``bot check`` share the newest one.

The file remembers which configured token it descends from (a SHA-256 of it, never the token): when
the admin sets a new ``refresh_token`` (the old one was revoked), the file's older line is
ignored and the new token starts a new line.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import tempfile
import threading
from contextlib import suppress
from pathlib import Path

log = logging.getLogger("bot.intake.oauth2")


def _seed_hash(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


class RefreshTokenStore:
    """The refresh token to use now: the file's (when it descends from ``seed``), else the newest
    one seen in this process, else ``seed`` (the configured one)."""

    def __init__(self, path: str, seed: str) -> None:
        self.path = Path(path) if path else None
        self.seed = seed
        self._latest = ""
        self._lock = threading.Lock()
        self._warned = False

    def current(self) -> str:
        with self._lock:
            return self._read() or self._latest or self.seed

    def save(self, token: str) -> None:
        """Keep ``token`` (the server's answer to a refresh) for the next refresh and the next start."""
        with self._lock:
            if not token or token == (self._read() or self._latest or self.seed):
                return
            self._latest = token
            if self.path is None:
                if not self._warned:
                    log.warning("OAuth2: the server rotated the refresh token; it is used until the bot stops, "
                                "then the configured one again: set [oauth2] refresh_token_file to keep it")
                    self._warned = True
                return
            try:
                self._write(token)
            except OSError as err:
                log.error("OAuth2: cannot write the new refresh token to %s ([oauth2] refresh_token_file): %s; "
                          "kept in memory until the bot stops", self.path, err)
                return
            log.info("OAuth2: the rotated refresh token was saved to %s", self.path)

    def _read(self) -> str:
        if self.path is None:
            return ""
        try:
            record = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return ""
        except (OSError, ValueError) as err:
            log.warning("OAuth2: cannot read %s ([oauth2] refresh_token_file): %s; using the newest known token",
                        self.path, err)
            return ""
        if not isinstance(record, dict) or record.get("seed_sha256") != _seed_hash(self.seed):
            return ""  # from another configured token: the admin set a new one since
        return str(record.get("refresh_token") or "")

    def _write(self, token: str) -> None:
        assert self.path is not None
        record = {"refresh_token": token, "seed_sha256": _seed_hash(self.seed),
                  "saved_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        # mkstemp creates the file 0600 (owner only) before a byte of the secret is in it.
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(record, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with suppress(OSError):
                os.unlink(tmp)
            raise
        with suppress(OSError):  # the rename itself durable too
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
