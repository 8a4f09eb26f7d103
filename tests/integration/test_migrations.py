"""Schema migrations on real SQLite files: round 1's database upgrades to the trade model without losing
a row, the migrated schema equals ``shared/schema.py``, and a newer database is refused in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text

from shared.db import make_engine
from shared.migrate import SchemaNewerError, alembic_config, head_revision, upgrade
from shared.schema import metadata

NOW = "2026-12-01T15:00:00+00:00"


def round1_database(path: Path) -> Engine:
    """A database made by the released migration 0001, with a round-1 approval, order and fill."""
    url = f"sqlite:///{path}"
    command.upgrade(alembic_config(url), "0001")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO scans (id, started_at, status, symbols, contracts_checked, candidates, detail) "
                "VALUES (1, :now, 'done', 1, 8, 1, '')"
            ),
            {"now": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO intents (key, source, kind, action, sec_type, symbol, con_id, local_symbol, "
                'expiry, strike, "right", quantity, limit_floor, status, status_reason, created_at, '
                "updated_at) VALUES ('TW-CSP-KO-20270115-60P-O1', 'dashboard', 'open_csp', 'SELL', 'OPT', "
                "'KO', 4242, 'KO    270115P00060000', '20270115', 60.0, 'P', 1, 0.9, 'submitted', '', "
                ":now, :now), ('TW-CSP-KO-20270115-58P-O2', 'dashboard', 'open_csp', 'SELL', 'OPT', 'KO', "
                "4243, 'KO    270115P00058000', '20270115', 58.0, 'P', 1, 0.5, 'claimed', '', :now, :now)"
            ),
            {"now": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO orders (intent_key, order_id, action, order_type, quantity, limit_price, "
                "con_id, symbol, local_symbol, status, filled, created_at, updated_at) VALUES "
                "('TW-CSP-KO-20270115-60P-O1', 5, 'SELL', 'LMT', 1, 0.95, 4242, 'KO', "
                "'KO    270115P00060000', 'Filled', 1, :now, :now)"
            ),
            {"now": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO fills (exec_id, intent_key, order_id, con_id, symbol, local_symbol, side, "
                "quantity, price, time, commission) VALUES ('0001f.01', 'TW-CSP-KO-20270115-60P-O1', 5, "
                "4242, 'KO', 'KO    270115P00060000', 'SLD', 1, 0.95, :now, 1.0)"
            ),
            {"now": NOW},
        )
    return engine


def dump(engine: Engine) -> list[object]:
    """The schema and the revision, as SQLite stores them."""
    with engine.connect() as conn:
        schema = conn.execute(text("SELECT type, name, sql FROM sqlite_master ORDER BY name")).all()
        return [*schema, conn.execute(text("SELECT version_num FROM alembic_version")).scalar()]


def test_round1_database_upgrades_and_matches_the_schema(tmp_path: Path) -> None:
    engine = round1_database(tmp_path / "round1.db")
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == [], diff  # shared/schema.py and the migrations can never drift apart
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        intents = conn.execute(text("SELECT key, kind, status FROM intents ORDER BY id")).all()
        legs = conn.execute(text("SELECT intent_key, leg_no, con_id, action, ratio FROM order_legs")).all()
        execs = conn.execute(
            text("SELECT exec_id, sec_type, strike, multiplier, commission FROM executions")
        ).all()
    assert version == head_revision()
    assert [(k, s) for _, k, s in intents] == [("sell_put", "working"), ("sell_put", "placing")]
    assert legs == [("TW-CSP-KO-20270115-60P-O1", 1, 4242, "SELL", 1)]
    assert execs == [("0001f.01", "OPT", 60.0, 100, 1.0)]
    upgrade(engine)  # idempotent


def test_a_fresh_database_matches_the_schema(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    upgrade(engine)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def test_a_newer_schema_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    before = dump(engine)
    with pytest.raises(SchemaNewerError, match="'0099' is newer"):
        upgrade(engine)
    assert dump(engine) == before
    engine.dispose()

    env = tmp_path / ".env"
    env.write_text(f"DATABASE_URL=sqlite:///{path}\n")
    run = subprocess.run(
        [sys.executable, "-m", "shared.cli", "ledger", "rebuild", "--env-file", str(env)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert run.returncode == 2, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "0099" in lines[0] and "Traceback" not in run.stderr
