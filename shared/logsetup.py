"""Logging for every component: stderr (honcho shows it) plus one file per component under ``LOG_DIR``,
rotated at midnight with 7 files kept (the user's set-up guide), with secrets masked.
"""

from __future__ import annotations

import logging
import logging.handlers
from collections.abc import Iterable
from pathlib import Path

from shared.settings import Settings

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
#: Daily log files kept per component.
LOG_BACKUPS = 7


class SecretMask(logging.Filter):
    """Replace every configured secret value in a log record's final message with ``***``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask secrets in the formatted message; always keeps the record."""
        if not self._secrets:
            return True
        msg = record.getMessage()
        masked = msg
        for secret in self._secrets:
            masked = masked.replace(secret, "***")
        if masked != msg:
            record.msg, record.args = masked, None
        return True


def secrets_of(settings: Settings) -> list[str]:
    """The secret values in ``settings`` that must never be logged."""
    return [
        settings.EMAIL_PASSWORD.get_secret_value(),
        settings.TWILIO_AUTH_TOKEN.get_secret_value(),
        settings.DASHBOARD_SECRET_KEY.get_secret_value(),
        settings.LIVE_TRADING_CONFIRM if settings.LIVE_TRADING_CONFIRM else "",
    ]


def setup_logging(component: str, settings: Settings) -> logging.Logger:
    """Configure the root logger for ``component`` and return the component's logger.

    Writes to stderr and to ``<LOG_DIR>/<component>.log`` (rotated daily, :data:`LOG_BACKUPS` kept).
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(settings.LOG_LEVEL)
    mask = SecretMask(secrets_of(settings))
    fmt = logging.Formatter(LOG_FORMAT)
    stream = logging.StreamHandler()
    handlers: list[logging.Handler] = [stream]
    log_dir = Path(settings.LOG_DIR)
    log_dir.mkdir(parents=True, exist_ok=True)
    handlers.append(
        logging.handlers.TimedRotatingFileHandler(
            log_dir / f"{component}.log", when="midnight", backupCount=LOG_BACKUPS, encoding="utf-8", utc=True
        )
    )
    for handler in handlers:
        handler.setFormatter(fmt)
        handler.addFilter(mask)
        root.addHandler(handler)
    # ib_async is chatty at INFO (every connect step); keep its warnings and errors.
    logging.getLogger("ib_async").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    return logging.getLogger(component)
