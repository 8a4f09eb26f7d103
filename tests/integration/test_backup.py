"""Backups and restore with real parts: the simulator over TCP, the monitor and executor as processes, one
fill. The monitor backs the database up on its schedule and keeps ``BACKUP_KEEP``; ``thetawheel backup``
works while the service runs; ``thetawheel restore`` refuses while it runs, and afterwards a restored copy
has the positions and the fills."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from procs import Proc, approve_intent, ko_put, write_env
from simproc import start_sim, stop_sim
from sqlalchemy import select
from waiting import wait_for

from shared.db import make_engine
from shared.schema import fills, positions

BIN = Path(sys.executable).parent
KEY = "TW-BACKUP-FILL"
STRATEGY = (
    '[universe]\nsymbols = ["KO"]\n[schedule]\nmonitor_interval_seconds = 1\nexecutor_poll_seconds = 0.5\n'
)


def cli(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "thetawheel"), *args],
        cwd=root,
        env={"PATH": "/usr/bin:/bin", "HOME": str(root), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def backups(root: Path) -> list[Path]:
    return sorted((root / "data" / "backups").glob("thetawheel-*.db"))


def test_backup_while_running_then_restore_has_positions_and_fills(tmp_path: Path) -> None:
    sim = start_sim(178)
    db = write_env(tmp_path, sim.port, STRATEGY, BACKUP_INTERVAL_MINUTES=0.02, BACKUP_KEEP=2)  # every 1.2 s
    engine = make_engine(f"sqlite:///{db}")
    monitor, executor = Proc("monitor", tmp_path), Proc("executor", tmp_path)
    try:
        observer = sim.connect(client_id=0)
        try:
            put = ko_put(observer)
        finally:
            observer.disconnect()
        wait_for("the executor", lambda: "executor running" in executor.output(), 30)
        approve_intent(engine, KEY, put)

        def recorded() -> bool:
            with engine.connect() as conn:
                fill = conn.execute(select(fills).where(fills.c.intent_key == KEY)).first()
                pos = conn.execute(select(positions).where(positions.c.con_id == put.conId)).first()
            return bool(fill and fill.commission and pos)

        wait_for("the fill, its commission and the position", recorded, 60, context=monitor.output)
        # the monitor's own schedule: a backup every 1.2 s, the 2 newest kept
        wait_for(
            "scheduled backups",
            lambda: len(backups(tmp_path)) == 2 and monitor.output().count("database backed up to") >= 3,
            30,
            context=monitor.output,
        )

        made = cli(tmp_path, "backup")  # while the service runs
        assert made.returncode == 0, made.stderr
        backup = Path(made.stdout.split("backup written: ", 1)[1].split(" (", 1)[0])
        assert backup.parent == tmp_path / "data" / "backups" and backup.name.startswith("thetawheel-")
        assert not list(backup.parent.glob("*.partial")) and not Path(f"{backup}-wal").exists()
        # the monitor prunes to 2 every 1.2 s here: keep this one out of its reach
        backup = Path(shutil.copy2(backup, tmp_path / backup.name))

        refused = cli(tmp_path, "restore", str(backup))
        assert refused.returncode == 1
        assert refused.stderr.startswith("restore refused: the service is running (")
        assert "monitor (beat" in refused.stderr and "executor (beat" in refused.stderr
    finally:
        assert executor.stop() == 0 and monitor.stop() == 0
        engine.dispose()
        stop_sim(sim)

    fresh = tmp_path / "elsewhere" / "restored.db"
    restored = cli(tmp_path, "restore", str(backup), DATABASE_URL=f"sqlite:///{fresh}")
    assert restored.returncode == 0, restored.stderr
    assert f"restored {fresh} from {backup}" in restored.stdout
    with sqlite3.connect(fresh) as conn:
        fill = conn.execute(
            "SELECT side, quantity, commission FROM fills WHERE intent_key = ?", (KEY,)
        ).fetchone()
        pos = conn.execute(
            "SELECT quantity, sec_type FROM positions WHERE con_id = ?", (put.conId,)
        ).fetchone()
        states = {row[0] for row in conn.execute("SELECT state FROM heartbeats")}
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert fill[0] == "SLD" and fill[1] == 1 and fill[2] >= 1.0
    assert pos == (-1, "OPT")
    assert states == {"stopped"} and version

    # the stopped service's own database: restored in place, the replaced one kept
    again = cli(tmp_path, "restore", str(backup))
    assert again.returncode == 0, again.stderr
    saved = Path(again.stdout.split("is saved as ", 1)[1].split("\n", 1)[0])
    assert saved.name.startswith("pre-restore-") and saved.is_file()
    assert not Path(f"{db}-wal").exists() or os.path.getsize(f"{db}-wal") == 0

    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"not a database at all" * 100)
    bad = cli(tmp_path, "restore", str(damaged))
    assert bad.returncode == 1 and "is not a SQLite database" in bad.stderr
