"""Fixtures for the dashboard tests: a real migrated SQLite file, seeded rows, and the real app
served by waitress on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from dashboard_seed import Live, seed
from served import serve
from sqlalchemy import Engine

from dashboard import create_app
from shared.config import Config
from shared.db import make_engine
from shared.migrate import upgrade
from shared.settings import Settings
from shared.strategy import Strategy


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives a real headless Chromium (needs /usr/bin/chromium)")


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'thetawheel.db'}"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    upgrade(eng)
    seed(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def config(db_url: str) -> Config:
    # Orders at any hour and no TWS restart windows: the risk gate's market checks must not depend on when
    # the tests run (tests of those checks build their own settings).
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, DATABASE_URL=db_url, MARKET_HOURS="always", TWS_RESTART_WINDOWS=""
    )
    return Config(settings=settings, strategy=Strategy())


@pytest.fixture
def fast_updates(config: Config) -> None:
    """Pages update every second (the default is 30 s) so the tests need not wait long; request it before
    ``live``, which builds the app from ``config``."""
    config.settings.DASHBOARD_REFRESH_SECONDS = 1


@pytest.fixture
def live(engine: Engine, config: Config) -> Iterator[Live]:
    app = create_app(config, engine)
    app.config["VALIDATE_RESPONSES"] = True  # every answer checked against its documented model
    with serve(app, engine, config) as served:
        yield served


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session
