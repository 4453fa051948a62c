"""The console's and the daemon's own tables: users, sessions and the audit log of the
console, scheduled job runs, heartbeats of running processes, saved template versions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column


from bot.db.base import Base, UtcDateTime


# -- the office console (bot web): its users, their sessions, and the audit log ------------

STAFF, ADMIN = "staff", "admin"  # User.role


class User(Base):
    """A console user (事務センター staff or an admin); the password as an argon2 hash only."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(10), default=STAFF)
    password_hash: Mapped[str] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    password_changed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class WebSession(Base):
    """A signed-in browser. The cookie carries a random token; only its sha256 is stored, so
    a copy of the database signs nobody in. Deleted at logout, password change and disable."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the cookie token
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    ip: Mapped[str | None] = mapped_column(String(64))


class AuditEntry(Base):
    """Who did what (to which mail), when: every login, failed login, logout and action."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_action_at", "action", "at"),
        Index("ix_audit_log_mail", "mail_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    username: Mapped[str] = mapped_column(String(100))  # as typed at a failed login; "cli:NAME" from bot users
    action: Mapped[str] = mapped_column(String(40))
    mail_id: Mapped[int | None] = mapped_column(ForeignKey("mails.id"))
    ip: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class JobRun(Base):
    """One run of a scheduled job for one period (a day's vendor batch, a morning's digest).

    The unique (job, period) row is the claim: of several processes, the one whose INSERT
    commits runs the job; the others see the row and skip. A restart looks here for periods
    that have no finished run (migration 0008)."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job", "period", name="uq_job_runs_period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job: Mapped[str] = mapped_column(String(40))
    period: Mapped[str] = mapped_column(String(40))  # e.g. "2026-11-24"
    status: Mapped[str] = mapped_column(String(20))  # running / done / failed / skipped
    owner: Mapped[str] = mapped_column(String(200))  # host:pid:start of the process running it
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    detail: Mapped[str | None] = mapped_column(Text)


class Heartbeat(Base):
    """What one running bot process last did (`bot status`, /healthz): one row per process."""

    __tablename__ = "heartbeats"

    owner: Mapped[str] = mapped_column(String(200), primary_key=True)  # host:pid:start
    version: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_fetch_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    idle: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    state: Mapped[str] = mapped_column(String(20))  # starting / running / waiting / stopped
    detail: Mapped[str | None] = mapped_column(Text)  # why waiting (database / IMAP away)
    next_jobs: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # job id → ISO time of its next run
    # Mails older than [mailbox] since / max_age_days left in the folder (migration 0010).
    left_alone: Mapped[int | None] = mapped_column(Integer)


class TemplateVersion(Base):
    """One saved version of an admin mail template (the console's テンプレート page,
    bot/templating/store.py); never changed afterwards. A revert is a new row carrying an old
    body (``reverted_from``); action ``builtin`` removed the override (its body: the built-in
    text of that day). Migration 0007."""

    __tablename__ = "template_versions"
    __table_args__ = (Index("ix_template_versions_name", "name", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))  # e.g. "reject.txt.j2"
    action: Mapped[str] = mapped_column(String(20))  # save / revert / builtin
    body: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(100))  # console login, or "cli:NAME"
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reverted_from: Mapped[int | None] = mapped_column(ForeignKey("template_versions.id"))
