"""Reading the config: TOML and the environment into the sections, every value checked (type,
range, file encoding, database URL); a :class:`ConfigError` names what is wrong and where."""

from __future__ import annotations

import codecs
import dataclasses
import logging
import os
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from zoneinfo import ZoneInfoNotFoundError

from bot.domain.config_error import (
    ConfigError as ConfigError,  # below the checks that raise it
)
from bot.config.limits import RANGES as LIMIT_RANGES

from bot.config.sections import Config

log = logging.getLogger("bot.config")


_SECTIONS: dict[str, type] = {
    f.name: typing.get_type_hints(Config)[f.name] for f in dataclasses.fields(Config) if f.name != "source"
}

PORT = (1, 65535, "port")
# Every numeric key and the values it accepts, checked when the config is loaded: a port of
# 99999 or a poll of 0 seconds is a typo, and a typo found at start-up costs a minute, one found
# by the daemon at three in the morning costs a day's mail. The bounds stop the impossible and
# the absurd, not the unusual. tests/test_config.py fails when a numeric key is missing here.
RANGES: dict[tuple[str, str], tuple[float, float, str]] = {
    ("mailbox", "port"): PORT,
    ("mailbox", "batch_size"): (1, 1_000, "mails"),  # one FETCH of BODY.PEEK[]; bigger = one huge reply
    ("mailbox", "poll_seconds"): (1, 3_600, "seconds"),
    ("mailbox", "max_age_days"): (0, 36_500, "days (0: no limit)"),
    ("mailbox", "timeout"): (1, 600, "seconds"),
    ("smtp", "port"): PORT,
    ("smtp", "timeout"): (1, 600, "seconds"),
    ("smtp", "max_attempts"): (1, 1_000, "attempts"),
    # 0 would turn every 差戻 into 保留 without saying so in the config.
    ("senders", "max_replies_per_hour"): (1, 100_000, "replies"),
    ("senders", "max_reply_recipients"): (1, 100, "addresses"),
    ("web", "port"): PORT,
    ("health", "port"): (0, 65535, "port (0: off)"),
    ("web", "session_minutes"): (1, 43_200, "minutes"),  # 30 days
    ("web", "idle_minutes"): (1, 43_200, "minutes"),
    ("web", "login_window_minutes"): (1, 1_440, "minutes"),
    ("web", "login_failures_per_user"): (1, 1_000, "failures"),
    ("web", "login_failures_per_ip"): (1, 100_000, "failures"),
    ("retention", "raw_mail_days"): (0, 36_500, "days (0: for ever)"),
    ("retention", "sent_mail_days"): (0, 36_500, "days (0: for ever)"),
    # Below 7 the office's records (帳簿書類) would go before the law allows.
    ("retention", "records_years"): (7, 100, "years"),
    ("retention", "unis_done_days"): (0, 36_500, "days (0: for ever)"),
    ("retention", "audit_days"): (0, 36_500, "days (0: for ever)"),
    ("retention", "login_days"): (0, 36_500, "days (0: for ever)"),
    ("unis", "audit_window_days"): (0, 36_500, "days (0: every finding is current)"),
    ("corporate", "max_bytes"): (1024, 1 * 1024 * 1024 * 1024, "bytes"),
    ("corporate", "max_rows"): (1, 100_000, "rows"),
    ("corporate", "max_unzipped_bytes"): (64 * 1024, 4 * 1024 * 1024 * 1024, "bytes"),
    **{("limits", name): bounds for name, bounds in LIMIT_RANGES.items()},
}


def _number(value: float) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:g}"
    return f"{int(value):,}" if abs(value) >= 10_000 else str(int(value))


def _check_range(value: object, written: object, section: str, key: str, where: str) -> None:
    """Refuse a number outside its key's range, naming the key and the value as written:
    ``[smtp] port: 99999 is not a port (1–65535)``. NaN and infinity (TOML allows both) are
    out of every range."""
    bounds = RANGES.get((section, key))
    if bounds is None or not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    low, high, unit = bounds
    if low <= value <= high:
        return
    if bounds is PORT:
        raise ConfigError(f"{where}: {written} is not a port ({low}–{high})")
    raise ConfigError(f"{where}: {written} is out of range ({_number(low)}–{_number(high)} {unit})")


def _coerce(value: object, hint: object, where: str) -> object:
    """Turn a TOML or environment value into the declared type, or say precisely why not."""
    from_env = isinstance(value, str) and where.startswith("$")
    if hint is bool:
        if isinstance(value, bool):
            return value
        if from_env and str(value).strip().lower() in {"1", "true", "yes", "on"}:
            return True
        if from_env and str(value).strip().lower() in {"0", "false", "no", "off", ""}:
            return False
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if from_env:
            try:
                return int(str(value).strip())
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if from_env:
            try:
                return float(str(value).strip())
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    if typing.get_origin(hint) is tuple:
        if from_env:
            value = [part.strip() for part in str(value).split(",") if part.strip()]
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ConfigError(f"{where}: expected a list of strings, got {value!r}")
    raise ConfigError(f"{where}: unsupported type {hint!r}")  # pragma: no cover - a programming error


