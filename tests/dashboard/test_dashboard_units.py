"""Dashboard pieces without HTTP: formatting, intent keys, validation, concurrency, secret key, heartbeat,
option figures."""

from __future__ import annotations

import logging
import stat
import threading
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from dashboard_seed import OPP_KO, OPP_SPY
from sqlalchemy import Engine, func, select

from dashboard import formatting as f
from dashboard.actions import ActionError, approve_opportunity, intent_key, parse_quantity
from dashboard.figures import captured_fraction, dte, exchange_today, otm_fraction, per_contract
from dashboard.queries import component_health
from dashboard.runtime import Heartbeat, resolve_secret_key, secret_key_path, wait_for_schema
from dashboard.wheel import open_options
from shared import schema as s
from shared.config import Config
from shared.db import make_engine
from shared.settings import Settings


def test_formatting() -> None:
    assert f.money(1234.5) == "$1,234.50" and f.money(-12) == "-$12.00" and f.money(None) == "—"
    assert f.money(60000, 0) == "$60,000"
    assert f.percent(0.1234) == "12.3 %" and f.strike(600.0) == "600" and f.strike(22.5) == "22.5"
    assert f.strike(2.75) == "2.75" and f.quantity(-2.0) == "-2" and f.pnl_class(-1) == "neg"
    assert f.age(8.7) == "8 s" and f.age(185) == "3 min 5 s" and f.age(None) == "never"
    assert f.price(0.715) == "0.715" and f.price(6.5) == "6.50" and f.price(1.23456) == "1.2346"
    assert f.price(1234.5) == "1,234.50"
    assert f.expiry("20261218") == "2026-12-18"
    assert f.timestamp("2026-11-21T14:30:05.123+00:00") == "2026-11-21 14:30:05 UTC"


def test_intent_key_format() -> None:
    opp = {"strategy": "CSP", "symbol": "BRK.B", "expiry": "20261218", "strike": 452.5, "right": "P", "id": 7}
    assert intent_key(opp) == "TW-CSP-BRK.B-20261218-452.5P-O7"
    huge = opp | {"symbol": "X" * 40, "id": 10**12}
    with pytest.raises(ActionError):
        intent_key(huge)


@pytest.mark.parametrize("raw", [0, 101, -1, "3", 2.0, True, "", [1]])
def test_parse_quantity_rejects_json(raw: object) -> None:
    with pytest.raises(ActionError) as err:
        parse_quantity(raw, 1)
    assert err.value.status == 400 and err.value.field == "quantity"


def test_parse_quantity_accepts() -> None:
    assert parse_quantity(None, 4) == 4 and parse_quantity(100, 1) == 100
    assert parse_quantity(" 7 ", 1, from_form=True) == 7 and parse_quantity("", 2, from_form=True) == 2
    with pytest.raises(ActionError):
        parse_quantity("1.5", 1, from_form=True)


def test_simultaneous_approvals_create_one_intent(engine: Engine) -> None:
    """Eight threads approve the same contract at once: exactly one intent, seven 409s."""
    barrier = threading.Barrier(8)
    results: list[int] = []

    def click() -> None:
        barrier.wait()
        try:
            approve_opportunity(engine, OPP_SPY, 1)
            results.append(201)
        except ActionError as err:
            results.append(err.status)

    threads = [threading.Thread(target=click) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert sorted(results) == [201] + [409] * 7
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).where(s.intents.c.con_id == 700002)).scalar_one()
    assert count == 1


def test_reapproval_after_cancel_is_a_conflict_not_a_crash(engine: Engine) -> None:
    created = approve_opportunity(engine, OPP_KO, 1)
    with engine.begin() as conn:
        conn.execute(s.intents.update().where(s.intents.c.id == created["id"]).values(status="cancelled"))
    with pytest.raises(ActionError) as err:
        approve_opportunity(engine, OPP_KO, 1)
    assert err.value.status == 409 and "(cancelled) already exists" in err.value.message


def test_secret_key_generated_once_and_reused(config: Config, tmp_path: Path) -> None:
    path = secret_key_path(config.settings)
    assert path == tmp_path / "data" / "dashboard-secret.key"
    first = resolve_secret_key(config.settings)
    assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert resolve_secret_key(config.settings) == first and len(first) == 64
    explicit = Settings(_env_file=None, DATABASE_URL="sqlite:///x.db", DASHBOARD_SECRET_KEY="s" * 40)  # type: ignore[call-arg]
    assert resolve_secret_key(explicit) == "s" * 40


def test_heartbeat_row(engine: Engine) -> None:
    hb = Heartbeat(engine, interval=0.05, detail="http://127.0.0.1:7001")
    hb.start()
    try:
        health = {c["component"]: c for c in component_health(engine)}
        assert health["dashboard"]["up"] and health["dashboard"]["state"] == "running"
        assert health["dashboard"]["client_id"] is None
    finally:
        hb.stop()
    health = {c["component"]: c for c in component_health(engine)}
    assert health["dashboard"]["state"] == "stopped" and not health["dashboard"]["up"]


def test_wait_for_schema_logs_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from shared.migrate import upgrade

    eng = make_engine(f"sqlite:///{tmp_path / 'later.db'}")
    naps: list[float] = []

    def fake_sleep(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 3:
            upgrade(eng)  # the monitor arrives

    with caplog.at_level(logging.INFO, logger="dashboard"):
        wait_for_schema(eng, sleep=fake_sleep)
    eng.dispose()
    assert naps == [1.0, 1.0, 1.0]
    waiting = [
        r for r in caplog.records if "waiting for the monitor to create the database schema" in r.message
    ]
    assert len(waiting) == 1


def test_option_figures() -> None:
    assert otm_fraction("P", 60.0, 66.0) == pytest.approx(6 / 66)  # (spot − strike) ÷ spot
    assert otm_fraction("C", 210.0, 200.0) == pytest.approx(0.05)  # (strike − spot) ÷ spot
    assert otm_fraction("C", 190.0, 200.0) == pytest.approx(-0.05)  # in the money
    assert otm_fraction("P", 60.0, None) is None and otm_fraction(None, 60.0, 66.0) is None
    assert captured_fraction(185.0, 74.0) == pytest.approx(0.6) and captured_fraction(0.0, 1.0) is None
    assert captured_fraction(100.0, None) is None and per_contract(1.85) == pytest.approx(185.0)
    assert dte("20261218", date(2026, 12, 3)) == 15 and dte("bad", date(2026, 12, 3)) is None
    # 03:00 UTC is still the previous evening in New York
    assert exchange_today(datetime(2026, 12, 4, 3, 0, tzinfo=UTC)) == date(2026, 12, 3)


def test_open_options_nets_closing_legs() -> None:
    def leg(kind: str, con_id: int, qty: float, price: float, time: str) -> dict:
        return {"kind": kind, "con_id": con_id, "quantity": qty, "price": price, "time": time,
                "local_symbol": f"X{con_id}", "right": "C", "strike": 30.0, "expiry": "20261218"}  # fmt: skip

    legs = [
        leg("sell_call", 1, 2, 1.00, "t1"),
        leg("sell_call", 1, 1, 1.30, "t2"),  # added to: average 1.10
        leg("buy_call", 1, 1, 0.40, "t3"),  # one of three bought back
        leg("sell_call", 2, 1, 0.80, "t4"),
        leg("call_expired", 2, 1, 0.0, "t5"),
    ]
    [only] = open_options(legs)
    assert (only["con_id"], only["quantity"], only["opened_at"]) == (1, 2, "t2")
    assert only["premium_per_share"] == pytest.approx(1.10)
