"""``thetawheel ledger rebuild`` on a real SQLite file: the cycles come out of the stored executions, and an
execution the ledger cannot book stops it with one line naming that execution, writing nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine, insert, select

from shared.db import utcnow_iso
from shared.schema import cycles, executions

OPTION = {
    "source": "tws",
    "account": "DU1234567",
    "symbol": "KO",
    "sec_type": "OPT",
    "con_id": 501,
    "local_symbol": "KO    270115P00060000",
    "expiry": "20270115",
    "strike": 60.0,
    "right": "P",
    "multiplier": 100,
    "order_ref": "TW-CSP-KO-20270115-60P-O1",
    "order_id": 3,
    "perm_id": 9,
    "client_id": 12000,
}


def rebuild(tmp_path: Path, engine: Engine) -> subprocess.CompletedProcess[str]:
    env = tmp_path / ".env"
    env.write_text(f"DATABASE_URL={engine.url.render_as_string(hide_password=False)}\n")
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", "ledger", "rebuild", "--env-file", str(env)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )


def test_rebuild_books_the_stored_executions(tmp_path: Path, engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(executions).values(
                exec_id="e1",
                time="2026-12-14T15:00:00+00:00",
                side="SLD",
                quantity=2,
                price=1.10,
                commission=1.30,
                recorded_at=utcnow_iso(),
                **OPTION,
            )
        )
    run = rebuild(tmp_path, engine)
    assert run.returncode == 0, run.stderr
    assert "1 cycle(s), 1 open" in run.stdout
    with engine.connect() as conn:
        (row,) = conn.execute(select(cycles)).all()
    assert row.symbol == "KO" and row.stage == "put"
    assert row.premiums == 220.0 and row.commissions == 1.30 and row.collateral == 12000.0


def test_an_execution_it_cannot_book_stops_the_rebuild_and_writes_nothing(
    tmp_path: Path, engine: Engine
) -> None:
    assert rebuild(tmp_path, engine).returncode == 0  # an empty ledger
    with engine.begin() as conn:
        conn.execute(
            insert(executions).values(
                exec_id="e1", time="2026-12-14T15:00:00+00:00", side="SLD", quantity=1, price=1.0,
                recorded_at=utcnow_iso(), **OPTION,
            )
        )  # fmt: skip
        conn.execute(
            insert(executions).values(
                exec_id="fut-7", source="tws", account="DU1234567", time="2026-12-14T16:00:00+00:00",
                symbol="ES", sec_type="FUT", con_id=99, local_symbol="ESZ6", side="BOT", quantity=1,
                price=6000.0, recorded_at=utcnow_iso(),
            )
        )  # fmt: skip
    run = rebuild(tmp_path, engine)
    assert run.returncode == 2
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "fut-7" in lines[0] and "FUT" in lines[0] and "nothing was written" in lines[0]
    with engine.connect() as conn:
        assert conn.execute(select(cycles)).all() == []
