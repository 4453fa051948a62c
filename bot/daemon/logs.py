"""Logging for every command: named loggers (``bot.pipeline``, ``bot.intake``, ...), text or
JSON lines (``[log] format``), stderr or a file (``[log] file``; rotation is the system's), and
no secret in any line: the configured passwords and keys are replaced by ``***`` wherever they
would appear (a message, an argument, a traceback).

A decision is one line (bot.pipeline): in JSON it carries ``mail_id``, ``kind``,
``customer_code``, ``decision`` and ``defects`` as fields of their own.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable

from bot.config import Config

# Fields a log call may add with extra={...}; the JSON formatter writes them as they are.
EXTRA_FIELDS = ("mail_id", "uid", "kind", "customer_code", "decision", "defects", "warnings", "job", "period")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MIN_SECRET = 6


class Redact(logging.Filter):
    """Replace every configured secret by *** in the final text of a record."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Short values would mangle ordinary lines (the manual's shared form password "uspot" is
        # also in every @uspot.jp address, and is printed in the manual anyway); a real secret
        # is longer.
        self.secrets = sorted({s for s in secrets if s and len(s) >= MIN_SECRET}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        text = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        cleaned = self._clean(text)
        if cleaned != text or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        return True

    def _clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in EXTRA_FIELDS:
            if hasattr(record, name):
                data[name] = getattr(record, name)
        if record.exc_info or record.exc_text:
            data["traceback"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        return json.dumps(data, ensure_ascii=False, default=str)


CHATTY = ("apscheduler", "alembic", "uvicorn.error")


def secrets_of(cfg: Config) -> list[str]:
    return [cfg.mailbox.password, cfg.smtp.password, cfg.pdf.password, cfg.vendor.pdf_password, cfg.web.secret_key,
            cfg.oauth2.client_secret, cfg.oauth2.refresh_token]


def configure(cfg: Config, level: int) -> None:
    """Replace the root handlers with the configured ones (called once the config is loaded)."""
    handler: logging.Handler
    if cfg.log.file:
        handler = logging.FileHandler(cfg.log.file, encoding="utf-8")
    else:
        handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if cfg.log.format == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(Redact(secrets_of(cfg)))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    # Third-party chatter (APScheduler's line for every job run, ~9,000 a day; alembic's plugin
    # and context lines at every start) shows with -v only; their warnings and errors stay.
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.DEBUG if level <= logging.DEBUG else logging.WARNING)
