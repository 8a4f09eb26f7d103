"""Rows the dashboard tests insert into a freshly migrated database, and the ids they refer to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, insert

from shared import schema as s
from shared.config import Config
from shared.db import utcnow


@dataclass
class Live:
    """The app served by waitress: its base URL and the database behind it."""

    url: str
    engine: Engine
    config: Config


def _iso(delta_seconds: float = 0.0) -> str:
    return (utcnow() + timedelta(seconds=delta_seconds)).isoformat()


#: Ids of the seeded rows the tests refer to.
OLD_SCAN, NEW_SCAN, RUNNING_SCAN = 1, 2, 3
OPP_SPY, OPP_KO, OPP_AAPL, OPP_OLD = 11, 12, 13, 5


def _opportunity(
    oid: int, scan_id: int, rank: int, symbol: str, con_id: int, strike: float, **kw: Any
) -> dict:
    bid, ask = kw.pop("bid"), kw.pop("ask")
    mid = round((bid + ask) / 2, 4)
    dte = kw.pop("dte", 35)
    row = {
        "id": oid,
        "scan_id": scan_id,
        "strategy": "CSP",
        "symbol": symbol,
        "con_id": con_id,
        "local_symbol": f"{symbol:<6}261218P{int(strike * 1000):08d}",
        "expiry": "20261218",
        "strike": strike,
        "right": "P",
        "dte": dte,
        "underlying_price": strike * 1.08,
        "bid": bid,
        "ask": ask,
        "mid": mid,
        "spread_pct": (ask - bid) / mid,
        "delta": -0.24,
        "iv": 0.215,
        "open_interest": 12500,
        "credit": mid,
        "collateral": strike * 100,
        "annualized_return": mid / strike * 365 / dte,
        "prob_otm": 0.76,
        "liquidity_factor": 0.93,
        "score": 1.0 / rank,
        "rank": rank,
        "created_at": _iso(-120),
    }
    row.update(kw)
    return row


def seed(engine: Engine) -> None:
    """Insert one of everything the pages show (through SQLAlchemy Core, as the other processes do)."""
    with engine.begin() as conn:
        conn.execute(
            insert(s.scans),
            [
                {"id": OLD_SCAN, "started_at": _iso(-900), "finished_at": _iso(-880), "status": "done",
                 "symbols": 3, "contracts_checked": 200, "candidates": 1, "detail": ""},
                {"id": NEW_SCAN, "started_at": _iso(-130), "finished_at": _iso(-120), "status": "done",
                 "symbols": 13, "contracts_checked": 1480, "candidates": 3, "detail": ""},
                {"id": RUNNING_SCAN, "started_at": _iso(-5), "finished_at": None, "status": "running",
                 "symbols": 13, "contracts_checked": 0, "candidates": 0, "detail": ""},
            ],
        )  # fmt: skip
        conn.execute(
            insert(s.opportunities),
            [
                _opportunity(OPP_OLD, OLD_SCAN, 1, "SPY", 700001, 590.0, bid=5.10, ask=5.30),
                _opportunity(OPP_SPY, NEW_SCAN, 1, "SPY", 700002, 600.0, bid=6.45, ask=6.55),
                _opportunity(OPP_KO, NEW_SCAN, 2, "KO", 700003, 62.5, bid=0.71, ask=0.75),
                _opportunity(OPP_AAPL, NEW_SCAN, 3, "AAPL", 700004, 210.0, bid=2.98, ask=3.12, dte=28),
            ],
        )
        conn.execute(
            insert(s.account_snapshots),
            [
                {"ts": _iso(-3600), "account": "DU1234567", "net_liquidation": 1.0, "total_cash": 1.0,
                 "buying_power": 1.0, "excess_liquidity": 1.0, "available_funds": 1.0, "maint_margin": 0.0,
                 "unrealized_pnl": 0.0, "realized_pnl": 0.0},
                {"ts": _iso(-20), "account": "DU1234567", "net_liquidation": 104321.55,
                 "total_cash": 98765.43,
                 "buying_power": 395061.72, "excess_liquidity": 87654.32, "available_funds": 87000.0,
                 "maint_margin": 11111.0, "unrealized_pnl": -432.1, "realized_pnl": 1250.75},
            ],
        )  # fmt: skip
        conn.execute(
            insert(s.positions),
            [
                {"con_id": 265598, "account": "DU1234567", "symbol": "AAPL", "sec_type": "STK",
                 "local_symbol": "AAPL", "multiplier": 1, "quantity": 100, "avg_cost": 195.5,
                 "market_price": 203.25, "market_value": 20325.0, "unrealized_pnl": 775.0,
                 "realized_pnl": 0.0,
                 "delta": 1.0, "position_delta": 100.0, "updated_at": _iso(-20)},
                {"con_id": 700099, "account": "DU1234567", "symbol": "KO", "sec_type": "OPT",
                 "local_symbol": "KO    261120P00060000", "expiry": "20261120", "strike": 60.0, "right": "P",
                 "multiplier": 100, "quantity": -2, "avg_cost": 71.3, "market_price": 0.95,
                 "market_value": -190.0, "unrealized_pnl": -47.4, "realized_pnl": 0.0, "delta": -0.31,
                 "position_delta": 62.0, "updated_at": _iso(-20)},
            ],
        )  # fmt: skip
        conn.execute(
            insert(s.heartbeats),
            [
                {"component": "monitor", "pid": 4101, "client_id": 10000, "state": "connected",
                 "detail": "", "started_at": _iso(-600), "updated_at": _iso(-3)},
                {"component": "scanner", "pid": 4102, "client_id": 11000, "state": "connected",
                 "detail": "", "started_at": _iso(-600), "updated_at": _iso(-8)},
                {"component": "executor", "pid": 4103, "client_id": 12000, "state": "connected",
                 "detail": "", "started_at": _iso(-600), "updated_at": _iso(-300)},
            ],
        )  # fmt: skip
        conn.execute(
            insert(s.intents),
            {"key": "TW-CSP-KO-20261120-60P-O3", "source": "dashboard", "opportunity_id": None,
             "kind": "open_csp", "action": "SELL", "sec_type": "OPT", "symbol": "KO", "con_id": 700099,
             "local_symbol": "KO    261120P00060000", "expiry": "20261120", "strike": 60.0, "right": "P",
             "quantity": 2, "limit_floor": 0.70, "status": "filled", "status_reason": "filled 2 @ 0.7150",
             "created_at": _iso(-7200), "updated_at": _iso(-7000)},
        )  # fmt: skip
        conn.execute(
            insert(s.orders),
            {"intent_key": "TW-CSP-KO-20261120-60P-O3", "order_id": 57, "perm_id": 998877, "client_id": 12000,
             "account": "DU1234567", "action": "SELL", "order_type": "LMT", "quantity": 2,
             "limit_price": 0.72,
             "con_id": 700099, "symbol": "KO", "local_symbol": "KO    261120P00060000", "status": "Filled",
             "filled": 2, "remaining": 0, "avg_fill_price": 0.715, "created_at": _iso(-7100),
             "updated_at": _iso(-7000)},
        )  # fmt: skip
        conn.execute(
            insert(s.fills),
            {"exec_id": "0000e0d5.6571b9a2.01.01", "intent_key": "TW-CSP-KO-20261120-60P-O3", "order_id": 57,
             "perm_id": 998877, "con_id": 700099, "symbol": "KO", "local_symbol": "KO    261120P00060000",
             "side": "SLD", "quantity": 2, "price": 0.715, "time": _iso(-7000), "commission": 1.31,
             "currency": "USD", "realized_pnl": None},
        )  # fmt: skip
        conn.execute(
            insert(s.alerts),
            {"id": 1, "created_at": _iso(-7000), "source": "executor", "severity": "warning",
             "category": "fill", "title": "Sold 2 KO Nov20 60 P @ 0.715", "body": "credit $143.00",
             "dedup_key": "fill:TW-CSP-KO", "repeat_count": 3},
        )  # fmt: skip
        conn.execute(
            insert(s.alert_deliveries),
            [
                {"alert_id": 1, "channel": "email", "status": "sent", "attempts": 1, "last_error": "",
                 "next_attempt_at": _iso(-7000), "sent_at": _iso(-6990)},
                {"alert_id": 1, "channel": "sms", "status": "pending", "attempts": 2,
                 "last_error": "breaker open", "next_attempt_at": _iso(30), "sent_at": None},
            ],
        )  # fmt: skip
        conn.execute(
            insert(s.breakers),
            {"name": "sms", "state": "open", "fail_counter": 5, "success_counter": 0, "opened_at": _iso(-60),
             "updated_at": _iso(-60)},
        )  # fmt: skip
