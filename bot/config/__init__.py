"""Configuration: a TOML file → frozen dataclasses, every key overridable from the environment.

Where the file comes from: ``--config PATH``, else ``$BOT_CONFIG``, else ``./config.toml``,
else the built-in defaults (enough for ``bot process --dry-run`` and the demo).
Every key can be set as ``BOT_<SECTION>_<KEY>`` (``BOT_PDF_PASSWORD=uspot``) so no secret has
to sit in a file. An unknown section or key, a value of the wrong type, a number outside its
key's range (:data:`RANGES`), a file that is not UTF-8 (:func:`read_config_text`) or a database
URL this installation cannot open (:func:`bot.db.check_url`) is a :class:`ConfigError` that
names it; the command line turns it into exit code 2.

    sections.py   one frozen dataclass per [section], with its defaults
    load.py       the file and the environment read into them, every value checked
    limits.py     [limits]: what one mail may cost (bytes, pages, seconds, processes)
"""

from __future__ import annotations

from bot.config.limits import Limits
from bot.config.load import PORT, RANGES, describe, load_config, read_config_text
from bot.config.sections import (
    BranchesConfig,
    Config,
    CorporateConfig,
    DatabaseConfig,
    HealthConfig,
    LogConfig,
    MailboxConfig,
    OAuth2Config,
    OfficeConfig,
    PdfConfig,
    RetentionConfig,
    ScansConfig,
    SendersConfig,
    SmtpConfig,
    TemplatesConfig,
    UnisConfig,
    VendorConfig,
    WebConfig,
)
from bot.domain.config_error import ConfigError

__all__ = [
    "BranchesConfig",
    "Config",
    "ConfigError",
    "CorporateConfig",
    "DatabaseConfig",
    "HealthConfig",
    "Limits",
    "LogConfig",
    "MailboxConfig",
    "OAuth2Config",
    "OfficeConfig",
    "PORT",
    "PdfConfig",
    "RANGES",
    "RetentionConfig",
    "ScansConfig",
    "SendersConfig",
    "SmtpConfig",
    "TemplatesConfig",
    "UnisConfig",
    "VendorConfig",
    "WebConfig",
    "describe",
    "load_config",
    "read_config_text",
]
