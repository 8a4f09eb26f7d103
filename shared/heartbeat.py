"""Component heartbeats: each process upserts its own row in ``heartbeats`` every few seconds.

A component whose heartbeat is older than :data:`STALE_AFTER_SECONDS` is shown as down, and the other
processes' watchdogs (:mod:`shared.watchdog`) raise an alert after ``HEARTBEAT_STALE_SECONDS`` (the same
60 s by default) unless its last state is ``stopped``.
"""

from __future__ import annotations

import os
import threading
from datetime import datetime

from sqlalchemy import Engine, select

from shared.db import parse_ts, upsert, utcnow, utcnow_iso
from shared.schema import heartbeats

#: Seconds after which a heartbeat counts as missing (the component is down).
STALE_AFTER_SECONDS = 60.0


class Heartbeat:
    """Writes one component's heartbeat row: pid, TWS client id held, state and a short detail."""

    def __init__(self, engine: Engine, component: str) -> None:
        self.engine = engine
        self.component = component
        self.started_at = utcnow_iso()
        self.state = "starting"
        self.detail = ""
        self.client_id: int | None = None
        self._writing = threading.Lock()  # one write at a time, so the newest state is written last

    def set(self, state: str, detail: str = "", client_id: int | None = None) -> None:
        """Record a new state (and beat at once)."""
        self.state, self.detail = state, detail
        if client_id is not None or state != "connected":
            self.client_id = client_id
        self.beat()

    def note(self, detail: str) -> None:
        """Replace the detail only (the state and client id stay the connection manager's), and beat."""
        self.detail = detail
        self.beat()

    def beat(self) -> None:
        """Upsert the row with the current time.

        Writes are serialized and read the state inside the lock: a beat still running in a worker thread
        when the process records ``stopped`` cannot overwrite ``stopped`` afterwards (which would make the
        other processes report a clean stop as an outage)."""
        with self._writing, self.engine.begin() as conn:
            upsert(
                conn,
                heartbeats,
                {
                    "component": self.component,
                    "pid": os.getpid(),
                    "client_id": self.client_id,
                    "state": self.state,
                    "detail": self.detail[:500],
                    "started_at": self.started_at,
                    "updated_at": utcnow_iso(),
                },
                key=("component",),
            )


def last_beat(engine: Engine, component: str) -> tuple[str, datetime] | None:
    """``(state, updated_at)`` of ``component``'s newest heartbeat, or ``None`` when it never beat."""
    with engine.connect() as conn:
        row = conn.execute(
            select(heartbeats.c.state, heartbeats.c.updated_at).where(heartbeats.c.component == component)
        ).first()
    return (row.state, parse_ts(row.updated_at)) if row else None


def is_alive(engine: Engine, component: str, max_age: float = STALE_AFTER_SECONDS) -> bool:
    """True when ``component`` beat within ``max_age`` seconds and is not stopping."""
    beat = last_beat(engine, component)
    if beat is None:
        return False
    state, at = beat
    return state != "stopped" and (utcnow() - at).total_seconds() <= max_age
