"""Components as real processes (``python -m monitor`` …) in a scratch folder with its own ``.env``,
plus the database look-ups and the approved intent the integration tests need."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ib_async import IB, Option
from sqlalchemy import Engine, insert, select

from shared.db import utcnow_iso
from shared.schema import heartbeats, intents


class Proc:
    """``python -m <name>`` run in ``root``; its stdout and stderr go to ``root/<name>.out``."""

    def __init__(self, name: str, root: Path, args: tuple[str, ...] = ()) -> None:
        self.name = name
        self.root = root
        self.out_path = root / f"{name}.out"
        self._out = self.out_path.open("a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", name, *args],
            cwd=root,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def output(self) -> str:
        self._out.flush()
        return self.out_path.read_text()

    def signal(self, sig: int = signal.SIGTERM, timeout: float = 15) -> tuple[int, float]:
        """Send ``sig`` and wait; return ``(exit status, seconds it took)``."""
        started = time.monotonic()
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(5)
        return code, time.monotonic() - started

    def stop(self) -> int:
        """SIGTERM unless already gone; the exit status."""
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
        self._out.close()
        return int(self.proc.returncode)


def write_env(root: Path, port: int, strategy: str, **extra: Any) -> Path:
    """Write ``root/.env`` and ``root/thetawheel.toml`` for TWS on ``port``; return the database path."""
    db = root / "data" / "thetawheel.db"
    (root / "thetawheel.toml").write_text(strategy)
    values: dict[str, Any] = {
        "IBKR_PORT": port,
        "DATABASE_URL": f"sqlite:///{db}",
        "THETAWHEEL_CONFIG": root / "thetawheel.toml",
        "LOG_DIR": "logs",
        **extra,
    }
    (root / ".env").write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return db


def heartbeat(engine: Engine, component: str) -> Any:
    """The component's heartbeat row, or ``None``."""
    with engine.connect() as conn:
        return conn.execute(select(heartbeats).where(heartbeats.c.component == component)).first()


def ko_put(ib: IB, offset: int = 0) -> Any:
    """A listed KO put near the middle of its chain (``offset`` strikes further)."""
    details = ib.reqContractDetails(Option("KO", "", 0.0, "P", "SMART"))
    assert details, "the simulator lists KO puts"
    return details[len(details) // 2 + offset].contract


def approve_intent(
    engine: Engine, key: str, option: Any, floor: float = 0.0, kind: str = "sell_put", quantity: int = 1
) -> None:
    """Insert an approved sell-to-open intent for ``option`` (what the dashboard's Approve does)."""
    now = utcnow_iso()
    with engine.begin() as conn:
        conn.execute(
            insert(intents).values(
                key=key,
                source="dashboard",
                kind=kind,
                action="SELL",
                sec_type="OPT",
                symbol=option.symbol,
                con_id=option.conId,
                local_symbol=option.localSymbol,
                expiry=option.lastTradeDateOrContractMonth,
                strike=option.strike,
                right=option.right,
                quantity=quantity,
                limit_floor=floor,
                status="approved",
                status_reason="",
                created_at=now,
                updated_at=now,
            )
        )


#: A strategy for the executor tests: KO only, quick polls and beats.
EXECUTOR_TEST_STRATEGY = (
    '[universe]\nsymbols = ["KO"]\n[schedule]\nmonitor_interval_seconds = 2\n'
    "executor_poll_seconds = 0.5\nheartbeat_seconds = 2\n"
)


@contextlib.contextmanager
def sim_and_db(root: Path, strategy: str = EXECUTOR_TEST_STRATEGY) -> Iterator[tuple[Any, Engine]]:
    """A simulator started mid-session (far from the close-cancel window) and the database engine of a
    ``root/.env`` pointing at it; both are closed afterwards."""
    from runtime_helpers import session_start
    from simproc import start_sim, stop_sim

    from shared.db import make_engine

    sim = start_sim(178, "--start", session_start())
    engine = make_engine(f"sqlite:///{write_env(root, sim.port, strategy)}")
    try:
        yield sim, engine
    finally:
        engine.dispose()
        stop_sim(sim)
