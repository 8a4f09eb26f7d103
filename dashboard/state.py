"""Per-application state (configuration and database engine) reachable from any request."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, request, session
from sqlalchemy import Engine

from dashboard import bodycache
from dashboard.riskcheck import RiskGate
from shared.config import Config

EXTENSION_KEY = "thetawheel"


@dataclass(frozen=True)
class AppState:
    """What every view needs: the validated configuration and the shared database engine."""

    config: Config
    engine: Engine


def install(app: Flask, config: Config, engine: Engine) -> None:
    """Attach ``config`` and ``engine`` to ``app``, and its cache of API answers
    (:mod:`dashboard.bodycache`)."""
    app.extensions[EXTENSION_KEY] = AppState(config=config, engine=engine)
    bodycache.install(app, engine)


def state() -> AppState:
    """The :class:`AppState` of the application handling the current request."""
    value: AppState = current_app.extensions[EXTENSION_KEY]
    return value


def engine() -> Engine:
    """The shared database engine of the current application."""
    return state().engine


def risk_gate() -> RiskGate:
    """The risk gate with the current application's settings and ``strategy.risk``."""
    config = state().config
    return RiskGate(config.settings, config.strategy.risk)


def actor() -> str:
    """Who makes the current request, as commands and decisions record it: the logged-in user when there is
    one (session ``user``), else ``dashboard <client address>`` (e.g. ``dashboard 127.0.0.1``)."""
    user = session.get("user")
    if isinstance(user, str) and user.strip():
        return user.strip()
    return f"dashboard {request.remote_addr or 'unknown'}"