def _build_section(name: str, raw: Mapping[str, object], env: Mapping[str, str], source: str) -> object:
    cls = _SECTIONS[name]
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in known:
            raise ConfigError(
                f"{source}: unknown key [{name}] {key!r} (known keys: {', '.join(sorted(known))})"
            )
    values: dict[str, object] = {}
    for key in known:
        env_name = f"BOT_{name.upper()}_{key.upper()}"
        if env_name in env:
            values[key] = _coerce(env[env_name], hints[key], f"${env_name}")
            _check_range(values[key], env[env_name].strip(), name, key, f"${env_name} ([{name}] {key})")
        elif key in raw:
            values[key] = _coerce(raw[key], hints[key], f"{source}: [{name}] {key}")
            _check_range(values[key], raw[key], name, key, f"{source}: [{name}] {key}")
    return cls(**values)


def _validate(cfg: Config, env: Mapping[str, str]) -> None:
    try:
        cfg.mailbox.since_date
    except ValueError as err:
        raise ConfigError(f"{cfg.source}: [mailbox] since: expected YYYY-MM-DD, got {cfg.mailbox.since!r}") from err
    from bot.intake.connect import validate_servers

    validate_servers(cfg, env)
    if cfg.log.format not in ("text", "json"):
        raise ConfigError(f"{cfg.source}: [log] format: \"text\" or \"json\", got {cfg.log.format!r}")
    try:
        cfg.office.tz
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ConfigError(f"{cfg.source}: [office] timezone: unknown time zone {cfg.office.timezone!r}") from err
    try:
        cfg.office.cutoff_time
    except ValueError as err:
        raise ConfigError(f"{cfg.source}: [office] cutoff: expected HH:MM, got {cfg.office.cutoff!r}") from err
    try:
        cfg.office.digest_time_of_day
    except ValueError as err:
        raise ConfigError(f"{cfg.source}: [office] digest_time: expected HH:MM, got {cfg.office.digest_time!r}") from err
    try:
        cfg.vendor.link_items_time_of_day
    except ValueError as err:
        raise ConfigError(
            f"{cfg.source}: [vendor] link_items_time: expected HH:MM, got {cfg.vendor.link_items_time!r}") from err
    try:
        cfg.office.company_holiday_dates
    except ValueError as err:
        raise ConfigError(
            f"{cfg.source}: [office] company_holidays: expected YYYY-MM-DD dates ({err})"
        ) from err
    if cfg.branches.file:
        from bot.domain.branches import BranchDirectoryError, load_directory

        try:
            load_directory(cfg.branches.file)
        except BranchDirectoryError as err:
            raise ConfigError(f"{cfg.source}: [branches] file: {err}") from err
    from bot.checks.authentication import POLICIES

    if cfg.senders.authentication not in POLICIES:
        raise ConfigError(f"{cfg.source}: [senders] authentication: expected one of {', '.join(POLICIES)}, "
                          f"got {cfg.senders.authentication!r}")
    if cfg.senders.authentication != "off" and not cfg.senders.authserv_id.strip():
        raise ConfigError(f"{cfg.source}: [senders] authserv_id: required when authentication is "
                          f"{cfg.senders.authentication!r} (the authserv-id our MTA writes in Authentication-Results)")
    # Numbers were range-checked as they were read (RANGES), where it is known whether the value
    # came from the file or the environment.
    from bot.db import DatabaseUrlError, check_url

    try:
        check_url(cfg.database.url)
    except DatabaseUrlError as err:
        origin = "$BOT_DATABASE_URL" if "BOT_DATABASE_URL" in env else cfg.source
        raise ConfigError(f"{origin}: {err}") from err
    if cfg.scans.integrated not in ("hold", "decide"):
        raise ConfigError(f"{cfg.source}: [scans] integrated: \"hold\" or \"decide\", got {cfg.scans.integrated!r}")
    if cfg.corporate.vendor_separate not in ("csv", "section"):
        raise ConfigError(f"{cfg.source}: [corporate] vendor_separate: \"csv\" or \"section\", "
                          f"got {cfg.corporate.vendor_separate!r}")
    if not cfg.corporate.prefix.strip():
        raise ConfigError(f"{cfg.source}: [corporate] prefix: must not be empty")
    try:
        "テスト".encode(cfg.vendor.encoding)
    except LookupError as err:
        raise ConfigError(f"{cfg.source}: [vendor] encoding: unknown encoding {cfg.vendor.encoding!r}") from err


