"""Backups of the strategy file: a copy beside the database backups whenever its content changes, a bounded
number kept, the demo's and the real ones apart, and the database backups untouched (real files)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.backup import backup_strategy, backups, make_backup, prune, strategy_backups

T0 = datetime(2025, 1, 15, 10, 30, tzinfo=UTC)
FIRST = '[universe]\nsymbols = ["KO"]\n'
SECOND = '[universe]\nsymbols = ["KO", "PFE"]\n'


def plain_db(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
    return f"sqlite:///{path}"


def test_a_copy_only_when_the_content_changes(tmp_path: Path) -> None:
    url = plain_db(tmp_path / "data" / "thetawheel.db")
    strategy = tmp_path / "config" / "thetawheel.toml"
    strategy.parent.mkdir()
    strategy.write_text(FIRST)

    first, removed = backup_strategy(strategy, url, keep=48, now=T0)
    assert first == tmp_path / "data" / "backups" / "thetawheel-strategy-20250115T103000Z.toml"
    assert first.read_text() == FIRST and removed == []
    assert backup_strategy(strategy, url, keep=48, now=T0 + timedelta(minutes=1)) == (None, [])
    strategy.touch()  # a newer time stamp, the same content: no copy
    assert backup_strategy(strategy, url, keep=48, now=T0 + timedelta(minutes=2)) == (None, [])

    strategy.write_text(SECOND)
    second, _ = backup_strategy(strategy, url, keep=48, now=T0 + timedelta(minutes=3))
    assert second is not None and second.read_text() == SECOND
    strategy.write_text(FIRST)  # back to the first version: it differs from the newest copy
    third, _ = backup_strategy(strategy, url, keep=48, now=T0 + timedelta(minutes=3))  # same second
    assert third is not None and third.name == "thetawheel-strategy-20250115T103300Z-1.toml"
    assert strategy_backups(url) == [first, second, third]


def test_only_the_newest_are_kept_and_database_backups_are_apart(tmp_path: Path) -> None:
    url = plain_db(tmp_path / "data" / "thetawheel.db")
    demo = plain_db(tmp_path / "data" / "demo.db")
    strategy = tmp_path / "thetawheel.toml"
    db_backup = make_backup(url, T0)
    made = []
    for i in range(4):
        strategy.write_text(f"{FIRST}# version {i}\n")
        path, removed = backup_strategy(strategy, url, keep=2, now=T0 + timedelta(minutes=i))
        made.append(path)
    assert strategy_backups(url) == made[-2:]
    assert not made[0].exists() and removed == [made[1]]
    demo_copy, _ = backup_strategy(strategy, demo, keep=2, now=T0)  # the demo keeps its own copies
    assert demo_copy is not None and demo_copy.name == "demo-strategy-20250115T103000Z.toml"
    assert strategy_backups(demo) == [demo_copy] and strategy_backups(url) == made[-2:]
    assert backups(url) == [db_backup] and prune(url, keep=1) == []  # database backups see no copies


def test_a_missing_strategy_file_is_an_error_and_postgres_uses_data_backups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = plain_db(tmp_path / "data" / "thetawheel.db")
    with pytest.raises(FileNotFoundError):
        backup_strategy(tmp_path / "gone.toml", url, keep=2)
    assert strategy_backups(url) == []
    monkeypatch.chdir(tmp_path)
    (tmp_path / "thetawheel.toml").write_text(FIRST)
    path, _ = backup_strategy(Path("thetawheel.toml"), "postgresql://u@localhost/thetawheel", keep=2, now=T0)
    assert path == Path("data") / "backups" / "thetawheel-strategy-20250115T103000Z.toml"
