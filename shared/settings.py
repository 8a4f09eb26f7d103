"""Connection settings and secrets from ``.env`` (pydantic-settings).

The names are the ones the user's original set-up documents use (``IBKR_HOST``, ``IBKR_PORT``,
``TRADING_MODE``, ``SMTP_SERVER`` …). Every value is validated when a process starts; an invalid or
unknown key stops the process with one line naming the key (see :func:`shared.config.load_or_exit`).

Safety: paper trading is the default. Live trading needs all three of ``TRADING_MODE=live``, a live
port (7496 TWS / 4001 Gateway) and ``LIVE_TRADING_CONFIRM`` set to :data:`LIVE_CONFIRM_PHRASE`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: TWS / IB Gateway ports that reach a live (real-money) account.
LIVE_PORTS = frozenset({7496, 4001})
#: TWS / IB Gateway ports of a paper account.
PAPER_PORTS = frozenset({7497, 4002})
#: The exact value ``LIVE_TRADING_CONFIRM`` must have before anything trades real money.
LIVE_CONFIRM_PHRASE = "I-ACCEPT-REAL-MONEY-RISK"


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

    # --- Storage, logs, strategy ----------------------------------------------------------
    DATABASE_URL: str = Field("sqlite:///data/thetawheel.db", min_length=1)
    THETAWHEEL_CONFIG: Path = Field(Path("config/thetawheel.toml"), description="Strategy file (TOML).")
    LOG_DIR: Path = Field(Path("logs"))
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # --- Dashboard --------------------------------------------------------------------------
    DASHBOARD_HOST: str = Field("127.0.0.1", min_length=1)
    DASHBOARD_PORT: int = Field(7001, ge=1, le=65535)
    DASHBOARD_SECRET_KEY: SecretStr = Field(
        SecretStr(""), description="Signs CSRF tokens; generated into data/ when empty."
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