def load_config(path: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None) -> Config:
    """Read the config: explicit path, else $BOT_CONFIG, else ./config.toml, else defaults."""
    env = os.environ if env is None else env
    chosen: Path | None = None
    if path is not None:
        chosen = Path(path)
        if not chosen.is_file():
            raise ConfigError(f"config file not found: {chosen}")
    elif env.get("BOT_CONFIG"):
        chosen = Path(env["BOT_CONFIG"])
        if not chosen.is_file():
            raise ConfigError(f"config file not found: {chosen} (from $BOT_CONFIG)")
    elif Path("config.toml").is_file():
        chosen = Path("config.toml")

    data: dict[str, object] = {}
    source = "(defaults)"
    if chosen is not None:
        source = str(chosen)
        try:
            data = tomllib.loads(read_config_text(chosen))
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{source}: not valid TOML: {err}") from err

    for section in data:
        if section not in _SECTIONS:
            raise ConfigError(
                f"{source}: unknown section [{section}] (known: {', '.join(sorted(_SECTIONS))})"
            )
        if not isinstance(data[section], dict):
            raise ConfigError(f"{source}: [{section}] must be a table")
    for env_name in env:
        if env_name.startswith("BOT_") and env_name != "BOT_CONFIG":
            _check_env_name(env_name)

    sections = {
        name: _build_section(name, typing.cast(dict, data.get(name, {})), env, source) for name in _SECTIONS
    }
    cfg = Config(**sections, source=source)  # type: ignore[arg-type]
    _validate(cfg, env)
    return cfg


def read_config_text(path: Path) -> str:
    """The config file as text. TOML is UTF-8 by its spec, and so is this file: with or
    without the BOM that Windows Notepad's 「UTF-8 (BOM付き)」 writes, or UTF-16 with its BOM
    (Notepad's 「Unicode」), both of which say what they are. Anything else, above all a file
    saved as Shift_JIS/CP932 (Notepad's 「ANSI」 on a Japanese Windows), is refused with the line
    of the first bad byte and how to save it right, never decoded by a guess: bytes that decode
    as CP932 need not be CP932 (EUC-JP does too, as different characters), and a wrong guess
    would silently change a password or a UNIS column name instead of stopping at start-up."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"{path}: 設定ファイルを読めません / cannot read the config file: {err.strerror} "
                          "(the bot's user needs read access)") from err
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                          (codecs.BOM_UTF16_BE, "utf-16-be")):
        if raw.startswith(bom):
            body, label = raw[len(bom):], f"{encoding} with BOM"
            break
    else:
        body, encoding, label = raw, "utf-8", "utf-8"
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as err:
        line = body.count(b"\n", 0, err.start) + 1
        hint = convert = ""
        if encoding == "utf-8":
            try:
                body.decode("cp932")
                hint = "; it looks like Shift_JIS (CP932)"
                convert = f", or convert it: iconv -f CP932 -t UTF-8 {path} > {path}.utf8 && mv {path}.utf8 {path}"
            except UnicodeDecodeError:
                pass
        raise ConfigError(
            f"{path}: 文字コードがUTF-8ではありません / not UTF-8 text (line {line}: byte 0x{body[err.start]:02x}"
            f"{hint}). TOML files are UTF-8: save it as UTF-8 (メモ帳: 名前を付けて保存 → 文字コード「UTF-8」)"
            f"{convert}") from err
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise ConfigError(f"{path}: NUL文字があります / contains a NUL character (line {line}): UTF-16 without a BOM? "
                          "Save it as UTF-8")
    log.debug("config %s read as %s", path, label)
    return text


def _check_env_name(env_name: str) -> None:
    """A BOT_* variable that matches no key is a typo worth stopping for."""
    rest = env_name[len("BOT_"):].lower()
    for section, cls in _SECTIONS.items():
        if rest.startswith(section + "_"):
            key = rest[len(section) + 1:]
            if key in {f.name for f in dataclasses.fields(cls)}:
                return
    raise ConfigError(f"${env_name}: no such config key (expected BOT_<SECTION>_<KEY>)")


def describe(cfg: Config) -> dict[str, dict[str, object]]:
    """The effective config with secrets masked, for `bot config` style output and logs."""
    out: dict[str, dict[str, object]] = {}
    for name in _SECTIONS:
        section = getattr(cfg, name)
        out[name] = {
            k: ("***" if ("password" in k or k in ("secret_key", "client_secret", "refresh_token")) and v else v)
            for k, v in dataclasses.asdict(section).items()
        }
    return out

