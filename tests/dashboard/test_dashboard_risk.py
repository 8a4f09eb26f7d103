"""The risk gate before an approval: the executor's own checks (``shared.risk``) refuse with 409, the
reason and the number that failed, and nothing is written — over HTTP against the real app, and on the
action itself for the market-hours and restart-window checks (which need their own settings)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import requests
from dashboard_seed import OPP_KO, OPP_SPY, OPP_T_CC, Live
from management_seed import seed_account, seed_risk_state
from sqlalchemy import Engine, func, insert, select

from dashboard.actions import approve_opportunity
from dashboard.errors import ActionError
from dashboard.riskcheck import RiskGate
from shared import schema as s
from shared.db import utcnow, utcnow_iso
from shared.marketcal import ET
from shared.settings import Settings
from shared.strategy import RiskRules


def _token(live: Live, http: requests.Session) -> str:
    return str(http.get(f"{live.url}/api/v1/csrf", timeout=5).json()["csrf_token"])


def _approve(live: Live, http: requests.Session, opp_id: int, qty: int = 1) -> Any:
    url = f"{live.url}/api/v1/opportunities/{opp_id}/approve"
    return http.post(url, json={"quantity": qty}, headers={"X-CSRFToken": _token(live, http)}, timeout=5)


def _counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in (s.intents, s.intent_legs, s.commands)
        )


def test_symbol_limit_refuses_with_the_numbers_and_writes_nothing(live: Live, http: requests.Session) -> None:
    seed_account(live.engine, 100_000.0)  # one SPY 600 put needs $60,000: 60 % of net liquidation
    before = _counts(live.engine)
    resp = _approve(live, http, OPP_SPY)
    assert resp.status_code == 409, resp.text
    body = resp.json()
    assert body["field"] == "risk" and body["check"] == "symbol_limit"
    assert body["error"] == (
        "1 SPY put(s) at 600 need $60,000 collateral; SPY would tie up $60,000 (60.0 % of net liquidation "
        "$100,000), above max_symbol_fraction 20.0 % = $20,000"
    )
    assert _counts(live.engine) == before

    page = http.get(f"{live.url}/opportunities", timeout=5).text  # the HTML form shows the same reason
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    shown = http.post(
        f"{live.url}/opportunities/{OPP_SPY}/approve", data={"csrf_token": token.group(1)}, timeout=5
    )
    assert shown.status_code == 200 and "flash-error" in shown.text
    assert "Not approved: 1 SPY put(s) at 600 need $60,000 collateral" in shown.text
    assert "max_symbol_fraction 20.0 % = $20,000" in shown.text
    assert _counts(live.engine) == before


def test_buying_power_counts_pending_puts(live: Live, http: requests.Session) -> None:
    # $1,000,000 account with $70,000 available: the first SPY put ($60,000) fits, the second does not
    seed_account(live.engine, 1_000_000.0, available_funds=70_000.0)
    assert _approve(live, http, OPP_SPY).status_code == 201
    with live.engine.begin() as conn:  # the SPY intent is now pending collateral; a second contract of KO
        conn.execute(s.intents.update().values(status="working"))
    resp = _approve(live, http, OPP_KO, qty=2)  # 2 × 62.5 × 100 = $12,500 > $70,000 − $60,000
    assert resp.status_code == 409 and resp.json()["check"] == "buying_power", resp.text
    assert "available funds $70,000 less $60,000 committed" in resp.json()["error"]
    assert "leave $10,000" in resp.json()["error"]


def test_halt_and_daily_loss_refuse_opening_orders(live: Live, http: requests.Session) -> None:
    with live.engine.begin() as conn:
        conn.execute(
            insert(s.commands).values(kind="halt", reason="earnings week", actor="dashboard 10.0.0.7",
                                      created_at=utcnow_iso(), status="done")
        )  # fmt: skip
    before = _counts(live.engine)
    for opp in (OPP_KO, OPP_T_CC):  # a covered call opens a position too
        resp = _approve(live, http, opp)
        assert resp.status_code == 409 and resp.json()["check"] == "halt", resp.text
        assert "halted by dashboard 10.0.0.7 (earnings week)" in resp.json()["error"]
    assert _counts(live.engine) == before
    with live.engine.begin() as conn:
        conn.execute(
            insert(s.commands).values(kind="resume", reason="", actor="dashboard 10.0.0.7",
                                      created_at=utcnow_iso(), status="done")
        )  # fmt: skip
    seed_risk_state(
        live.engine,
        daily_pnl=-35_000.0,
        daily_loss_halt=True,
        daily_loss_reason="daily loss $35,000 (3.3 % of $1,045,000) ≥ daily_loss_halt_fraction 3 %",
    )
    resp = _approve(live, http, OPP_KO)
    assert resp.status_code == 409 and resp.json()["check"] == "daily_loss"
    assert resp.json()["error"].startswith("daily loss $35,000 (3.3 %")
    assert _counts(live.engine)[:2] == before[:2]  # no intent (only the resume command was added)


def _gate(**settings: Any) -> RiskGate:
    return RiskGate(Settings(_env_file=None, **settings), RiskRules())  # type: ignore[call-arg]


def test_market_hours_use_tws_clock_from_the_monitors_offset(engine: Engine) -> None:
    # TWS's clock runs ahead to Saturday 2026-12-12 15:00 UTC: the NYSE is closed then
    target = utcnow().replace(year=2026, month=12, day=12, hour=15, minute=0, second=0, microsecond=0)
    seed_risk_state(engine, offset_seconds=(target - utcnow()).total_seconds())
    before = _counts(engine)
    with pytest.raises(ActionError) as refused:
        approve_opportunity(engine, OPP_KO, 1, gate=_gate(TWS_RESTART_WINDOWS=""))
    assert (refused.value.status, refused.value.field, refused.value.check) == (409, "risk", "market_hours")
    assert "NYSE closed at 2026-12-12 10:00 ET" in refused.value.message
    assert _counts(engine) == before
    # MARKET_HOURS=always (paper) lets it through
    created = approve_opportunity(
        engine, OPP_KO, 1, gate=_gate(TWS_RESTART_WINDOWS="", MARKET_HOURS="always")
    )
    assert created["status"] == "approved"


def test_restart_window_refuses(engine: Engine) -> None:
    now = utcnow().astimezone(ET)
    start, end = (now - timedelta(minutes=30)), (now + timedelta(minutes=30))
    windows = f"{start:%H:%M}-{end:%H:%M}"
    with pytest.raises(ActionError) as refused:
        approve_opportunity(engine, OPP_KO, 1, gate=_gate(MARKET_HOURS="always", TWS_RESTART_WINDOWS=windows))
    assert refused.value.check == "restart_window"
    assert f"inside the TWS restart window {start:%H:%M}–{end:%H:%M} ET" in refused.value.message


def test_the_insert_itself_refuses_while_halted(engine: Engine) -> None:
    """Without the gate's precise check (a halt written between the check and the insert), the approval's
    guarded INSERT still writes nothing."""
    with engine.begin() as conn:
        conn.execute(
            insert(s.commands).values(
                kind="halt", reason="", actor="alice", created_at=utcnow_iso(), status="done"
            )
        )
    before = _counts(engine)
    with pytest.raises(ActionError) as refused:
        approve_opportunity(engine, OPP_KO, 1, gate=None)
    assert refused.value.status == 409 and "or a halt" in refused.value.message
    assert _counts(engine) == before
    with engine.begin() as conn:
        conn.execute(
            insert(s.commands).values(
                kind="resume", reason="", actor="alice", created_at=utcnow_iso(), status="done"
            )
        )
    assert approve_opportunity(engine, OPP_KO, 1, gate=None)["status"] == "approved"
