"""Per-application state (configuration and database engine) reachable from any request."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app
from sqlalchemy import Engine

from shared.config import Config

EXTENSION_KEY = "thetawheel"


@dataclass(frozen=True)
class AppState:
    """What every view needs: the validated configuration and the shared database engine."""

    config: Config
    engine: Engine


def install(app: Flask, config: Config, engine: Engine) -> None:
    """Attach ``config`` and ``engine`` to ``app``."""
    app.extensions[EXTENSION_KEY] = AppState(config=config, engine=engine)


def state() -> AppState:
    """The :class:`AppState` of the application handling the current request."""
    value: AppState = current_app.extensions[EXTENSION_KEY]
    return value


def engine() -> Engine:
    """The shared database engine of the current application."""
    return state().engine
