"""Positions as the monitor records them, with the figures an option trader reads beside them.

IB's ``avg_cost`` is dollars per share for stock and dollars per contract for options; the JSON keeps
it and adds ``avg_cost_per_share`` / ``avg_cost_per_contract`` (one of them ``None``) so the unit is
never guessed. ``market_price`` is dollars per share for both.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine, select

from dashboard.orderrows import break_even
from dashboard.queries import Row, market_today
from dashboard.wheel import describe_open_leg, ledger_open_options
from shared import schema as s

#: Figures of :func:`dashboard.wheel.describe_open_leg` that an option position row gains.
OPTION_FIGURES = (
    "dte",
    "underlying_price_per_share",
    "otm_fraction",
    "premium_per_contract",
    "market_value_per_contract",
    "max_profit_captured_fraction",
)


def positions(engine: Engine, today: date | None = None) -> list[Row]:
    """Every position, stocks first, then options by symbol and expiry, each with:

    ``avg_cost_per_share`` (stock) or ``avg_cost_per_contract`` (option), and for options ``dte``
    (calendar days from ``today``, the exchange's date), ``underlying_price_per_share`` (the
    position's ``underlying_price``, else the stock's market price), ``otm_fraction``,
    ``premium_per_contract`` (dollars: the sell price × 100 from the cycle ledger, else IB's average
    cost) with ``premium_source`` (``ledger`` | ``position``), ``market_value_per_contract`` and, for
    a short option, ``max_profit_captured_fraction`` and ``break_even_per_share`` (dollars per share at
    expiry: a put's strike − premium, a call's strike + premium); ``market_price_per_contract`` (dollars:
    the market price per share × the multiplier). Stock rows have these keys as ``None``.
    """
    today = today or market_today(engine)
    p = s.positions.c
    stmt = select(s.positions).order_by(p.symbol, p.sec_type.desc(), p.expiry, p.strike)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(stmt)]
        ledger = ledger_open_options(conn)
    stock_price = {r["symbol"]: r["market_price"] for r in rows if r["sec_type"] == "STK"}
    for row in rows:
        option = row["sec_type"] == "OPT"
        row["avg_cost_per_share"] = None if option else row["avg_cost"]
        row["avg_cost_per_contract"] = row["avg_cost"] if option else None
        figures = (
            describe_open_leg(ledger.get(row["con_id"]), row, stock_price.get(row["symbol"]), today)
            if option
            else None
        )
        for key in OPTION_FIGURES:
            row[key] = figures[key] if figures else None
        row["premium_source"] = figures["source"] if figures else None
        row["market_price_per_contract"] = (
            row["market_price"] * float(row["multiplier"] or 100)
            if option and row["market_price"] is not None
            else None
        )
        row["break_even_per_share"] = (
            break_even(row["right"], row["strike"], figures["premium_per_share"])
            if figures and row["quantity"] < 0
            else None
        )
        if option and row["quantity"] >= 0:  # a long option has no premium received to capture
            row["max_profit_captured_fraction"] = None
    return rows


def held_by_con_id(engine: Engine) -> dict[int, float]:
    """Contracts (options) or shares (stock) held now, signed (short < 0), keyed by contract id; positions of
    zero are left out."""
    p = s.positions.c
    with engine.connect() as conn:
        rows = conn.execute(select(p.con_id, p.quantity).where(p.quantity != 0)).all()
    return {int(con_id): float(qty) for con_id, qty in rows}


def mark_opportunities(engine: Engine, rows: list[Row]) -> list[Row]:
    """Add ``held_quantity`` (contracts of this very contract held now, signed; ``None`` when none) and
    ``mark`` to opportunity rows: ``held`` when the contract is in the positions, ``pending`` when it has an
    active intent (approved, placing or working), else ``None``. A marked row offers no Approve."""
    held = held_by_con_id(engine)
    for row in rows:
        row["held_quantity"] = held.get(row["con_id"])
        if row["held_quantity"] is not None:
            row["mark"] = "held"
        elif row.get("active_intent"):
            row["mark"] = "pending"
        else:
            row["mark"] = None
    return rows
