"""Logging for every component: stderr (honcho shows it) plus one file per component under ``LOG_DIR``,
rotated at midnight UTC with 7 files kept (the user's set-up guide), with secrets masked.

``LOG_JSON=true`` makes the file ``<component>.jsonl``: one JSON object per record (``ts``, ``level``,
``component``, ``logger``, ``message``, any ``extra=`` fields, ``exc`` for a traceback); stderr stays text.
"""

from __future__ import annotations

import base64
import json
import logging
import logging.handlers
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.settings import Settings

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
#: Daily log files kept per component.
LOG_BACKUPS = 7
#: Secrets shorter than this are not masked (they would mask ordinary words).
MIN_SECRET_CHARS = 4
_MASK = "***"
#: Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def secret_forms(secret: str) -> set[str]:
    """``secret`` and the base64 forms auth protocols put on the wire (basic auth, SMTP AUTH)."""
    if len(secret) < MIN_SECRET_CHARS:
        return set()
    raw = secret.encode()
    return {secret, base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}


class SecretMask(logging.Filter):
    """Replace every configured secret (and its base64 forms) with ``***`` in a record's message, its
    traceback, its stack and its ``extra=`` text fields, before any handler formats it."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets: list[str] = []
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        """Mask these secrets too (e.g. a key generated after logging started)."""
        forms = set(self._secrets)
        for secret in secrets:
            forms |= secret_forms(secret or "")
        self._secrets = sorted(forms, key=len, reverse=True)  # a secret containing another masks whole

    def mask(self, text: str) -> str:
        """``text`` with every secret replaced."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, _MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the record in place; always keeps it."""
        if not self._secrets:
            return True
        msg = record.getMessage()
        masked = self.mask(msg)
        if masked != msg:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, key, self.mask(value))
        return True


def secrets_of(settings: Settings) -> list[str]:
    """The secret values in ``settings`` that must never be logged, with the combined strings the alert
    channels send (HTTP basic auth ``sid:token``, SMTP AUTH PLAIN ``\\0user\\0password``)."""
    password = settings.EMAIL_PASSWORD.get_secret_value()
    token = settings.TWILIO_AUTH_TOKEN.get_secret_value()
    out = [
        password,
        token,
        settings.DASHBOARD_SECRET_KEY.get_secret_value(),
        settings.DASHBOARD_TOKEN.get_secret_value(),
    ]
    if password:
        out.append(f"\0{settings.EMAIL_FROM}\0{password}")
    if token:
        out.append(f"{settings.TWILIO_ACCOUNT_SID}:{token}")
    return out


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts`` (ISO-8601 UTC, milliseconds), ``level``, ``component``,
    ``logger``, ``message``, the record's ``extra=`` fields and, for exceptions, ``exc``."""

    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "component": self.component,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in out:
                out[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        return json.dumps(out, default=str, ensure_ascii=False)


_active_mask: SecretMask | None = None


def mask_also(*secrets: str) -> None:
    """Add secrets to the running process's mask (no-op before :func:`setup_logging`)."""
    if _active_mask is not None:
        _active_mask.add(*secrets)


def log_file(component: str, settings: Settings) -> Path:
    """``<LOG_DIR>/<component>.log``, or ``.jsonl`` with ``LOG_JSON``."""
    return Path(settings.LOG_DIR) / f"{component}.{'jsonl' if settings.LOG_JSON else 'log'}"


def setup_logging(component: str, settings: Settings) -> logging.Logger:
    """Configure the root logger for ``component`` and return the component's logger.

    Writes text to stderr and to :func:`log_file` (rotated daily, :data:`LOG_BACKUPS` kept). Raises
    :class:`shared.config.ConfigError` naming ``LOG_DIR`` when the file cannot be created there.
    """
    global _active_mask
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(settings.LOG_LEVEL)
    _active_mask = mask = SecretMask(secrets_of(settings))
    stream = logging.StreamHandler()
    stream.setFormatter(logging.Formatter(LOG_FORMAT))
    path = log_file(component, settings)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        file = logging.handlers.TimedRotatingFileHandler(
            path, when="midnight", backupCount=LOG_BACKUPS, encoding="utf-8", utc=True
        )
    except OSError as err:  # load_config checked LOG_DIR already; this is the last line of defence
        from shared.config import ConfigError, folder_problem

        problem = folder_problem(path.parent) or f"cannot write {path}: {err.strerror or err}"
        raise ConfigError(f"LOG_DIR: {problem}") from None
    file.setFormatter(JsonFormatter(component) if settings.LOG_JSON else logging.Formatter(LOG_FORMAT))
    for handler in (stream, file):
        handler.addFilter(mask)
        root.addHandler(handler)
    # ib_async is chatty at INFO (every connect step); keep its warnings and errors.
    logging.getLogger("ib_async").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    return logging.getLogger(component)
