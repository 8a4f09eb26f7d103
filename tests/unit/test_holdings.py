"""Covered-call holdings: uncovered lots (pure arithmetic), cost basis from the open wheel cycle or TWS's
average cost (scanner.holdings), the same read from a migrated SQLite file, and the CC opportunity row
(scanner.store)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, Table, insert

from scanner.holdings import Holding, holdings_from_rows, uncovered_lots
from scanner.screen import OptionQuote, screen_call
from scanner.store import opportunity_row, read_holdings
from shared.schema import cycles, intents, positions
from shared.strategy import CallRules
from shared.trade import Right


class TestUncoveredLots:
    @pytest.mark.parametrize(
        ("shares", "short_calls", "pending", "lots"),
        [
            (100, 0, 0, 1),
            (99, 0, 0, 0),
            (199, 0, 0, 1),
            (250, 1, 0, 1),  # floor(150 / 100)
            (300, 1, 1, 1),  # a short call and an active sell_call intent cover 200
            (300, 3, 0, 0),
            (300, 4, 0, 0),  # over-covered: never negative
            (300, 2, 2, 0),
            (0, 0, 0, 0),
            (-100, 0, 0, 0),  # short stock
            (500, -2, 0, 3),  # the sign of the short calls is ignored
            (299.99999999999, 0, 0, 3),  # float noise
        ],
    )
    def test_table(self, shares: float, short_calls: float, pending: float, lots: int) -> None:
        assert uncovered_lots(shares, short_calls, pending) == lots


def stk(symbol: str, qty: float, avg_cost: float | None) -> dict[str, Any]:
    return {"symbol": symbol, "sec_type": "STK", "right": None, "quantity": qty, "avg_cost": avg_cost}


def opt(symbol: str, right: str, qty: float) -> dict[str, Any]:
    return {"symbol": symbol, "sec_type": "OPT", "right": right, "quantity": qty, "avg_cost": 55.0}


def cyc(symbol: str, seq: int, stage: str, basis: float | None) -> dict[str, Any]:
    return {"symbol": symbol, "seq": seq, "stage": stage, "adjusted_cost_basis": basis}


class TestHoldingsFromRows:
    def test_counts_and_cost_basis_sources(self) -> None:
        rows = [
            stk("KO", 300, 61.0),
            opt("KO", "C", -1),  # covers 100
            opt("KO", "C", 2),  # a long call covers nothing
            opt("KO", "P", -1),  # a short put covers nothing
            stk("PFE", 100, 25.01),
            opt("SPY", "C", -1),  # no shares: not a holding
        ]
        intents_ = [{"symbol": "KO", "quantity": 1}]
        cycles_ = [
            cyc("KO", 1, "closed", 40.0),
            cyc("KO", 3, "shares+call", 59.5),
            cyc("KO", 2, "shares", 58.0),  # a lower seq: not the open cycle
        ]
        got = holdings_from_rows(rows, intents_, cycles_)
        assert list(got) == ["KO", "PFE"]
        ko = got["KO"]
        assert (ko.shares, ko.short_calls, ko.pending_calls) == (300, 1, 1)
        assert ko.uncovered_lots == 1 and ko.blocks_puts
        assert (ko.cost_basis, ko.cost_basis_source) == (59.5, "cycle")
        pfe = got["PFE"]
        assert (pfe.cost_basis, pfe.cost_basis_source, pfe.uncovered_lots) == (25.01, "avg_cost", 1)

    def test_cycle_without_basis_falls_back_to_weighted_avg_cost(self) -> None:
        rows = [stk("KO", 100, 60.0), stk("KO", 300, 64.0)]
        got = holdings_from_rows(rows, [], [cyc("KO", 1, "put", None)])["KO"]
        assert got.cost_basis == pytest.approx(63.0) and got.cost_basis_source == "avg_cost"
        assert got.uncovered_lots == 4

    def test_only_closed_cycles_fall_back_to_avg_cost(self) -> None:
        got = holdings_from_rows([stk("KO", 100, 60.0)], [], [cyc("KO", 1, "closed", 50.0)])["KO"]
        assert (got.cost_basis, got.cost_basis_source) == (60.0, "avg_cost")

    def test_no_cost_basis_known(self) -> None:
        got = holdings_from_rows([stk("KO", 100, None)], [], [])["KO"]
        assert got.cost_basis is None and got.cost_basis_source == ""

    def test_odd_lot_neither_blocks_puts_nor_allows_calls(self) -> None:
        got = holdings_from_rows([stk("KO", 60, 60.0)], [], [])["KO"]
        assert not got.blocks_puts and got.uncovered_lots == 0


NOW = "2026-11-20T15:00:00+00:00"


def _required(table: Table, given: dict[str, Any]) -> dict[str, Any]:
    """``given`` plus a neutral value for every other NOT NULL column without a default (the ledger's
    bookkeeping columns, which the scanner does not read)."""
    row = dict(given)
    for col in table.columns:
        if col.name in row or col.nullable or col.default is not None or col.primary_key:
            continue
        python_type = col.type.python_type
        row[col.name] = NOW if python_type is str else python_type(0)
    return row


def _seed(engine: Engine) -> None:
    def position(con_id: int, symbol: str, sec_type: str, qty: float, **kw: Any) -> dict[str, Any]:
        return {
            "con_id": con_id,
            "account": "DU1",
            "symbol": symbol,
            "sec_type": sec_type,
            "local_symbol": symbol,
            "multiplier": 100 if sec_type == "OPT" else 1,
            "quantity": qty,
            "updated_at": NOW,
            "avg_cost": None,
            "right": None,
            "strike": None,
            "expiry": None,
            **kw,
        }

    def intent(key: str, symbol: str, kind: str, status: str, qty: int) -> dict[str, Any]:
        return {
            "key": key,
            "source": "dashboard",
            "kind": kind,
            "action": "SELL",
            "sec_type": "OPT",
            "symbol": symbol,
            "con_id": 1000 + ord(key),
            "local_symbol": key,
            "right": "C" if kind == "sell_call" else "P",
            "quantity": qty,
            "status": status,
            "status_reason": "",
            "created_at": NOW,
            "updated_at": NOW,
        }

    def cycle(symbol: str, seq: int, stage: str, basis: float | None) -> dict[str, Any]:
        given = {"symbol": symbol, "seq": seq, "stage": stage, "adjusted_cost_basis": basis}
        return _required(cycles, given)

    with engine.begin() as conn:
        conn.execute(
            insert(positions),
            [
                position(1, "KO", "STK", 500, avg_cost=61.0),
                position(
                    2, "KO", "OPT", -1, right="C", strike=65.0, expiry="20261218", local_symbol="KO C65"
                ),
                position(3, "PFE", "STK", 100, avg_cost=25.01),
                position(4, "T", "STK", 50, avg_cost=27.0),
            ],
        )
        conn.execute(
            insert(intents),
            [
                intent("a", "KO", "sell_call", "approved", 1),
                intent("b", "KO", "sell_call", "working", 1),
                intent("c", "KO", "sell_call", "filled", 1),  # done: its call is in the positions
                intent("d", "KO", "sell_call", "cancelled", 1),
                intent("e", "KO", "sell_put", "approved", 3),  # not a call
                intent("f", "PFE", "sell_call", "placing", 1),
            ],
        )
        conn.execute(insert(cycles), [cycle("KO", 1, "closed", 50.0), cycle("KO", 2, "shares+call", 59.37)])


def test_read_holdings_from_the_database(engine: Engine) -> None:
    _seed(engine)
    got = read_holdings(engine)
    assert got == {
        "KO": Holding("KO", 500, 1, 2, 59.37, "cycle"),
        "PFE": Holding("PFE", 100, 0, 1, 25.01, "avg_cost"),
        "T": Holding("T", 50, 0, 0, 27.0, "avg_cost"),
    }
    assert [got[s].uncovered_lots for s in ("KO", "PFE", "T")] == [2, 0, 0]


def test_covered_call_opportunity_row() -> None:
    q = OptionQuote("KO", 7, "KO C52", Right.CALL, "20261225", 52.0, 100, 50.0, 0.48, 0.52, 0.30, 0.2, 1500)
    s = screen_call(q, CallRules(), date(2026, 11, 20), 49.12)
    row = opportunity_row(s, scan_id=3, rank=2, ts=NOW, max_contracts=2)
    assert row["strategy"] == "CC" and row["right"] == "C" and row["rank"] == 2
    assert row["cost_basis"] == 49.12 and row["max_contracts"] == 2
    assert row["collateral"] == pytest.approx(4912.0)
    assert row["annualized_return"] == pytest.approx(0.5 / 50 * 365 / 35)
