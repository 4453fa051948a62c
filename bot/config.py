"""Configuration: a TOML file → frozen dataclasses, every key overridable from the environment.

Where the file comes from: ``--config PATH``, else ``$BOT_CONFIG``, else ``./config.toml``,
else the built-in defaults (enough for ``bot process --dry-run`` and the demo).
Every key can be set as ``BOT_<SECTION>_<KEY>`` (``BOT_PDF_PASSWORD=uspot``) so no secret has
to sit in a file. An unknown section or key, a value of the wrong type, a number outside its
key's range (:data:`RANGES`), a file that is not UTF-8 (:func:`read_config_text`) or a database
URL this installation cannot open (:func:`bot.db.check_url`) is a :class:`ConfigError` that
names it; the command line turns it into exit code 2.
"""

from __future__ import annotations

import codecs
import dataclasses
import datetime as dt
import logging
import os
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.checks.base import SCAN_REJECT_CODES, SCAN_TERMINATION_REJECT_CODES
from bot.config_error import ConfigError as ConfigError  # below the checks that raise it
from bot.limits import RANGES as LIMIT_RANGES
from bot.limits import Limits

log = logging.getLogger("bot.config")


@dataclass(frozen=True)
class MailboxConfig:
    """[mailbox]: the usen_spot IMAP mailbox (受付メールボックス)."""

    host: str = "127.0.0.1"
    port: int = 143
    user: str = "usen_spot"
    password: str = ""
    # Transport security (bot/mail_connect.py): "tls" (implicit TLS, port 993), "starttls" (port 143,
    # refused when the server does not offer it) or "plain" (only where chosen). "" = derived:
    # `ssl = true` (kept as an alias of "tls") or port 993 → "tls", a loopback host → "plain",
    # any other host → "starttls".
    security: str = ""
    ssl: bool = False
    ca_file: str = ""  # PEM CA certificate(s) trusted for this server instead of the system store
    auth: str = "password"  # "password" or "oauth2" ([oauth2])
    folder: str = "INBOX"
    batch_size: int = 50
    poll_seconds: float = 60.0
    timeout: float = 30.0  # seconds for the connect, the TLS handshake and each command's answer
    # A mailbox with history: mails delivered before `since` (YYYY-MM-DD) or more than
    # `max_age_days` ago are left where they are, never fetched, never answered ("", 0: all).
    since: str = ""
    max_age_days: int = 0

    @property
    def since_date(self) -> dt.date | None:
        return dt.date.fromisoformat(self.since) if self.since else None

    @property
    def security_mode(self) -> str:
        from bot.mail_connect import resolve_security

        return resolve_security(self.security, tls_alias=self.ssl, starttls_alias=False, port=self.port,
                                host=self.host, tls_port=993)


@dataclass(frozen=True)
class SmtpConfig:
    """[smtp]: where replies, vendor batches and digests are sent."""

    host: str = "127.0.0.1"
    port: int = 25
    user: str = ""
    password: str = ""
    # As [mailbox] security: "tls" (port 465), "starttls" (587 or 25), "plain"; "" = derived
    # (`starttls = true` → "starttls", port 465 → "tls", loopback → "plain", else "starttls").
    security: str = ""
    starttls: bool = False
    ca_file: str = ""
    # "password", "oauth2" ([oauth2]) or "none"; "" = "password" when `user` is set, else "none".
    auth: str = ""
    from_addr: str = "usen_spot@mx.usen.co.jp"
    timeout: float = 30.0
    max_attempts: int = 48

    @property
    def security_mode(self) -> str:
        from bot.mail_connect import resolve_security

        return resolve_security(self.security, tls_alias=False, starttls_alias=self.starttls, port=self.port,
                                host=self.host, tls_port=465)

    @property
    def auth_mode(self) -> str:
        return self.auth or ("password" if self.user else "none")


@dataclass(frozen=True)
class OAuth2Config:
    """[oauth2]: the token for `auth = "oauth2"` (SASL XOAUTH2/OAUTHBEARER; bot/oauth2.py).
    microsoft: client credentials (client_secret) or a refresh token; google: a service account
    with domain-wide delegation (service_account_file) or a refresh token; generic: any RFC 6749
    token endpoint (token_url). Secrets come from the environment (BOT_OAUTH2_CLIENT_SECRET,
    BOT_OAUTH2_REFRESH_TOKEN) or from a file only the bot's user can read."""

    provider: str = ""  # "microsoft" | "google" | "generic"; "" = not used
    tenant: str = ""  # Microsoft Entra tenant (ID or domain)
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    refresh_token: str = field(default="", repr=False)
    service_account_file: str = ""  # Google service account key (JSON), mode 0600
    scope: str = ""  # space-separated; "" = the provider's mail scopes
    token_url: str = ""  # overrides the provider's token endpoint
    refresh_token_file: str = ""  # where a rotated refresh token is kept (0600; bot/oauth2_store.py)


