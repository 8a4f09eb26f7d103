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


#: TWS's clock at the seeded ledger refresh: the dashboard's "today" for DTE (a simulator's clock may run
#: weeks ahead of the machine's).
AS_OF = "2026-12-10T15:00:00+00:00"


def _iso(delta_seconds: float = 0.0) -> str:
    return (utcnow() + timedelta(seconds=delta_seconds)).isoformat()


#: Ids of the seeded rows the tests refer to.
OLD_SCAN, NEW_SCAN, RUNNING_SCAN = 1, 2, 3
OPP_SPY, OPP_KO, OPP_AAPL, OPP_OLD = 11, 12, 13, 5
#: Covered calls: T has 300 shares and no calls (the second one sized for 2 contracts); AAPL's 100
#: shares are already covered by its short 210 call, although the scan sized the opportunity for 1.
OPP_T_CC, OPP_T_CC2, OPP_AAPL_CC = 14, 15, 16
#: Contract ids of the positions.
AAPL_STK, T_STK, KO_PUT, AAPL_CALL = 265598, 37018770, 700099, 700201
#: Wheel cycles: AAPL's closed first cycle and its open second (shares + the short 210 call), KO's
#: open put, T's shares held before thetawheel.
CYCLE_AAPL_1, CYCLE_AAPL_2, CYCLE_KO, CYCLE_T = 1, 2, 3, 4


