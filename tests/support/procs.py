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
from datetime import date
from pathlib import Path
from typing import Any

from ib_async import IB, Option, Stock
from sqlalchemy import Engine, insert, select

from shared.db import utcnow_iso
from shared.schema import heartbeats, intent_legs, intents


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
    """Write ``root/.env`` and ``root/thetawheel.toml`` for TWS on ``port``; return the database path.

    Like the simulator's default ``--hours always`` (:mod:`simproc`), the processes take orders at any hour
    (``MARKET_HOURS=always``) and know no TWS restart windows, so that a test run at night or at 23:50 ET
    behaves like one at noon; a test of the risk gate's calendar passes ``MARKET_HOURS="exchange"`` (and
    windows) in ``extra``."""
    db = root / "data" / "thetawheel.db"
    (root / "thetawheel.toml").write_text(strategy)
    values: dict[str, Any] = {
        "IBKR_PORT": port,
        "DATABASE_URL": f"sqlite:///{db}",
        "THETAWHEEL_CONFIG": root / "thetawheel.toml",
        "LOG_DIR": "logs",
        "MARKET_HOURS": "always",
        "TWS_RESTART_WINDOWS": "",
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


def spot(ib: IB, symbol: str = "KO") -> float:
    """The underlying's mid price now (dollars per share)."""
    stock = Stock(symbol, "SMART", "USD")
    ib.qualifyContracts(stock)
    [ticker] = ib.reqTickers(stock)
    return (float(ticker.bid) + float(ticker.ask)) / 2


def put_below(ib: IB, price: float, after: str, symbol: str = "KO", days: int = 14) -> Any:
    """The put of ``symbol`` with the highest strike at least $2 under ``price``, on the first expiry at
    least ``days`` calendar days after ``after`` (an ISO date or time: the simulator's clock)."""
    first = date.fromisoformat(after[:10])
    chain: list[Any] = [d.contract for d in ib.reqContractDetails(Option(symbol, "", 0.0, "P", "SMART"))]
    expiries = sorted({c.lastTradeDateOrContractMonth for c in chain})
    expiry = next(e for e in expiries if (date.fromisoformat(e) - first).days >= days)
    listed = [c for c in chain if c.lastTradeDateOrContractMonth == expiry]
    return max((c for c in listed if c.strike <= price - 2), key=lambda c: c.strike)


def same_strike(ib: IB, option: Any, days: int = 14) -> Any:
    """The put of ``option``'s strike on the first expiry at least ``days`` days after ``option``'s."""
    chain: list[Any] = [
        d.contract
        for d in ib.reqContractDetails(Option(option.symbol, "", option.strike, option.right, "SMART"))
    ]
    first = date.fromisoformat(option.lastTradeDateOrContractMonth)
    later = sorted(
        (c for c in chain if c.strike == option.strike), key=lambda c: c.lastTradeDateOrContractMonth
    )
    return next(c for c in later if (date.fromisoformat(c.lastTradeDateOrContractMonth) - first).days >= days)


def approve_intent(
    engine: Engine,
    key: str,
    option: Any,
    floor: float = 0.0,
    kind: str = "sell_put",
    quantity: int = 1,
    action: str = "SELL",
) -> None:
    """Insert an approved intent for ``option`` (what the dashboard's Approve does): sell to open by default,
    ``kind="buy_to_close", action="BUY"`` to close (``floor`` the maximum debit then)."""
    now = utcnow_iso()
    with engine.begin() as conn:
        conn.execute(
            insert(intents).values(
                key=key,
                source="dashboard",
                kind=kind,
                action=action,
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


def approve_roll(engine: Engine, key: str, old: Any, new: Any, min_credit: float, quantity: int = 1) -> None:
    """Insert an approved roll of the short option ``old`` to ``new`` (what the monitor writes): one combo
    BUY of ``quantity`` with legs BUY ``old`` and SELL ``new`` (ratio 1), for at least ``min_credit`` dollars
    per share net (``limit_floor`` = −min_credit, IB's sign for a credit)."""
    now = utcnow_iso()
    with engine.begin() as conn:
        conn.execute(
            insert(intents).values(
                key=key, source="monitor", kind="roll", action="BUY", sec_type="OPT", symbol=old.symbol,
                con_id=old.conId, local_symbol=old.localSymbol, expiry=old.lastTradeDateOrContractMonth,
                strike=old.strike, right=old.right, quantity=quantity, limit_floor=-min_credit,
                status="approved", status_reason="", created_at=now, updated_at=now,
            )
        )  # fmt: skip
        for leg_no, (option, action) in enumerate(((old, "BUY"), (new, "SELL")), start=1):
            conn.execute(
                insert(intent_legs).values(
                    intent_key=key, leg_no=leg_no, con_id=option.conId, action=action, ratio=1,
                    sec_type="OPT", symbol=option.symbol, local_symbol=option.localSymbol,
                    expiry=option.lastTradeDateOrContractMonth, strike=option.strike, right=option.right,
                )
            )  # fmt: skip


#: A strategy for the executor tests: KO only, quick polls and beats.
EXECUTOR_TEST_STRATEGY = (
    '[universe]\nsymbols = ["KO"]\n[schedule]\nmonitor_interval_seconds = 2\n'
    "executor_poll_seconds = 0.5\nheartbeat_seconds = 2\n"
)


@contextlib.contextmanager
def sim_and_db(
    root: Path,
    strategy: str = EXECUTOR_TEST_STRATEGY,
    *,
    sim_args: tuple[str, ...] = (),
    hours: str = "always",
    control: bool = False,
    **env: Any,
) -> Iterator[tuple[Any, Engine]]:
    """A simulator started mid-session (far from the close-cancel window) and the database engine of a
    ``root/.env`` pointing at it (``env``: more settings, :func:`write_env`); both are closed afterwards.
    ``sim_args``, ``hours`` and ``control`` go to :func:`simproc.start_sim`."""
    from runtime_helpers import session_start
    from simproc import start_sim, stop_sim

    from shared.db import make_engine

    sim = start_sim(178, "--start", session_start(), *sim_args, hours=hours, control=control)
    engine = make_engine(f"sqlite:///{write_env(root, sim.port, strategy, **env)}")
    try:
        yield sim, engine
    finally:
        engine.dispose()
        stop_sim(sim)
