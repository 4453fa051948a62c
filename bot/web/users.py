"""Console users: argon2 password hashes, add / passwd / disable / list, and signing in with a
limit on failed attempts per user name and per client address.

The limit counts the audit log's ``login_failed`` rows inside ``[web] login_window_minutes``
(a user's count starts again after their last successful sign-in), so it holds across
restarts and across several console processes sharing one database.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bot.config import WebConfig
from bot.db.models import ADMIN, STAFF, AuditEntry, User, WebSession
from bot.web import audit

ROLES = (STAFF, ADMIN)
ROLE_LABELS = {STAFF: "スタッフ", ADMIN: "管理者"}
MIN_PASSWORD = 10

# argon2id with the library's defaults (RFC 9106 low-memory profile: 64 MiB, t=3, p=4).
_hasher = PasswordHasher()
# Verified against when the user name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


class UserError(Exception):
    """A refused user operation; the message says why in Japanese and English."""


def normalise_username(name: str) -> str:
    return unicodedata.normalize("NFKC", name).strip().lower()


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"パスワードは{MIN_PASSWORD}文字以上にしてください / password must be at least "
                        f"{MIN_PASSWORD} characters")


def add_user(session: Session, username: str, password: str, *, role: str, display_name: str = "",
             now: dt.datetime, by: str) -> User:
    name = normalise_username(username)
    if not name or len(name) > 100 or any(c.isspace() for c in name):
        raise UserError(f"ユーザー名が不正です / invalid user name {username!r}")
    if role not in ROLES:
        raise UserError(f"役割は {' / '.join(ROLES)} のいずれかです / role must be one of {', '.join(ROLES)}")
    _check_password(password)
    if session.scalar(select(User).where(User.username == name)) is not None:
        raise UserError(f"ユーザー {name} は既にいます / user {name} already exists")
    user = User(username=name, display_name=display_name.strip() or name, role=role,
                password_hash=_hasher.hash(password), active=True, created_at=now, password_changed_at=now)
    session.add(user)
    session.flush()
    audit.record(session, action=audit.USER_ADD, at=now, username=by, detail={"user": name, "role": role})
    return user


def _get(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == normalise_username(username)))
    if user is None:
        raise UserError(f"ユーザー {username} はいません / no such user {username!r}")
    return user


def set_password(session: Session, username: str, password: str, *, now: dt.datetime, by: str) -> User:
    """A new password; every session of the user ends (a stolen cookie stops working)."""
    user = _get(session, username)
    _check_password(password)
    user.password_hash = _hasher.hash(password)
    user.password_changed_at = now
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    audit.record(session, action=audit.USER_PASSWD, at=now, username=by, detail={"user": user.username})
    return user


def disable_user(session: Session, username: str, *, now: dt.datetime, by: str) -> User:
    user = _get(session, username)
    user.active = False
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    audit.record(session, action=audit.USER_DISABLE, at=now, username=by, detail={"user": user.username})
    return user


def set_display_name(session: Session, username: str, display_name: str, *, now: dt.datetime, by: str) -> User:
    """The name the console shows for a person (香川) instead of their login name."""
    user = _get(session, username)
    name = display_name.strip()
    if not name or len(name) > 200:
        raise UserError("表示名は1〜200文字で指定してください / the display name must be 1-200 characters")
    user.display_name = name
    audit.record(session, action=audit.USER_NAME, at=now, username=by, detail={"user": user.username,
                                                                                "display_name": name})
    return user


def display_names(session: Session) -> dict[str, str]:
    """Login name → display name of every user (the login name where none was given)."""
    return {u: (d or u) for u, d in session.execute(select(User.username, User.display_name))}


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


@dataclass(frozen=True)
class LoginResult:
    user: User | None  # signed in; None when refused
    limited: bool = False  # refused because of too many failures, without checking the password


def _failures(session: Session, *, since: dt.datetime, username: str | None = None, ip: str | None = None) -> int:
    where = [AuditEntry.action == audit.LOGIN_FAILED, AuditEntry.at >= since]
    if username is not None:
        where.append(AuditEntry.username == username)
    if ip is not None:
        where.append(AuditEntry.ip == ip)
    return session.scalar(select(func.count()).select_from(AuditEntry).where(*where)) or 0


def authenticate(session: Session, username: str, password: str, *, ip: str, now: dt.datetime,
                 web: WebConfig) -> LoginResult:
    """Check a sign-in and write its audit row (login / login_failed / login_limited)."""
    name = normalise_username(username)[:100]
    window_start = now - dt.timedelta(minutes=web.login_window_minutes)
    last_ok = session.scalar(select(func.max(AuditEntry.at)).where(
        AuditEntry.action == audit.LOGIN, AuditEntry.username == name, AuditEntry.at >= window_start))
    user_since = max(window_start, last_ok) if last_ok is not None else window_start
    if (_failures(session, since=user_since, username=name) >= web.login_failures_per_user
            or _failures(session, since=window_start, ip=ip) >= web.login_failures_per_ip):
        audit.record(session, action=audit.LOGIN_LIMITED, at=now, username=name, ip=ip)
        return LoginResult(None, limited=True)
    user = session.scalar(select(User).where(User.username == name))
    ok = False
    try:
        ok = _hasher.verify(user.password_hash if user is not None else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None or not user.active:
        audit.record(session, action=audit.LOGIN_FAILED, at=now, username=name, ip=ip,
                     detail={"reason": "disabled" if ok and user is not None else "password"})
        return LoginResult(None)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    audit.record(session, action=audit.LOGIN, at=now, username=user.username, user_id=user.id, ip=ip)
    return LoginResult(user)
