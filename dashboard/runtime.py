"""Process plumbing of the dashboard: its secret key, waiting for the schema, its heartbeat row."""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, insert, update
from sqlalchemy.engine import make_url

from shared import schema as s
from shared.db import schema_ready, utcnow_iso
from shared.settings import Settings

log = logging.getLogger("dashboard")

SECRET_FILE_NAME = "dashboard-secret.key"


def secret_key_path(settings: Settings) -> Path:
    """Where a generated key lives: next to the SQLite file, else in ``data/``."""
    url = make_url(settings.DATABASE_URL)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).expanduser().parent / SECRET_FILE_NAME
    return Path("data") / SECRET_FILE_NAME


def resolve_secret_key(settings: Settings) -> str:
    """``DASHBOARD_SECRET_KEY`` if set, else the key in :func:`secret_key_path` (created once, mode 0600)."""
    configured = settings.DASHBOARD_SECRET_KEY.get_secret_value()
    if configured:
        return configured
    path = secret_key_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_text(encoding="utf-8").strip()
        if len(key) >= 32:
            return key
        log.warning("%s is empty or too short; writing a new dashboard secret key", path)
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC, 0o600)
    key = secrets.token_hex(32)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key + "\n")
    log.info("generated a dashboard secret key in %s", path)
    return key


def wait_for_schema(
    engine: Engine, poll_seconds: float = 1.0, sleep: Callable[[float], None] = time.sleep
) -> None:
    """Block until the monitor has created the schema, logging once while waiting."""
    announced = False
    while not schema_ready(engine):
        if not announced:
            log.info("waiting for the monitor to create the database schema (%s)", engine.url)
            announced = True
        sleep(poll_seconds)
    if announced:
        log.info("database schema is ready")


def write_heartbeat(engine: Engine, state: str, started_at: str, detail: str = "") -> None:
    """Upsert the dashboard's row in ``heartbeats`` (component ``dashboard``, no client id)."""
    now = utcnow_iso()
    values = {"pid": os.getpid(), "client_id": None, "state": state, "detail": detail, "updated_at": now}
    hb = s.heartbeats
    with engine.begin() as conn:
        done = conn.execute(update(hb).where(hb.c.component == "dashboard").values(**values)).rowcount
        if not done:
            conn.execute(insert(hb).values(component="dashboard", started_at=started_at, **values))


class Heartbeat:
    """A daemon thread that writes the dashboard's heartbeat every ``interval`` seconds, and after each beat
    runs ``watch`` (e.g. :meth:`shared.watchdog.Watchdog.check`: the dashboard watches the others too)."""

    def __init__(
        self,
        engine: Engine,
        interval: float = 10.0,
        detail: str = "",
        watch: Callable[[], object] | None = None,
    ) -> None:
        self.engine = engine
        self.interval = interval
        self.detail = detail
        self.watch = watch
        self.started_at = utcnow_iso()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dashboard-heartbeat", daemon=True)

    def start(self) -> None:
        """Write the first beat now, then keep beating in the background."""
        self._beat("running")
        self._thread.start()

    def stop(self) -> None:
        """Stop beating and record the ``stopped`` state (the dashboard then shows itself down)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._beat("stopped")

    def _beat(self, state: str) -> None:
        try:
            write_heartbeat(self.engine, state, self.started_at, self.detail)
        except Exception:  # a locked or missing database must not take the web server down
            log.exception("could not write the dashboard heartbeat")

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._beat("running")
            if self.watch is not None:
                try:
                    self.watch()
                except Exception:  # the watchdog must not stop the heartbeat
                    log.exception("the component watchdog failed")
