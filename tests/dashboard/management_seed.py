"""Management rows for the dashboard tests, as the monitor writes them (``monitor/manage.py``): decisions
with their proposed intents (a roll with its two legs), the risk state, and a newer account snapshot."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from dashboard_seed import AAPL_CALL, KO_PUT
from sqlalchemy import Engine, insert

from shared import schema as s
from shared.db import utcnow
from shared.marketcal import trading_day

#: Decision ids: KO's pending profit-take close, AAPL's pending 21-DTE roll, a lapsed stop loss, an alert.
D_CLOSE, D_ROLL, D_LAPSED, D_ALERT = 1, 2, 3, 4
KEY_CLOSE = "TW-MGT-PROFIT-TAKE-KO261120P00060000-D1"
KEY_ROLL = "TW-MGT-DTE-ROLL-AAPL261218C00210000-D2"
KEY_LAPSED = "TW-MGT-STOP-LOSS-KO261120P00055000-D3"
#: The roll's new leg.
ROLL_TO_CON, ROLL_TO = 700401, "AAPL  270115C00215000"


def _iso(delta_seconds: float = 0.0) -> str:
    return (utcnow() + timedelta(seconds=delta_seconds)).isoformat()


def _decision(did: int, rule: str, action: str, status: str, **kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": did, "rule": rule, "mode": "approve", "action": action, "status": status, "symbol": "KO",
        "con_id": KO_PUT, "local_symbol": "KO    261120P00060000", "right": "P", "strike": 60.0,
        "expiry": "20261120", "contracts": 2, "credit": 0.715, "mark": 0.30, "profit_fraction": 0.58,
        "dte": 10, "delta": -0.12, "underlying_price": 66.0, "itm": False, "limit_price": 0.32,
        "new_con_id": None, "new_local_symbol": None, "new_expiry": None, "new_strike": None,
        "net_credit": None, "reason": "", "intent_key": None, "decided_by": "monitor",
        "created_at": _iso(-300 + did), "updated_at": _iso(-300 + did),
    }  # fmt: skip
    row.update(kw)
    return row


def _intent(key: str, kind: str, status: str, **kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "key": key, "source": "monitor", "opportunity_id": None, "kind": kind, "action": "BUY",
        "sec_type": "OPT", "symbol": "KO", "con_id": KO_PUT, "local_symbol": "KO    261120P00060000",
        "expiry": "20261120", "strike": 60.0, "right": "P", "quantity": 2, "limit_floor": 0.32,
        "status": status, "status_reason": "profit take: 58 % of the credit", "created_at": _iso(-290),
        "updated_at": _iso(-290),
    }  # fmt: skip
    row.update(kw)
    return row


def seed_decisions(engine: Engine) -> None:
    """Two pending decisions (a close and a roll, their intents ``proposed``), one lapsed, one alert."""
    aapl = {"symbol": "AAPL", "con_id": AAPL_CALL, "local_symbol": "AAPL  261218C00210000", "right": "C",
            "strike": 210.0, "expiry": "20261218"}  # fmt: skip
    with engine.begin() as conn:
        conn.execute(
            insert(s.decisions),
            [
                _decision(D_CLOSE, "profit_take", "close", "pending", intent_key=KEY_CLOSE,
                          reason="KO 60 P: profit 58.0 % of the 0.715 credit ≥ profit_take_fraction 50 %"),
                _decision(D_ROLL, "dte_roll", "roll", "pending", intent_key=KEY_ROLL, contracts=1,
                          credit=1.85, mark=0.74, profit_fraction=0.6, dte=8, delta=0.28,
                          underlying_price=203.25, limit_price=0.5, new_con_id=ROLL_TO_CON,
                          new_local_symbol=ROLL_TO, new_expiry="20270115", new_strike=215.0,
                          net_credit=0.55, reason="AAPL 210 C: 8 DTE ≤ roll_dte 21: roll to 2027-01-15 215 C "
                          "for a net credit of 0.55", **aapl),
                _decision(D_LAPSED, "stop_loss", "close", "lapsed", intent_key=KEY_LAPSED, con_id=700555,
                          local_symbol="KO    261120P00055000", strike=55.0, mark=1.60, profit_fraction=-1.24,
                          reason="KO 55 P: loss 2.2 × the credit ≥ stop_loss_multiple 2"),
                _decision(D_ALERT, "gamma", "hold", "alerted", mode="alert", dte=5, itm=True,
                          reason="KO 60 P: 5 DTE and in the money: gamma / assignment risk"),
            ],
        )  # fmt: skip
        conn.execute(
            insert(s.intents),
            [
                _intent(KEY_CLOSE, "buy_to_close", "proposed"),
                _intent(KEY_ROLL, "roll", "proposed", sec_type="BAG", quantity=1, limit_floor=-0.5,
                        status_reason="21-DTE roll", **aapl),
                _intent(KEY_LAPSED, "buy_to_close", "cancelled", con_id=700555, strike=55.0,
                        local_symbol="KO    261120P00055000", status_reason="cancelled: no longer held"),
            ],
        )  # fmt: skip
        legs = {"intent_key": KEY_ROLL, "ratio": 1, "sec_type": "OPT", "symbol": "AAPL", "right": "C"}
        conn.execute(
            insert(s.intent_legs),
            [
                legs | {"leg_no": 1, "con_id": AAPL_CALL, "action": "BUY",
                        "local_symbol": aapl["local_symbol"], "expiry": "20261218", "strike": 210.0},
                legs | {"leg_no": 2, "con_id": ROLL_TO_CON, "action": "SELL", "local_symbol": ROLL_TO,
                        "expiry": "20270115", "strike": 215.0},
            ],
        )  # fmt: skip


def seed_account(engine: Engine, net_liquidation: float, **kw: float) -> None:
    """A newer account snapshot: ``net_liquidation`` dollars, cash, available funds and excess liquidity
    equal to it unless given."""
    row = {
        "ts": _iso(-1), "account": "DU1234567", "net_liquidation": net_liquidation,
        "total_cash": net_liquidation, "buying_power": 4 * net_liquidation,
        "excess_liquidity": net_liquidation, "available_funds": net_liquidation, "maint_margin": 0.0,
        "unrealized_pnl": 0.0, "realized_pnl": 0.0,
    }  # fmt: skip
    row.update(kw)
    with engine.begin() as conn:
        conn.execute(insert(s.account_snapshots).values(**row))


def seed_risk_state(engine: Engine, *, offset_seconds: float = 0.0, **kw: Any) -> None:
    """The monitor's ``risk_state`` row for today (TWS's clock = this machine's + ``offset_seconds``)."""
    now = utcnow() + timedelta(seconds=offset_seconds)
    row = {
        "id": 1, "trading_day": trading_day(now), "day_start_net_liquidation": 1_045_000.0,
        "net_liquidation": 1_043_215.55, "daily_pnl": -1_784.45, "daily_loss_halt": False,
        "daily_loss_reason": "", "tws_time": now.isoformat(), "clock_offset_seconds": offset_seconds,
        "updated_at": _iso(-5),
    }  # fmt: skip
    row.update(kw)
    with engine.begin() as conn:
        conn.execute(insert(s.risk_state).values(**row))
