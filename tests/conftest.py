"""Shared fixtures: real servers (Dovecot, PostgreSQL, aiosmtpd) and a migrated database."""

from __future__ import annotations

pytest_plugins = [
    "tests.support.dovecot",
    "tests.support.postgres",
    "tests.support.app",
]
