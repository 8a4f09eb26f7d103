"""How many covered calls the shares of a symbol can still cover.

Shares held come from the monitor's ``positions`` (stock rows). They are covered, 100 shares per
contract, by short calls held (``positions``) and by active ``sell_call`` intents (not yet filled or
finished). The same arithmetic exists twice: as Python (:func:`coverage`, for the numbers in a
refusal and on the page) and as SQL (:func:`fits_guard`, inside the approval's conditional INSERT, so
two simultaneous approvals can never sell more calls than there are shares).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, func, select

from dashboard.figures import SHARES_PER_CONTRACT
from dashboard.queries import ACTIVE_STATUS_VALUES, Row
from shared import schema as s
from shared.trade import IntentKind, Right, Strategy, uncovered_contracts

#: Contracts of float noise forgiven (299.99999999 shares are 300), as the scanner's ``uncovered_lots``.
EPSILON = 1e-9


@dataclass(frozen=True)
class Coverage:
    """The shares of one symbol and what already covers them (shares; contracts where named)."""

    symbol: str
    shares_held: float
    short_calls: float  # contracts held short
    pending_calls: int  # contracts of active sell_call intents

    @property
    def covered_shares(self) -> float:
        return SHARES_PER_CONTRACT * (self.short_calls + self.pending_calls)

    @property
    def uncovered_contracts(self) -> int:
        """Whole contracts the uncovered shares still cover (:func:`shared.trade.uncovered_contracts`)."""
        return uncovered_contracts(self.shares_held, self.short_calls, self.pending_calls)

    def as_json(self) -> dict[str, Any]:
        return {
            "shares_held": self.shares_held,
            "short_call_contracts": self.short_calls,
            "pending_call_contracts": self.pending_calls,
            "covered_shares": self.covered_shares,
            "uncovered_contracts": self.uncovered_contracts,
        }

    def refusal(self, asked: int) -> str:
        """The one-line reason an approval of ``asked`` contracts is refused."""
        return (
            f"{self.symbol}: {self.uncovered_contracts} contract(s) of uncovered shares "
            f"({_n(self.shares_held)} shares held, {_n(self.covered_shares)} covered), asked for {asked}"
        )


def _n(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4g}"


def _shares_sql(symbol: Any) -> Any:
    p = s.positions.c
    return (
        select(func.coalesce(func.sum(p.quantity), 0.0))
        .where(p.symbol == symbol, p.sec_type == "STK")
        .scalar_subquery()
    )


def _short_calls_sql(symbol: Any) -> Any:
    p = s.positions.c
    return (
        select(func.coalesce(func.sum(-p.quantity), 0.0))
        .where(p.symbol == symbol, p.sec_type == "OPT", p.right == Right.CALL.value, p.quantity < 0)
        .scalar_subquery()
    )


def _pending_calls_sql(symbol: Any) -> Any:
    i = s.intents.c
    return (
        select(func.coalesce(func.sum(i.quantity), 0))
        .where(i.symbol == symbol, i.kind == IntentKind.SELL_CALL.value, i.status.in_(ACTIVE_STATUS_VALUES))
        .scalar_subquery()
    )


def coverage(conn: Connection, symbol: str) -> Coverage:
    """The coverage of ``symbol`` as the database shows it now (inside ``conn``'s transaction)."""
    row = conn.execute(
        select(_shares_sql(symbol), _short_calls_sql(symbol), _pending_calls_sql(symbol))
    ).one()
    return Coverage(symbol, float(row[0]), float(row[1]), int(row[2]))


def fits_guard(symbol: str, quantity: int) -> ColumnElement[bool]:
    """SQL condition: ``quantity`` more call contracts still fit in the shares of ``symbol``."""
    covered = SHARES_PER_CONTRACT * (_short_calls_sql(symbol) + _pending_calls_sql(symbol))
    return SHARES_PER_CONTRACT * quantity + covered <= _shares_sql(symbol) + SHARES_PER_CONTRACT * EPSILON


def default_quantity(opp: Row, contracts: int) -> int:
    """Contracts an approval asks for when it names none: the strategy's ``orders.contracts``, and for a
    covered call at most the opportunity's ``max_contracts`` (0 when the scan found no uncovered shares)."""
    if opp["strategy"] == Strategy.CC:
        return min(contracts, int(opp["max_contracts"] or 0))
    return contracts


def annotate(engine: Engine, rows: list[Row], contracts: int, limit: int) -> list[Row]:
    """Add ``default_quantity`` and ``max_quantity`` to opportunity rows, and to covered calls
    ``coverage`` (:meth:`Coverage.as_json`: the shares as the positions show them now)."""
    symbols = sorted({r["symbol"] for r in rows if r["strategy"] == Strategy.CC})
    with engine.connect() as conn:
        by_symbol = {symbol: coverage(conn, symbol) for symbol in symbols}
    for row in rows:
        row["default_quantity"] = default_quantity(row, contracts)
        cov = by_symbol.get(row["symbol"]) if row["strategy"] == Strategy.CC else None
        row["max_quantity"] = min(limit, int(row["max_contracts"] or 0)) if cov else limit
        row["coverage"] = cov.as_json() if cov else None
    return rows
