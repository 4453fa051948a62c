"""The config error, alone so every module that checks a part of the config can raise it
without importing bot.config: bot/config/__init__.py calls those checks (bot.db's URL check,
bot.intake.connect's and bot.intake.oauth2's server checks), so their importing it back would close an
import circle. bot.config re-exports it; callers keep ``from bot.config import ConfigError``."""


class ConfigError(Exception):
    """A bad config file or key; the message names the file, section and key."""
