"""The config's sections: one frozen dataclass per [section] of config.toml, with its defaults
and why (bot/config/load.py reads the file into them)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from bot.checks.base import SCAN_REJECT_CODES, SCAN_TERMINATION_REJECT_CODES
from bot.domain.config_error import (
    ConfigError as ConfigError,  # below the checks that raise it
)
from bot.config.limits import Limits

log = logging.getLogger("bot.config")


@dataclass(frozen=True)
class MailboxConfig:
    """[mailbox]: the usen_spot IMAP mailbox (受付メールボックス)."""

    host: str = "127.0.0.1"
    port: int = 143
    user: str = "usen_spot"
    password: str = ""
    # Transport security (bot/intake/connect.py): "tls" (implicit TLS, port 993), "starttls" (port 143,
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
        from bot.intake.connect import resolve_security

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
        from bot.intake.connect import resolve_security

        return resolve_security(self.security, tls_alias=False, starttls_alias=self.starttls, port=self.port,
                                host=self.host, tls_port=465)

    @property
    def auth_mode(self) -> str:
        return self.auth or ("password" if self.user else "none")


@dataclass(frozen=True)
class OAuth2Config:
    """[oauth2]: the token for `auth = "oauth2"` (SASL XOAUTH2/OAUTHBEARER; bot/intake/oauth2.py).
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
    refresh_token_file: str = ""  # where a rotated refresh token is kept (0600; bot/intake/oauth2_store.py)


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
    # Who may send the kinds only a role sends (DESIGN.md; addresses or domains, as [corporate]
    # senders): 登録通知書発送依頼 the support center (CS), ルーター交換依頼 テクニカルサポート課,
    # リンク品使用連絡 an engineer or テクサポ課. Empty: such mails are held for a person.
    support: tuple[str, ...] = ()
    techsupport: tuple[str, ...] = ()
    engineers: tuple[str, ...] = ()


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
    # 「リンク品使用連絡」 (bot/jobs/link_items.py): FG社 and UTS, each business morning at this time,
    # the link items reported on the business day before.
    link_items_to: tuple[str, ...] = ()
    link_items_time: str = "09:30"

    @property
    def link_items_time_of_day(self) -> dt.time:
        return dt.time.fromisoformat(self.link_items_time)


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
    # The audit's window (bot/unis/audit.py): a finding on a line confirmed (or, unconfirmed, due)
    # more than this many days before the audit first saw it is historic: kept, summed up in
    # the digest, never listed to the branches (0: every finding is current).
    audit_window_days: int = 30
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
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in ("drop_dir", "audit_window_days")}


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
    """[retention]: how long the bot keeps what it stored (bot/jobs/retention.py, a daily job; 0: for
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
