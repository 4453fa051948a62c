"""Signed-in browsers: a random token in an HttpOnly, SameSite=Lax cookie; its sha256 in the
``web_sessions`` table with an absolute expiry (``[web] session_minutes``) and an idle limit
(``[web] idle_minutes``). Logout, a password change and disabling a user delete the rows."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.config import WebConfig
from bot.db.models import User, WebSession

COOKIE = "bot_session"
# last_seen_at is written at most this often (not on every page: fewer writes on SQLite).
TOUCH_EVERY = dt.timedelta(minutes=1)


def _key(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


@dataclass(frozen=True)
class SignedIn:
    """The user behind a request, as the views see it (a plain value, not an ORM row)."""

    id: int
    username: str
    display_name: str
    role: str
    session_key: str
    touch_due: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def start(session: Session, user: User, *, now: dt.datetime, web: WebConfig, ip: str | None) -> str:
    """A new session for `user`; returns the cookie token (shown once, never stored)."""
    token = secrets.token_urlsafe(32)
    session.add(WebSession(id=_key(token), user_id=user.id, created_at=now, last_seen_at=now,
                           expires_at=now + dt.timedelta(minutes=web.session_minutes), ip=ip and ip[:64]))
    # Old rows of anybody go when they are long dead, so the table does not grow forever.
    session.execute(delete(WebSession).where(WebSession.expires_at < now - dt.timedelta(days=1)))
    return token


def resolve(session: Session, token: str | None, *, now: dt.datetime, web: WebConfig) -> SignedIn | None:
    """The signed-in user for a cookie token, or None (unknown, expired, idle too long, disabled).

    Reads only (pages are served from a read-only connection); :func:`touch` records activity.
    A dead row stays until the next sign-in sweeps it (:func:`start`): it can never sign in again.
    """
    if not token or len(token) > 200:
        return None
    row = session.get(WebSession, _key(token))
    if row is None:
        return None
    user = session.get(User, row.user_id)
    idle_end = row.last_seen_at + dt.timedelta(minutes=web.idle_minutes)
    if user is None or not user.active or now >= row.expires_at or now >= idle_end:
        return None
    return SignedIn(user.id, user.username, user.display_name or user.username, user.role, row.id,
                    touch_due=now - row.last_seen_at >= TOUCH_EVERY)


def touch(session: Session, session_key: str, *, now: dt.datetime) -> None:
    row = session.get(WebSession, session_key)
    if row is not None and row.last_seen_at < now:
        row.last_seen_at = now


def end(session: Session, session_key: str) -> None:
    session.execute(delete(WebSession).where(WebSession.id == session_key))


def active_count(session: Session, user_id: int, *, now: dt.datetime) -> int:
    return len(session.scalars(select(WebSession.id).where(WebSession.user_id == user_id,
                                                           WebSession.expires_at > now)).all())