@dataclass(frozen=True)
class PdfConfig:
    """[pdf]: the shared form password (既定のパスワード); size limits are in [limits]."""

    password: str = "uspot"


@dataclass(frozen=True)
class SendersConfig:
    """[senders]: who may write to the mailbox (許可ドメイン); subdomains are allowed too."""

    allowed_domains: tuple[str, ...] = ("usen.co.jp",)
    max_replies_per_hour: int = 20
    # Sender authentication (bot/checks/authentication.py): "off", "hold" or "ignore".
    authentication: str = "off"
    authserv_id: str = ""
    max_reply_recipients: int = 5


@dataclass(frozen=True)
class ScansConfig:
    """[scans]: how far a scanned form (申込書のスキャン) is decided without a person."""

    reject_codes: tuple[str, ...] = SCAN_REJECT_CODES
    # On the 300-form corpus every accept was right (docs/scans.md). An accepted scan goes to the
    # vendor with its pages, encrypted with [vendor] pdf_password: without that password set,
    # scans with no defect are held for a person (the reason names the key).
    accept: bool = True
    # A scanned 統合申込書: "hold" (default) holds every one for a person, with what the reader
    # found; "decide" decides it as a scanned ご加入申込書. On 240 generated integrated scans
    # (docs/scans.md, bench/bench_integrated_scans.py) the reader was sure and wrong about a
    # faint SPOT mark 4 times and about connection-type marks in its squeezed rows twice.
    integrated: str = "hold"
    # A scanned 解約申請書 is decided too (issue 19): sent back only for these defects, when its
    # reader is sure of them (a code or date read from print, a 解約日 cell surely empty); accepted
    # (with `accept` above) only when 顧客CD and 解約日 were read sure. Remove a code to have such
    # scans held for a person instead (docs/scans.md has the figures).
    termination_reject_codes: tuple[str, ...] = SCAN_TERMINATION_REJECT_CODES


@dataclass(frozen=True)
class DatabaseConfig:
    """[database]: SQLAlchemy URL; SQLite file by default, PostgreSQL in production."""

    url: str = "sqlite:///usen_spot_bot.sqlite3"


@dataclass(frozen=True)
class OfficeConfig:
    """[office]: 事務センター settings: time zone, the 17:00 cutoff, digest recipients."""

    timezone: str = "Asia/Tokyo"
    cutoff: str = "17:00"
    digest_to: tuple[str, ...] = ()
    digest_time: str = "08:30"
    company_holidays: tuple[str, ...] = ()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def cutoff_time(self) -> dt.time:
        return dt.time.fromisoformat(self.cutoff)

    @property
    def digest_time_of_day(self) -> dt.time:
        return dt.time.fromisoformat(self.digest_time)

    @property
    def company_holiday_dates(self) -> frozenset[dt.date]:
        return frozenset(dt.date.fromisoformat(d) for d in self.company_holidays)


@dataclass(frozen=True)
class VendorConfig:
    """[vendor]: the router vendor (ファイバーゲート社) batch mail."""

    to: tuple[str, ...] = ()
    encoding: str = "cp932"
    # Password of the scanned forms (申込書) attached to the batch (AES-256); set it as
    # $BOT_VENDOR_PDF_PASSWORD. A batch carrying a scanned form is refused while it is empty.
    pdf_password: str = ""


@dataclass(frozen=True)
class TemplatesConfig:
    """[templates]: an admin folder whose templates override the built-in ones."""

    dir: str = ""


@dataclass(frozen=True)
class BranchesConfig:
    """[branches]: the branch directory (支店一覧: 支店名, ドメイン, 支店長), CSV or TOML."""

    file: str = ""


@dataclass(frozen=True)
class UnisConfig:
    """[unis]: the UNIS order extract (UNIS受注データ): column names of the real extract, and a
    drop folder the daemon imports new files from."""

    drop_dir: str = ""
    customer_code: str = "顧客番号"
    contract_no: str = "契約番号"
    line_no: str = "明細番号"
    item_code: str = "契約品目"
    item_name: str = "品目名"
    status: str = "契約状態"
    shop_name: str = "店舗名"
    branch: str = "管轄支店"
    contract_type: str = "契約種類"
    acquisition: str = "獲得区分"
    planned_date: str = "完成予定日"
    confirmed_date: str = "確定日"
    serial: str = "シリアルNo"
    remarks: str = "明細備考"
    cancel_date: str = "キャンセル日"
    termination_date: str = "解約日"

    @property
    def columns(self) -> dict[str, str]:
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "drop_dir"}


