"""Load ``.env`` and the strategy file together, turning any problem into one clear line.

A process calls :func:`load_or_exit` first thing; on any bad setting it prints one line naming the
key (``config error: IBKR_PORT: …``) to stderr and exits with status 2, before it connects anywhere.
``thetawheel config check`` calls :func:`check_config`, which lists every problem of both files.

Besides the values themselves, both check what a process would otherwise trip over later with a
traceback: ``.env`` and the strategy file must be UTF-8 (``.env`` without a key given twice or a line
without ``=``), the database must be creatable (:func:`database_problem`) and ``LOG_DIR`` a writable folder
(:func:`folder_problem`). A ``DASHBOARD_HOST`` beyond loopback needs a ``DASHBOARD_TOKEN`` (a rule of
:class:`shared.settings.Settings`, so both report it).

Precedence of a setting: the process environment (the shell, or ``env X=…`` in ``Procfile.demo``), then
``.env``, then the defaults of :class:`shared.settings.Settings`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ValidationError
from sqlalchemy.engine import make_url

from shared.dashboardrules import dashboard_token_problem, is_loopback_host
from shared.problems import problem_lines
from shared.settings import EnvFile, Settings, read_env_file
from shared.strategy import Strategy, StrategyEncodingError, load_strategy

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


@contextlib.contextmanager
def _dotenv_quiet() -> Iterator[None]:
    """python-dotenv logs a warning for a line it cannot parse; :func:`read_env_file` reports it already."""
    logger = logging.getLogger("dotenv.main")
    was = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = was


def _read(env_file: str | Path | None) -> tuple[Settings | None, EnvFile, list[str]]:
    """The settings (``None`` when invalid), what ``.env`` holds, and every problem of both."""
    file = read_env_file(env_file) if env_file is not None else EnvFile()
    if not file.readable:  # pydantic-settings would fail with a UnicodeDecodeError
        return None, file, file.problems
    try:
        with _dotenv_quiet():
            return Settings(_env_file=env_file), file, file.problems  # type: ignore[call-arg]
    except ValidationError as err:
        return None, file, file.problems + problem_lines(err, Settings)


def read_settings(env_file: str | Path | None = ".env") -> tuple[Settings | None, list[str]]:
    """The settings, or ``None`` and one line per problem (of the values, or of ``.env`` itself)."""
    settings, _, problems = _read(env_file)
    return (None, problems) if problems else (settings, [])


def folder_problem(folder: Path) -> str | None:
    """Why files cannot be written in ``folder`` (creating it and its parents as needed), or ``None``.

    Nothing is created: the nearest existing folder on the way must be a folder we may write in.
    """
    folder = folder.expanduser()
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        if existing == folder:
            return f"{folder} is a file, not a folder"
        return f"cannot create the folder {folder}: {existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        if existing == folder:
            return f"no permission to write in {folder} (read-only)"
        return f"cannot create the folder {folder}: no permission to write in {existing} (read-only)"
    return None


def database_problem(url_text: str) -> str | None:
    """Why the database of ``DATABASE_URL`` (already validated by :class:`Settings`) cannot be opened or
    created, or ``None``: a missing PostgreSQL driver, or a SQLite file that cannot be written."""
    url = make_url(url_text)
    if url.get_backend_name() != "sqlite":
        try:
            url.get_dialect().import_dbapi()
        except ImportError as err:
            return (
                f"DATABASE_URL: the {url.get_backend_name()} driver {url.get_driver_name()!r} is not "
                f"installed ({err}); install it into .venv"
            )
        return None
    name = url.database
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    path = Path(name).expanduser()
    if path.is_dir():
        return f"DATABASE_URL: {path} is a folder, not a database file"
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return f"DATABASE_URL: cannot write the database {path}: no permission (read-only file)"
    problem = folder_problem(path.parent)
    if problem is None:
        return None
    verb = "use" if path.exists() else "create"
    return f"DATABASE_URL: cannot {verb} the database {path}: {problem}"


def storage_problems(database_url: str, log_dir: Path) -> list[str]:
    """Problems of the database and of ``LOG_DIR`` a process would otherwise hit after starting."""
    problems = [database_problem(database_url)]
    log_problem = folder_problem(log_dir)
    problems.append(f"LOG_DIR: {log_problem}" if log_problem else None)
    return [p for p in problems if p]


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    return is_loopback_host(host)


def _read_strategy(path: Path) -> tuple[Strategy | None, list[str]]:
    try:
        return load_strategy(path), []
    except FileNotFoundError:
        return None, [f"THETAWHEEL_CONFIG: strategy file {path} does not exist"]
    except IsADirectoryError:
        return None, [f"THETAWHEEL_CONFIG: {path} is a folder, not a strategy file"]
    except OSError as err:
        return None, [f"THETAWHEEL_CONFIG: cannot read {path}: {err.strerror or err}"]
    except StrategyEncodingError as err:
        return None, [f"{path}: {problem}" for problem in err.problems]
    except tomllib.TOMLDecodeError as err:
        return None, [f"THETAWHEEL_CONFIG: {path} is not valid TOML: {err}"]
    except ValidationError as err:
        return None, problem_lines(err, Strategy, prefix=f"{path}: ")


def _value_anyway(key: str, settings: Settings | None, file: EnvFile) -> str:
    """``key`` as the process would see it (environment, then ``.env``, then the default), also when
    other keys are invalid."""
    if settings is not None:
        return str(getattr(settings, key))
    if key in os.environ:
        return os.environ[key]
    value = file.values.get(key)
    if value is not None:
        return value
    return str(Settings.model_fields[key].default)


def _token_anyway(file: EnvFile) -> str:
    """``DASHBOARD_TOKEN`` as the process would see it (environment, then ``.env``)."""
    return os.environ.get("DASHBOARD_TOKEN") or file.values.get("DASHBOARD_TOKEN") or ""


def check_config(env_file: str | Path | None = ".env") -> list[str]:
    """Every problem of ``.env`` (and the environment), of the storage, of the dashboard's host and of
    the strategy file, one line each.

    Each check runs even when others fail (on the value as the process would see it, unless that key is
    itself invalid), so a user sees everything at once.
    """
    settings, file, problems = _read(env_file)
    reported = {problem.split(":", 1)[0] for problem in problems}
    database_url, log_dir, host, strategy = (
        _value_anyway(key, settings, file)
        for key in ("DATABASE_URL", "LOG_DIR", "DASHBOARD_HOST", "THETAWHEEL_CONFIG")
    )
    more: list[str | None] = []
    if "DATABASE_URL" not in reported:
        with contextlib.suppress(Exception):  # an invalid URL is reported by Settings already
            more.append(database_problem(database_url))
    if "LOG_DIR" not in reported:
        log_problem = folder_problem(Path(log_dir))
        more.append(f"LOG_DIR: {log_problem}" if log_problem else None)
    if settings is None and not reported & {"DASHBOARD_HOST", "DASHBOARD_TOKEN"}:
        # Settings stopped at other keys before its own login rule ran
        more.append(dashboard_token_problem(host, _token_anyway(file)))
    return problems + [p for p in more if p] + _read_strategy(Path(strategy))[1]


def load_config(env_file: str | Path | None = ".env") -> Config:
    """Read and validate settings, storage and strategy. Raises :class:`ConfigError` with one line."""
    settings, _, problems = _read(env_file)
    if settings is not None:
        problems = problems + storage_problems(settings.DATABASE_URL, Path(settings.LOG_DIR))
    if settings is None or problems:
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
