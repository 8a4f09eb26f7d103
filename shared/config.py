"""Load ``.env`` and the strategy file together, turning any problem into one clear line.

A process calls :func:`load_or_exit` first thing; on any bad setting it prints one line naming the
key (``config error: IBKR_PORT: …``) to stderr and exits with status 2, before it connects anywhere.
"""

from __future__ import annotations

import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from shared.settings import Settings
from shared.strategy import Strategy, load_strategy

#: Exit status of a process stopped by a bad setting.
CONFIG_EXIT_CODE = 2


@dataclass(frozen=True)
class Config:
    """Everything a process needs to start: connection settings and the strategy."""

    settings: Settings
    strategy: Strategy


class ConfigError(Exception):
    """A setting is missing, unknown or invalid; ``str()`` is one line naming the key(s)."""


def format_validation_error(err: ValidationError, prefix: str = "") -> str:
    """One line listing every problem as ``key: reason``; ``prefix`` qualifies nested keys."""
    parts = []
    for item in err.errors():
        loc = ".".join(str(p) for p in item["loc"] if p != "__root__")
        key = f"{prefix}{loc}" if loc else prefix.rstrip(".")
        msg = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            msg = "unknown key (not a thetawheel setting)"
        got = item.get("input")
        show = item["type"] not in ("extra_forbidden", "missing") and not isinstance(got, dict | list)
        if show and "PASSWORD" not in key and "TOKEN" not in key and "SECRET" not in key:
            msg = f"{msg} (got {got!r})"
        parts.append(f"{key}: {msg}" if key else msg)
    return "; ".join(parts)


def load_config(env_file: str | Path | None = ".env") -> Config:
    """Read and validate settings and strategy. Raises :class:`ConfigError` with one line."""
    try:
        settings = Settings(_env_file=env_file)  # type: ignore[call-arg]
    except ValidationError as err:
        raise ConfigError(format_validation_error(err)) from None
    path = settings.THETAWHEEL_CONFIG
    try:
        strategy = load_strategy(path)
    except FileNotFoundError:
        raise ConfigError(f"THETAWHEEL_CONFIG: strategy file {path} does not exist") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"THETAWHEEL_CONFIG: {path} is not valid TOML: {err}") from None
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, prefix=f"{path}: ")) from None
    return Config(settings=settings, strategy=strategy)


def load_or_exit(component: str, env_file: str | Path | None = ".env") -> Config:
    """:func:`load_config`, or print ``<component>: config error: …`` on one line and exit 2."""
    try:
        return load_config(env_file)
    except ConfigError as err:
        print(f"{component}: config error: {err}", file=sys.stderr, flush=True)
        raise SystemExit(CONFIG_EXIT_CODE) from None
