"""Start order by readiness and client ids by range, with real processes and the simulator over TCP.

The scanner started first waits (saying so) for the schema and the monitor's heartbeat; when another
program holds 11000 it gets IB error 326 and takes 11001, and its heartbeat shows the id it holds.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from procs import Proc
from simproc import start_sim, stop_sim
from sqlalchemy import select
from waiting import wait_for

from shared.db import make_engine
from shared.schema import heartbeats


def test_scanner_waits_for_monitor_and_skips_a_taken_client_id(tmp_path: Path) -> None:
    sim = start_sim(178)
    holder = sim.connect(client_id=11000)  # another program already uses the scanner's first id
    db = tmp_path / "t.db"
    (tmp_path / "s.toml").write_text('[universe]\nsymbols = ["KO"]\n[schedule]\nheartbeat_seconds = 1\n')
    strategy = tmp_path / "s.toml"
    (tmp_path / ".env").write_text(
        f"IBKR_PORT={sim.port}\nDATABASE_URL=sqlite:///{db}\nTHETAWHEEL_CONFIG={strategy}\nLOG_DIR=logs\n"
    )
    procs: list[Proc] = []
    log = tmp_path / "logs" / "scanner.log"
    try:
        procs.append(Proc("scanner", tmp_path))
        wait_for(
            "the scanner's waiting line",
            lambda: log.exists() and "waiting for the monitor" in log.read_text(),
        )
        time.sleep(1.5)
        assert "connected to TWS" not in log.read_text(), "the scanner must not connect before the monitor"

        procs.append(Proc("monitor", tmp_path))
        wait_for("the scanner to connect", lambda: "connected to TWS" in log.read_text())
        text = log.read_text()
        assert "waiting for the monitor's heartbeat" in text or "waiting for the monitor to create" in text
        assert "client id 11000 is in use (IB 326); trying 11001" in text
        assert "as client id 11001" in text

        engine = make_engine(f"sqlite:///{db}")

        def scanner_beat() -> Any:
            with engine.connect() as conn:
                row = conn.execute(select(heartbeats).where(heartbeats.c.component == "scanner")).first()
            return row if row is not None and row.state == "connected" else None

        assert wait_for("the scanner's heartbeat", scanner_beat).client_id == 11001
        assert holder.isConnected(), "the program holding 11000 keeps its connection"
        engine.dispose()
    finally:
        codes = [proc.stop() for proc in procs]  # SIGTERM each, wait up to 15 s
        holder.disconnect()
        stop_sim(sim)
    assert codes == [0, 0]
