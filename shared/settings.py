"""Connection settings and secrets from ``.env`` (pydantic-settings).

The names are the ones the user's original set-up documents use (``IBKR_HOST``, ``IBKR_PORT``,
``TRADING_MODE``, ``SMTP_SERVER`` …). Every value is validated when a process starts; an invalid or
unknown key stops the process with one line naming the key (see :func:`shared.config.load_or_exit`).

Precedence: a variable set in the environment (the shell, or ``env X=…`` in ``Procfile.demo``) wins over
the same key in ``.env``, which wins over the defaults here (pydantic-settings' own order). ``.env`` itself is
read strictly by :func:`read_env_file`: a key given twice, a line without ``=`` or bytes that are not UTF-8
are problems, never guessed at. Numbers must be written as numbers: ``IBKR_PORT=7497.0``, ``=true`` or
``=inf`` are refused, not coerced.

Safety: paper trading is the default. Live trading needs all three of ``TRADING_MODE=live``, a live
port (7496 TWS / 4001 Gateway) and ``LIVE_TRADING_CONFIRM`` set to :data:`LIVE_CONFIRM_PHRASE`.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from dotenv.parser import parse_stream
from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.dashboardrules import (
    MIN_TOKEN_LENGTH,
    allowed_hosts,
    dashboard_token_problem,
    host_list_problem,
    is_loopback_host,
)
from shared.problems import SECRET_KEY_PARTS, hide_url_password, non_utf8_lines
from shared.twswindows import DEFAULT_WINDOWS, RestartWindow, parse_windows

#: TWS / IB Gateway ports that reach a live (real-money) account.
LIVE_PORTS = frozenset({7496, 4001})
#: TWS / IB Gateway ports of a paper account.
PAPER_PORTS = frozenset({7497, 4002})
#: The exact value ``LIVE_TRADING_CONFIRM`` must have before anything trades real money.
LIVE_CONFIRM_PHRASE = "I-ACCEPT-REAL-MONEY-RISK"
#: The databases thetawheel runs on (SQLAlchemy back-end names of ``DATABASE_URL``).
SUPPORTED_DATABASES = ("sqlite", "postgresql")

#: A setting's name at the start of a ``.env`` line (settings are upper case).
_KEY = re.compile(r"^\s*(?:export\s+)?([A-Z_][A-Z0-9_]*)\b")
_INTEGER = re.compile(r"^[+-]?[0-9]+$")
_DECIMAL = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$")
_NOT_FINITE = frozenset({"inf", "+inf", "-inf", "infinity", "+infinity", "-infinity", "nan", "+nan", "-nan"})


@dataclass
class EnvFile:
    """What :func:`read_env_file` found: the values of the lines it could read, and one line per problem."""

    values: dict[str, str | None] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    #: False when the file is not UTF-8 text: pydantic-settings cannot read it then.
    readable: bool = True


def _key_of(text: str) -> str | None:
    match = _KEY.match(text)
    return match.group(1) if match else None


def _joined(numbers: list[int]) -> str:
    words = [str(n) for n in numbers]
    return ", ".join(words[:-1]) + f" and {words[-1]}" if len(words) > 1 else words[0]


def read_env_file(path: str | Path) -> EnvFile:
    """Read ``path`` (a ``.env`` file) the way python-dotenv does, but report what it would silently
    accept or guess at: bytes that are not UTF-8, a key given twice (dotenv keeps the last) and a line
    that is neither ``KEY=value``, a comment nor blank (dotenv drops it). A missing file is no problem."""
    name = str(path)
    path = Path(path)
    if not path.exists():
        return EnvFile()
    if path.is_dir():
        return EnvFile(problems=[f"{name}: is a folder, not a settings file"], readable=False)
    try:
        raw = path.read_bytes()
    except OSError as err:
        return EnvFile(problems=[f"{name}: cannot be read: {err.strerror or err}"], readable=False)
    out = EnvFile(readable=not non_utf8_lines(raw))
    found: list[tuple[int, str]] = []  # (line number, problem), sorted by line at the end
    for number, line, byte in non_utf8_lines(raw):
        key = _key_of(line) if "=" in line and "\ufffd" not in line.split("=", 1)[0] else None
        where = f"{key}: {name} line {number}" if key else f"{name} line {number}"
        found.append((number, f"{where} is not UTF-8 text (byte 0x{byte:02x}); save {name} as UTF-8"))
    lines_of: dict[str, list[int]] = {}
    for binding in parse_stream(io.StringIO(raw.decode("utf-8", errors="replace"))):
        original = binding.original.string
        text = original.strip()
        # a binding's text starts with the blank lines before it; its own line comes after them
        number = binding.original.line + original[: len(original) - len(original.lstrip())].count("\n")
        if binding.error or (binding.key is not None and binding.value is None):
            key = _key_of(text)
            where = f"{key}: {name} line {number}" if key else f"{name} line {number}"
            what = "cannot be read" if "=" in text else "has no '='"
            secret = key is not None and any(part in key.upper() for part in SECRET_KEY_PARTS)
            shown = "" if secret else f": {text!r}"
            hint = f"write {key or 'KEY'}=value, or start the line with # to make it a comment"
            found.append((number, f"{where} {what}{shown} ({hint})"))
            continue
        if binding.key is None:  # a comment or a blank line
            continue
        lines_of.setdefault(binding.key, []).append(number)
        out.values[binding.key] = binding.value
    for key, numbers in lines_of.items():
        if len(numbers) > 1:
            times = "twice" if len(numbers) == 2 else f"{len(numbers)} times"
            found.append((numbers[-1], f"{key}: set {times} in {name} (lines {_joined(numbers)}); keep one"))
    out.problems = [problem for _, problem in sorted(found, key=lambda item: item[0])]
    return out


class Settings(BaseSettings):
    """Process-wide settings read from the environment and the ``.env`` file.

    Raises ``pydantic.ValidationError`` on a missing, unknown or invalid key; callers turn it into
    one line with :func:`shared.config.format_validation_error`.
    """

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="forbid",
        case_sensitive=True,
        validate_default=True,
        allow_inf_nan=False,
    )

    # --- TWS / IB Gateway -------------------------------------------------------------------
    IBKR_HOST: str = Field("127.0.0.1", min_length=1, description="Host running TWS or IB Gateway.")
    IBKR_PORT: int = Field(
        7497, ge=1, le=65535, description="API socket port: 7497 TWS paper, 7496 TWS live, 4002/4001 Gateway."
    )
    TRADING_MODE: Literal["paper", "live"] = Field("paper", description="paper (default) or live.")
    LIVE_TRADING_CONFIRM: str = Field("", description=f"Must be {LIVE_CONFIRM_PHRASE} for live trading.")
    TWS_ACCOUNT: str = Field("", description="Account id (DU… for paper); empty = the first managed account.")
    IBKR_CONNECT_TIMEOUT: float = Field(10.0, gt=0, le=300, description="Seconds per connection attempt.")
    IBKR_MARKET_DATA_TYPE: int = Field(
        1, ge=1, le=4, description="1 live, 2 frozen, 3 delayed, 4 delayed-frozen (paper often needs 3 or 4)."
    )
    MARKET_HOURS: Literal["exchange", "always"] = Field(
        "exchange",
        description="exchange (default): new orders only in the NYSE's regular hours (XNYS calendar); "
        "always: at any hour — paper only, for the simulator's --hours always demo.",
    )

    # --- Storage, logs, strategy ----------------------------------------------------------
    DATABASE_URL: str = Field("sqlite:///data/thetawheel.db", min_length=1)
    THETAWHEEL_CONFIG: Path = Field(Path("config/thetawheel.toml"), description="Strategy file (TOML).")
    LOG_DIR: Path = Field(Path("logs"))
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # --- Dashboard --------------------------------------------------------------------------
    DASHBOARD_HOST: str = Field("127.0.0.1", min_length=1)
    DASHBOARD_PORT: int = Field(7001, ge=1, le=65535)
    DASHBOARD_REFRESH_SECONDS: int = Field(
        30, ge=0, le=3600, description="Seconds between the pages' live updates (0: never)."
    )
    DASHBOARD_SECRET_KEY: SecretStr = Field(
        SecretStr(""), description="Signs CSRF tokens; generated into data/ when empty."
    )
    DASHBOARD_ALLOWED_HOSTS: str = Field(
        "",
        description="Further host names the dashboard answers to (comma-separated, e.g. "
        "wheel.lan,192.168.1.5); localhost, 127.0.0.1, [::1] and DASHBOARD_HOST always are.",
    )
    DASHBOARD_TOKEN: SecretStr = Field(
        SecretStr(""),
        description=f"Login token (at least {MIN_TOKEN_LENGTH} characters); required when DASHBOARD_HOST "
        "is not a loopback address.",
    )
    DASHBOARD_SECURE_COOKIE: bool = Field(
        False, description="true: the session cookie is sent over HTTPS only (the dashboard is behind TLS)."
    )

    # --- Email alerts (SMTP with STARTTLS) -------------------------------------------------------
    SMTP_SERVER: str = ""
    SMTP_PORT: int = Field(587, ge=1, le=65535)
    SMTP_STARTTLS: bool = True
    SMTP_CA_FILE: Path | None = Field(None, description="Extra CA bundle to trust for the SMTP server.")
    EMAIL_FROM: str = ""
    EMAIL_TO: str = ""
    EMAIL_PASSWORD: SecretStr = SecretStr("")

    # --- SMS alerts (Twilio) -----------------------------------------------------------------------
    TWILIO_ACCOUNT_SID: str = ""
    TWILIO_AUTH_TOKEN: SecretStr = SecretStr("")
    TWILIO_FROM_NUMBER: str = ""
    TWILIO_TO_NUMBER: str = ""
    TWILIO_API_BASE_URL: str = Field(
        "", description="Override of https://api.twilio.com (a proxy, or a local server in tests)."
    )

    # --- Scanner: optional earnings dates from yfinance (scanner/earnings.py; never required) ------------
    EARNINGS_YFINANCE: bool = Field(
        True, description="Ask yfinance (if installed) for earnings dates once a day per symbol; false = off."
    )

    # --- Operations: log format and database backups ------------------------------------------------
    # JSON log files (shared/logsetup.py) and the monitor's online SQLite backups (shared/backup.py).
    LOG_JSON: bool = Field(
        False, description="Write logs/<component>.jsonl (JSON lines) instead of logs/<component>.log."
    )
    BACKUP_INTERVAL_MINUTES: float = Field(
        30.0, ge=0, le=1440, description="Minutes between the monitor's database backups; 0 = no backups."
    )
    BACKUP_KEEP: int = Field(48, ge=1, le=10000, description="Newest backups kept in data/backups/.")

    # --- Connection manager -------------------------------------------------------------------
    # Daily restart windows, the half-dead-socket probe, the message rate and the market-data line
    # budget of each process (shared/ibconn.py, shared/pacing.py, shared/twswindows.py).
    #: Default share of the account's market-data lines per process (90 % in all).
    LINE_SHARES: ClassVar[dict[str, float]] = {"monitor": 0.30, "scanner": 0.45, "executor": 0.15}
    #: At most this fraction of the account's lines is used by thetawheel (the rest: TWS, other tools).
    MAX_LINES_USED: ClassVar[float] = 0.90
    TWS_RESTART_WINDOWS: str = Field(
        DEFAULT_WINDOWS,
        description="TWS daily restart windows, HH:MM-HH:MM, comma-separated, US Eastern time; empty = none.",
    )
    IBKR_PROBE_INTERVAL: float = Field(
        30.0, ge=1, le=3600, description="Seconds between liveness probes (reqCurrentTime) of the connection."
    )
    IBKR_PROBE_TIMEOUT: float = Field(
        10.0, gt=0, le=300, description="Seconds a probe may take before the connection counts as dead."
    )
    IBKR_DISCONNECT_ALERT_SECONDS: float = Field(
        60.0,
        ge=0,
        le=86400,
        description="Seconds TWS may stay unreachable (outside a restart window) before an alert.",
    )
    IBKR_MAX_REQUESTS_PER_SECOND: int = Field(
        45,
        ge=10,
        le=45,
        description="Messages per second each process sends at most (counted in slices of 0.1-1 s, "
        "e.g. 9 per 0.2 s; IB's limit is 50, its recommended budget 45).",
    )
    IBKR_MARKET_DATA_LINES: int = Field(
        100, ge=10, le=10000, description="Simultaneous market-data lines of the account (100 by default)."
    )
    IBKR_LINES_MONITOR: int = Field(
        0, ge=0, description="Monitor's lines; 0 = 30 % of IBKR_MARKET_DATA_LINES."
    )
    IBKR_LINES_SCANNER: int = Field(
        0, ge=0, description="Scanner's lines; 0 = 45 % of IBKR_MARKET_DATA_LINES."
    )
    IBKR_LINES_EXECUTOR: int = Field(
        0, ge=0, description="Executor's lines; 0 = 15 % of IBKR_MARKET_DATA_LINES."
    )

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_as_written(cls, value: Any, info: ValidationInfo) -> Any:
        """Numbers from ``.env`` must be written as numbers: ``7497.5``, ``7_497``, ``true`` or ``inf``
        where a port belongs are refused, never rounded or read as 1."""
        kind = cls.model_fields[info.field_name].annotation if info.field_name else None
        if kind not in (int, float):
            return value
        if isinstance(value, bool):
            raise ValueError(
                f"Input should be a {'valid integer' if kind is int else 'valid number'}, not a boolean"
            )
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.lower() in _NOT_FINITE:
            raise ValueError("Input should be a finite number")
        if kind is int and not _INTEGER.match(text):
            raise ValueError("Input should be a valid integer, written with digits only")
        if kind is float and not _DECIMAL.match(text):
            raise ValueError("Input should be a valid number, written like 30 or 0.5")
        return value

    @field_validator("DATABASE_URL")
    @classmethod
    def _database_supported(cls, value: str) -> str:
        """Only SQLite and PostgreSQL URLs, with a driver SQLAlchemy knows."""
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        shown = hide_url_password(value)
        examples = "sqlite:///data/thetawheel.db or postgresql://user@host/dbname"
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(f"not a database URL (got {shown!r}); write it like {examples}") from None
        backend = url.get_backend_name()
        if backend not in SUPPORTED_DATABASES:
            raise ValueError(
                f"unsupported database {backend!r} (got {shown!r}); thetawheel supports "
                f"{' and '.join(SUPPORTED_DATABASES)}: {examples}"
            )
        try:
            url.get_dialect()
        except NoSuchModuleError:
            raise ValueError(
                f"unknown {backend} driver {url.get_driver_name()!r} (got {shown!r}); "
                f"write it like {examples}"
            ) from None
        return value

    @field_validator("TWS_RESTART_WINDOWS")
    @classmethod
    def _windows_parse(cls, value: str) -> str:
        parse_windows(value)  # raises ValueError naming the bad window
        return value

    @field_validator("DASHBOARD_ALLOWED_HOSTS")
    @classmethod
    def _hosts_parse(cls, value: str) -> str:
        """Comma-separated host names or addresses, without scheme, port or path."""
        problem = host_list_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @property
    def allowed_hosts(self) -> list[str]:
        """The host names the dashboard answers to (:func:`shared.dashboardrules.allowed_hosts`)."""
        return allowed_hosts(self.DASHBOARD_HOST, self.DASHBOARD_ALLOWED_HOSTS)

    @property
    def login_required(self) -> bool:
        """True when the dashboard binds beyond loopback: every request then needs the token login."""
        return not is_loopback_host(self.DASHBOARD_HOST)

    @model_validator(mode="after")
    def _token_beyond_loopback(self) -> Settings:
        """A dashboard reachable from other machines needs a ``DASHBOARD_TOKEN`` of 16+ characters."""
        problem = dashboard_token_problem(self.DASHBOARD_HOST, self.DASHBOARD_TOKEN.get_secret_value())
        if problem:
            raise ValueError(problem)
        return self

    @property
    def restart_windows(self) -> tuple[RestartWindow, ...]:
        """``TWS_RESTART_WINDOWS`` parsed."""
        return parse_windows(self.TWS_RESTART_WINDOWS)

    def market_data_lines(self, component: str) -> int:
        """The market-data line budget of ``component`` (monitor, scanner or executor)."""
        explicit = {
            "monitor": self.IBKR_LINES_MONITOR,
            "scanner": self.IBKR_LINES_SCANNER,
            "executor": self.IBKR_LINES_EXECUTOR,
        }[component]
        return explicit or max(1, int(self.IBKR_MARKET_DATA_LINES * self.LINE_SHARES[component] + 1e-9))

    @model_validator(mode="after")
    def _lines_within_the_account(self) -> Settings:
        """The three budgets together may use at most 90 % of the account's lines."""
        total = sum(self.market_data_lines(c) for c in self.LINE_SHARES)
        allowed = int(self.IBKR_MARKET_DATA_LINES * self.MAX_LINES_USED + 1e-9)
        if total > allowed:
            raise ValueError(
                f"IBKR_LINES_MONITOR + IBKR_LINES_SCANNER + IBKR_LINES_EXECUTOR: {total} lines exceed "
                f"90 % of IBKR_MARKET_DATA_LINES={self.IBKR_MARKET_DATA_LINES} ({allowed})"
            )
        return self

    @model_validator(mode="after")
    def _paper_unless_said_three_times(self) -> Settings:
        """Refuse a live port in paper mode, and live mode without a live port and confirmation."""
        if self.TRADING_MODE == "paper" and self.IBKR_PORT in LIVE_PORTS:
            raise ValueError(
                f"IBKR_PORT: {self.IBKR_PORT} is a live-trading port but TRADING_MODE=paper "
                "(paper ports: 7497 TWS, 4002 Gateway)"
            )
        if self.TRADING_MODE == "live":
            missing = []
            if self.IBKR_PORT not in LIVE_PORTS:
                missing.append(f"IBKR_PORT must be a live port (7496 or 4001), got {self.IBKR_PORT}")
            if self.LIVE_TRADING_CONFIRM != LIVE_CONFIRM_PHRASE:
                missing.append(f"LIVE_TRADING_CONFIRM must be {LIVE_CONFIRM_PHRASE}")
            if self.MARKET_HOURS != "exchange":
                missing.append("MARKET_HOURS must be exchange (orders in regular trading hours only)")
            if missing:
                raise ValueError("TRADING_MODE=live: " + "; ".join(missing))
        return self

    @property
    def email_enabled(self) -> bool:
        """True when enough SMTP settings are present to send email."""
        return bool(self.SMTP_SERVER and self.EMAIL_FROM and self.EMAIL_TO)

    @property
    def sms_enabled(self) -> bool:
        """True when enough Twilio settings are present to send SMS."""
        return bool(
            self.TWILIO_ACCOUNT_SID
            and self.TWILIO_AUTH_TOKEN.get_secret_value()
            and self.TWILIO_FROM_NUMBER
            and self.TWILIO_TO_NUMBER
        )

    # --- Component watchdog (shared/watchdog.py) -------------------------------------------------
    HEARTBEAT_STALE_SECONDS: float = Field(
        60.0,
        ge=5,
        le=3600,
        description="Seconds without a heartbeat (and no clean stop) after which a component is down: "
        "one critical alert.",
    )
