"""Backup names, retention per database, and the checks a restore makes (real SQLite files)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from shared.backup import BackupError, ServiceRunning, backups, make_backup, prune, restore
from shared.heartbeat import Heartbeat

T0 = datetime(2025, 1, 15, 10, 30, tzinfo=UTC)


def plain_db(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
    return f"sqlite:///{path}"


def test_names_and_retention_keep_each_database_apart(tmp_path: Path) -> None:
    real = plain_db(tmp_path / "data" / "thetawheel.db")
    demo = plain_db(tmp_path / "data" / "demo.db")
    made = [make_backup(real, T0 + timedelta(minutes=30 * i)) for i in range(3)]
    make_backup(real, T0 + timedelta(minutes=60))  # the same second again gets a suffix
    demo_made = [make_backup(demo, T0 + timedelta(minutes=30 * i)) for i in range(3)]
    assert (
        made[0].name == "thetawheel-20250115T103000Z.db" and made[0].parent == tmp_path / "data" / "backups"
    )
    assert (tmp_path / "data" / "backups" / "thetawheel-20250115T113000Z-1.db").is_file()
    assert demo_made[0].name == "demo-20250115T103000Z.db"
    removed = prune(real, keep=2)
    assert len(removed) == 2 and all(p.name.startswith("thetawheel-") for p in removed)
    assert len(backups(real)) == 2 and backups(demo) == demo_made


def test_restore_checks_the_backup_and_the_running_service(tmp_path: Path, engine: Engine) -> None:
    url = str(engine.url)
    backup = make_backup(url)
    with pytest.raises(BackupError, match="is not a thetawheel database"):
        restore(make_backup(plain_db(tmp_path / "other" / "x.db")), url)
    beat = Heartbeat(engine, "scanner")
    beat.set("connected", "scanning")
    with pytest.raises(ServiceRunning, match=r"the service is running \(scanner \(beat \d+ s ago\)\)"):
        restore(backup, url)
    beat.set("stopped", "stopped by signal")
    saved = restore(backup, url)
    assert saved is not None and saved.name.startswith("pre-restore-thetawheel-") and saved.is_file()
