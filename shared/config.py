"""Load ``.env`` and the strategy file together, turning any problem into one clear line.

A process calls :func:`load_or_exit` first thing; on any bad setting it prints one line naming the
key (``config error: IBKR_PORT: …``) to stderr and exits with status 2, before it connects anywhere.
``thetawheel config check`` calls :func:`check_config`, which lists every problem of both files.
"""

from __future__ import annotations

import os
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values
from pydantic import BaseModel, ValidationError

from shared.problems import problem_lines
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


def format_validation_error(
    err: ValidationError, prefix: str = "", model: type[BaseModel] | None = None
) -> str:
    """One line listing every problem (see :func:`shared.problems.problem_lines`), joined by ``; ``."""
    return "; ".join(problem_lines(err, model, prefix))


def read_settings(env_file: str | Path | None = ".env") -> tuple[Settings | None, list[str]]:
    """The settings, or ``None`` and one line per problem."""
    try:
        return Settings(_env_file=env_file), []  # type: ignore[call-arg]
    except ValidationError as err:
        return None, problem_lines(err, Settings)


def _read_strategy(path: Path) -> tuple[Strategy | None, list[str]]:
    try:
        return load_strategy(path), []
    except FileNotFoundError:
        return None, [f"THETAWHEEL_CONFIG: strategy file {path} does not exist"]
    except IsADirectoryError:
        return None, [f"THETAWHEEL_CONFIG: {path} is a folder, not a strategy file"]
    except tomllib.TOMLDecodeError as err:
        return None, [f"THETAWHEEL_CONFIG: {path} is not valid TOML: {err}"]
    except ValidationError as err:
        return None, problem_lines(err, Strategy, prefix=f"{path}: ")


def _strategy_path_anyway(env_file: str | Path | None) -> Path:
    """``THETAWHEEL_CONFIG`` as the process would see it, read without validating the other keys."""
    if "THETAWHEEL_CONFIG" in os.environ:
        return Path(os.environ["THETAWHEEL_CONFIG"])
    if env_file is not None and Path(env_file).is_file():
        value = dotenv_values(env_file).get("THETAWHEEL_CONFIG")
        if value:
            return Path(value)
    return Path(str(Settings.model_fields["THETAWHEEL_CONFIG"].default))


def check_config(env_file: str | Path | None = ".env") -> list[str]:
    """Every problem of ``.env`` (and the environment) and of the strategy file, one line each.

    The strategy file is checked even when ``.env`` has errors, so a user sees everything at once.
    """
    settings, problems = read_settings(env_file)
    path = settings.THETAWHEEL_CONFIG if settings is not None else _strategy_path_anyway(env_file)
    return problems + _read_strategy(path)[1]


def load_config(env_file: str | Path | None = ".env") -> Config:
    """Read and validate settings and strategy. Raises :class:`ConfigError` with one line."""
    settings, problems = read_settings(env_file)
    if settings is None:
        raise ConfigError("; ".join(problems))
    strategy, problems = _read_strategy(settings.THETAWHEEL_CONFIG)
    if strategy is None:
        raise ConfigError("; ".join(problems))
    return Config(settings=settings, strategy=strategy)


def load_or_exit(component: str, env_file: str | Path | None = ".env") -> Config:
    """:func:`load_config`, or print ``<component>: config error: …`` on one line and exit 2."""
    try:
        return load_config(env_file)
    except ConfigError as err:
        print(f"{component}: config error: {err}", file=sys.stderr, flush=True)
        raise SystemExit(CONFIG_EXIT_CODE) from None
