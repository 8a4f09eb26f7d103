"""SIGTERM / SIGINT (what honcho and Ctrl-C send) in the middle of work: every component exits 0 within
5 s, its heartbeat says ``stopped`` (and the dashboard shows it down), and the market-data lines it held
were cancelled at TWS before it disconnected. Idle components keep beating on schedule.

Real parts: the simulator over TCP behind a relay that follows each client's market-data lines
(``tests/support/mdtap.py``), the four components as processes, one SQLite file.
"""

from __future__ import annotations

import json
import signal
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mdtap import MarketDataTap
from procs import Proc, approve_intent, heartbeat, ko_put, write_env
from realparts import free_port
from simproc import Sim, start_sim, stop_sim
from sqlalchemy import Engine, select
from waiting import wait_for

from shared.db import make_engine
from shared.schema import fills, positions

#: The seconds a component may take to exit after the signal.
EXIT_WITHIN = 5.0
STRATEGY = """
[universe]
symbols = ["SPY", "QQQ", "AAPL", "KO"]
[schedule]
monitor_interval_seconds = 2
scan_interval_seconds = 5
executor_poll_seconds = 0.5
heartbeat_seconds = 1
"""


@dataclass
class Service:
    sim: Sim
    tap: MarketDataTap
    root: Path
    engine: Engine
    procs: dict[str, Proc]
    dashboard: str

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.dashboard + "/api/v1/health", timeout=5) as resp:
            return {c["component"]: c for c in json.load(resp)["components"]}

    def context(self) -> str:
        return "\n".join(f"--- {n}\n{p.output()[-2000:]}" for n, p in self.procs.items())


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    root = tmp_path_factory.mktemp("lifecycle")
    sim = start_sim(178)
    tap = MarketDataTap(sim.host, sim.port)
    dash_port = free_port()
    db = write_env(root, tap.port, STRATEGY, DASHBOARD_PORT=dash_port)
    engine = make_engine(f"sqlite:///{db}")
    procs = {name: Proc(name, root) for name in ("monitor", "scanner", "executor", "dashboard")}
    svc = Service(sim, tap, root, engine, procs, f"http://127.0.0.1:{dash_port}")
    try:
        yield svc
    finally:
        for proc in procs.values():
            proc.stop()
        engine.dispose()
        tap.close()
        stop_sim(sim)


def _stop(svc: Service, name: str, sig: int, client_id: int | None) -> None:
    code, took = svc.procs[name].signal(sig)
    print(f"{name}: exit {code} {took:.2f} s after {signal.Signals(sig).name}")
    assert code == 0, svc.procs[name].output()[-3000:]
    assert took < EXIT_WITHIN, f"{name} took {took:.1f} s to exit"
    assert heartbeat(svc.engine, name).state == "stopped"
    if name != "dashboard":  # the dashboard cannot show its own state once stopped
        assert not svc.health()[name]["up"]
    if client_id is not None:
        sessions = svc.tap.sessions_of(client_id)
        assert sessions and all(s.closed for s in sessions)
        assert sessions[-1].open_at_close == set(), f"{name} disconnected holding market-data lines"
    assert "Traceback" not in svc.procs[name].output()


def test_each_component_stops_cleanly_mid_work(service: Service) -> None:
    svc = service
    wait_for(
        "all four components up",
        lambda: all(c["up"] for n, c in svc.health().items() if n in svc.procs),
        60,
        context=svc.context,
    )
    observer = svc.sim.connect(client_id=0)
    try:
        put = ko_put(observer)
        approve_intent(svc.engine, "TW-LIFECYCLE-FILL", put)
        approve_intent(svc.engine, "TW-LIFECYCLE-REST", ko_put(observer, 1), floor=50.0)  # rests unfilled
    finally:
        observer.disconnect()

    def held() -> Any:
        with svc.engine.connect() as conn:
            got_fill = conn.execute(select(fills).where(fills.c.intent_key == "TW-LIFECYCLE-FILL")).first()
            pos = conn.execute(select(positions).where(positions.c.con_id == put.conId)).first()
        return got_fill and pos and pos.delta is not None

    wait_for("the fill and the monitor's greeks for it", held, 60, context=svc.context)
    monitor_id, scanner_id, executor_id = (
        heartbeat(svc.engine, name).client_id for name in ("monitor", "scanner", "executor")
    )
    assert svc.tap.sessions_of(monitor_id)[-1].open_lines, "the monitor streams the held option's greeks"
    # an idle component still beats every heartbeat_seconds (1 s here; 10 s by default)
    beat = heartbeat(svc.engine, "executor").updated_at
    wait_for("the executor's next heartbeat", lambda: heartbeat(svc.engine, "executor").updated_at > beat, 3)

    # the scanner in the middle of a scan, with option quotes streaming
    wait_for(
        "the scanner reading quotes", lambda: len(svc.tap.sessions_of(scanner_id)[-1].open_lines) > 1, 60
    )
    _stop(svc, "scanner", signal.SIGTERM, scanner_id)
    # the executor with an order resting at TWS
    _stop(svc, "executor", signal.SIGTERM, executor_id)
    # the monitor with its greeks streaming, stopped by Ctrl-C
    _stop(svc, "monitor", signal.SIGINT, monitor_id)
    _stop(svc, "dashboard", signal.SIGTERM, None)