def _opportunity(
    oid: int, scan_id: int, rank: int, symbol: str, con_id: int, strike: float, **kw: Any
) -> dict:
    bid, ask = kw.pop("bid"), kw.pop("ask")
    mid = round((bid + ask) / 2, 4)
    dte = kw.pop("dte", 35)
    right = kw.pop("right", "P")
    row = {
        "id": oid,
        "scan_id": scan_id,
        "strategy": "CSP" if right == "P" else "CC",
        "symbol": symbol,
        "con_id": con_id,
        "local_symbol": f"{symbol:<6}261218{right}{int(strike * 1000):08d}",
        "expiry": "20261218",
        "strike": strike,
        "right": right,
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
        "cost_basis": None,  # every row names every column (see the positions below)
        "max_contracts": None,
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
                _call(OPP_T_CC, 4, "T", 700301, 26.0, 0.42, 0.46, underlying=25.40, basis=24.10, most=3),
                _call(OPP_T_CC2, 5, "T", 700302, 27.0, 0.20, 0.24, underlying=25.40, basis=24.10, most=2),
                _call(OPP_AAPL_CC, 6, "AAPL", 700303, 215.0, 1.10, 1.20, underlying=203.25, basis=191.071,
                      most=1),
            ],
        )  # fmt: skip
        conn.execute(
            insert(s.account_snapshots),
            [
                {"ts": _iso(-3600), "account": "DU1234567", "net_liquidation": 1.0, "total_cash": 1.0,
                 "buying_power": 1.0, "excess_liquidity": 1.0, "available_funds": 1.0, "maint_margin": 0.0,
                 "unrealized_pnl": 0.0, "realized_pnl": 0.0},
                # large enough for the risk gate to let the tests sell two SPY 600 puts ($120,000)
                {"ts": _iso(-20), "account": "DU1234567", "net_liquidation": 1043215.55,
                 "total_cash": 987654.43,
                 "buying_power": 3950617.72, "excess_liquidity": 876543.32, "available_funds": 870000.0,
                 "maint_margin": 111110.0, "unrealized_pnl": -432.1, "realized_pnl": 1250.75},
            ],
        )  # fmt: skip
        conn.execute(
            insert(s.positions),
            [  # every row names every column: an executemany takes its columns from the first row
                {"con_id": AAPL_STK, "account": "DU1234567", "symbol": "AAPL", "sec_type": "STK",
                 "local_symbol": "AAPL", "expiry": None, "strike": None, "right": None,
                 "underlying_price": None, "multiplier": 1, "quantity": 100, "avg_cost": 195.5,
                 "market_price": 203.25, "market_value": 20325.0, "unrealized_pnl": 775.0,
                 "realized_pnl": 0.0,
                 "delta": 1.0, "position_delta": 100.0, "updated_at": _iso(-20)},
                {"con_id": KO_PUT, "account": "DU1234567", "symbol": "KO", "sec_type": "OPT",
                 "local_symbol": "KO    261120P00060000", "expiry": "20261120", "strike": 60.0, "right": "P",
                 "multiplier": 100, "quantity": -2, "avg_cost": 71.3, "market_price": 0.95,
                 "market_value": -190.0, "unrealized_pnl": -47.4, "realized_pnl": 0.0, "delta": -0.31,
                 "position_delta": 62.0, "updated_at": _iso(-20), "underlying_price": 66.0},
                {"con_id": AAPL_CALL, "account": "DU1234567", "symbol": "AAPL", "sec_type": "OPT",
                 "local_symbol": "AAPL  261218C00210000", "expiry": "20261218", "strike": 210.0, "right": "C",
                 "multiplier": 100, "quantity": -1, "avg_cost": 183.95, "market_price": 0.74,
                 "market_value": -74.0, "unrealized_pnl": 109.95, "realized_pnl": 0.0, "delta": 0.28,
                 "position_delta": -28.0, "updated_at": _iso(-20), "underlying_price": 203.25},
                {"con_id": T_STK, "account": "DU1234567", "symbol": "T", "sec_type": "STK",
                 "local_symbol": "T", "expiry": None, "strike": None, "right": None,
                 "underlying_price": None, "multiplier": 1, "quantity": 300, "avg_cost": 24.10,
                 "market_price": 25.40, "market_value": 7620.0, "unrealized_pnl": 390.0, "realized_pnl": 0.0,
                 "delta": 1.0, "position_delta": 300.0, "updated_at": _iso(-20)},
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
             "kind": "sell_put", "action": "SELL", "sec_type": "OPT", "symbol": "KO", "con_id": 700099,
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
        seed_cycles(conn)
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


def _call(oid: int, rank: int, symbol: str, con_id: int, strike: float, bid: float, ask: float, **kw: Any):
    """A covered-call opportunity of the newest scan (``basis`` $/share, ``most`` = max_contracts)."""
    basis, most, underlying = kw.pop("basis"), kw.pop("most"), kw.pop("underlying")
    mid = round((bid + ask) / 2, 4)
    return _opportunity(
        oid, NEW_SCAN, rank, symbol, con_id, strike, bid=bid, ask=ask, right="C", delta=0.30,
        underlying_price=underlying, collateral=basis * 100, cost_basis=basis, max_contracts=most,
        annualized_return=mid / underlying * 365 / 35, **kw,
    )  # fmt: skip


def _cycle(cid: int, symbol: str, seq: int, stage: str, started: str, **kw: Any) -> dict:
    row = {"id": cid, "symbol": symbol, "seq": seq, "stage": stage, "started_at": started, "closed_at": None,
           "shares": 0.0, "assigned_shares": 0.0, "assignment_price": None, "assignment_cost": 0.0,
           "premiums": 0.0, "commissions": 0.0, "stock_pnl": 0.0, "realized_pnl": 0.0,
           "adjusted_cost_basis": None, "collateral": 0.0, "days_open": 0, "annualized_return": None,
           "preexisting": False, "as_of": AS_OF, "updated_at": _iso(-20)}  # fmt: skip
    row.update(kw)
    return row


def _leg(
    cycle_id: int,
    seq: int,
    kind: str,
    day: str,
    con_id: int,
    local_symbol: str,
    qty: float,
    price: float,
    commission: float = 0.0,
) -> dict:
    """A cycle leg at ``day`` (``MM-DD`` of 2026, 15:00 UTC); an option leg (its local symbol names
    expiry, right and strike) has premium −signed quantity × price × 100 (+ for a sale), as the
    monitor's ledger books it."""
    option = len(local_symbol) == 21
    expiry = "20" + local_symbol[6:12] if option else None
    strike = int(local_symbol[13:]) / 1000 if option else None
    sign = 1 if kind.startswith("sell_") else -1
    return {"cycle_id": cycle_id, "seq": seq, "kind": kind, "exec_id": f"0000e0d5.{cycle_id:04d}.{seq:02d}",
            "time": f"2026-{day}T15:00:00+00:00", "con_id": con_id, "local_symbol": local_symbol,
            "expiry": expiry, "strike": strike, "right": local_symbol[12] if option else None,
            "quantity": qty, "price": price, "premium": sign * qty * price * 100 if option else 0.0,
            "commission": commission}  # fmt: skip


def seed_cycles(conn: Any) -> None:
    """The wheel ledger as the monitor would have booked it from the executions."""
    a1, a2 = CYCLE_AAPL_1, CYCLE_AAPL_2
    put190, call195 = "AAPL  260821P00190000", "AAPL  260918C00195000"
    put195, call210 = "AAPL  261030P00195000", "AAPL  261218C00210000"
    conn.execute(
        insert(s.cycles),
        [
            _cycle(a1, "AAPL", 1, "closed", "2026-07-24T15:00:00+00:00",
                   closed_at="2026-09-18T15:00:00+00:00", assigned_shares=100.0, assignment_price=190.0,
                   assignment_cost=19000.0, premiums=270.0, commissions=2.10, stock_pnl=500.0,
                   realized_pnl=767.90, collateral=19000.0, days_open=56,
                   annualized_return=767.90 / 19000.0 * 365 / 56),
            _cycle(a2, "AAPL", 2, "shares+call", "2026-10-01T15:00:00+00:00", shares=100.0,
                   assigned_shares=100.0, assignment_price=195.0, assignment_cost=19500.0, premiums=395.0,
                   commissions=2.10, realized_pnl=207.90, adjusted_cost_basis=191.071, collateral=19500.0,
                   days_open=63, annualized_return=207.90 / 19500.0 * 365 / 63),
            _cycle(CYCLE_KO, "KO", 1, "put", "2026-11-02T15:00:00+00:00", premiums=143.0, commissions=1.31,
                   realized_pnl=-1.31, collateral=12000.0, days_open=31,
                   annualized_return=-1.31 / 12000.0 * 365 / 31),
            _cycle(CYCLE_T, "T", 1, "shares", "2026-06-01T15:00:00+00:00", shares=300.0,
                   assigned_shares=300.0, assignment_price=24.10, assignment_cost=7230.0,
                   adjusted_cost_basis=24.10, collateral=7230.0, days_open=185, annualized_return=0.0,
                   preexisting=True),
        ],
    )  # fmt: skip
    conn.execute(
        insert(s.cycle_legs),
        [
            _leg(a1, 1, "sell_put", "07-24", 700101, put190, 1, 1.50, 1.05),
            _leg(a1, 2, "put_assigned", "08-21", 700101, put190, 1, 0.0),
            _leg(a1, 3, "shares_assigned", "08-21", AAPL_STK, "AAPL", 100, 190.0),
            _leg(a1, 4, "sell_call", "08-24", 700102, call195, 1, 1.20, 1.05),
            _leg(a1, 5, "call_assigned", "09-18", 700102, call195, 1, 0.0),
            _leg(a1, 6, "shares_called_away", "09-18", AAPL_STK, "AAPL", 100, 195.0),
            _leg(a2, 1, "sell_put", "10-01", 700103, put195, 1, 2.10, 1.05),
            _leg(a2, 2, "put_assigned", "10-30", 700103, put195, 1, 0.0),
            _leg(a2, 3, "shares_assigned", "10-30", AAPL_STK, "AAPL", 100, 195.0),
            _leg(a2, 4, "sell_call", "11-02", AAPL_CALL, call210, 1, 1.85, 1.05),
            _leg(CYCLE_KO, 1, "sell_put", "11-02", KO_PUT, "KO    261120P00060000", 2, 0.715, 1.31),
            _leg(CYCLE_T, 1, "shares_opening", "06-01", T_STK, "T", 300, 24.10),
        ],
    )