@dataclass(frozen=True)
class WebConfig:
    """[web]: the office console (`bot web`): where it listens, its sessions and login limits."""

    host: str = "127.0.0.1"
    port: int = 8080
    # Signs the console's CSRF tokens; set it as $BOT_WEB_SECRET_KEY, never in the file.
    secret_key: str = ""
    # Cookies get the Secure flag (also whenever a request arrives over https).
    https: bool = False
    session_minutes: int = 600
    idle_minutes: int = 60
    login_window_minutes: int = 15
    login_failures_per_user: int = 5
    login_failures_per_ip: int = 20
    # `bot run` also serves the console (same host/port/key) from a thread of the daemon.
    in_run: bool = False


@dataclass(frozen=True)
class HealthConfig:
    """[health]: `bot run` serves /healthz and Prometheus /metrics on this port (0: off)."""

    host: str = "127.0.0.1"
    port: int = 0


@dataclass(frozen=True)
class RetentionConfig:
    """[retention]: how long the bot keeps what it stored (bot/retention.py, a daily job; 0: for
    ever). Counted from when a mail was finished (filed away, or closed by a person). The
    decision, its reasons, the ledger (管理台帳) and its history, the vendor rows and the UNIS data
    are the office's records (帳簿書類, 7 years): `records_years` for decided mails' rows; the
    ledger, vendor rows and UNIS data are never deleted by the bot. The IMAP folders (Processed,
    Rejected, …) are left to the mail server (docs/operations.md: Dovecot autoexpunge)."""

    raw_mail_days: int = 90  # the raw mail (body, attachments) and its search text
    sent_mail_days: int = 90  # the bytes of sent replies, vendor batches and digests
    records_years: int = 7  # a finished mail's row: decision, reasons, facts read
    unis_done_days: int = 90  # files in [unis] drop_dir done/ and failed/
    audit_days: int = 2557  # console audit log: who did what to which mail (7 years)
    login_days: int = 90  # console logins, failed logins and logouts (with the IP)


@dataclass(frozen=True)
class LogConfig:
    """[log]: "text" (one readable line per event) or "json" (one JSON object per line, for a
    log shipper); `file` appends there instead of stderr (rotation is the system's: logrotate
    with copytruncate, or journald when the file is empty)."""

    format: str = "text"
    file: str = ""


@dataclass(frozen=True)
class CorporateConfig:
    """[corporate]: 法人一括発注依頼 (manual §IX), the corporate sales' bulk order with a customer
    list (.xlsx or .csv): who may send it, where the list goes for UNIS registration (登録G), how
    the vendor batch keeps its routers apart, and the caps on reading the list."""

    prefix: str = "法人一括発注依頼"
    # Addresses (taro@hojin.usen.co.jp) or domains (hojin.usen.co.jp, subdomains too) of 法人営業;
    # a corporate order from anyone else is held for a person, never acted on. Empty: nobody.
    senders: tuple[str, ...] = ()
    registration_to: tuple[str, ...] = ()  # 登録G: gets the list with the management numbers
    vendor_separate: str = "csv"  # "csv": its own CSV in the batch mail; "section": after the district rows
    max_bytes: int = 5_000_000  # the list as attached
    max_rows: int = 2_000  # rows of the list (one per site)
    # An .xlsx is a zip of XML: the sum of its members' declared sizes (a zip bomb declares a lot).
    max_unzipped_bytes: int = 50_000_000


@dataclass(frozen=True)
class Config:
    mailbox: MailboxConfig = field(default_factory=MailboxConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    oauth2: OAuth2Config = field(default_factory=OAuth2Config)
    pdf: PdfConfig = field(default_factory=PdfConfig)
    senders: SendersConfig = field(default_factory=SendersConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    office: OfficeConfig = field(default_factory=OfficeConfig)
    vendor: VendorConfig = field(default_factory=VendorConfig)
    templates: TemplatesConfig = field(default_factory=TemplatesConfig)
    branches: BranchesConfig = field(default_factory=BranchesConfig)
    unis: UnisConfig = field(default_factory=UnisConfig)
    limits: Limits = field(default_factory=Limits)
    scans: ScansConfig = field(default_factory=ScansConfig)
    web: WebConfig = field(default_factory=WebConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    log: LogConfig = field(default_factory=LogConfig)
    corporate: CorporateConfig = field(default_factory=CorporateConfig)
    source: str = "(defaults)"

    def replace(self, **sections: object) -> Config:
        return dataclasses.replace(self, **sections)  # type: ignore[arg-type]


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
    from bot.mail_connect import validate_servers

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
        cfg.office.company_holiday_dates
    except ValueError as err:
        raise ConfigError(
            f"{cfg.source}: [office] company_holidays: expected YYYY-MM-DD dates ({err})"
        ) from err
    if cfg.branches.file:
        from bot.branches import BranchDirectoryError, load_directory

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

