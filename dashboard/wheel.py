"""The Wheel page's data: one card per symbol from the monitor's cycle ledger (``cycles``,
``cycle_legs``), with the open short option priced from ``positions``.

JSON keys carry their unit where the table's column name does not: ``*_per_share`` dollars per share,
``*_per_contract`` dollars per contract (× 100), ``*_total`` dollars for the whole cycle or leg,
``*_fraction`` a fraction (0.12 = 12 %); ``dte`` and ``days_open`` are calendar days.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine, select

from dashboard.figures import (
    SHARES_PER_CONTRACT,
    captured_fraction,
    dte,
    otm_fraction,
    per_contract,
)
from dashboard.queries import Row, market_today
from shared import schema as s
from shared.trade import CycleStage, LegKind, Right

#: Legs that open a short option, and legs that end (part of) one.
SELL_KINDS = frozenset({LegKind.SELL_PUT, LegKind.SELL_CALL})
CLOSE_KINDS = frozenset(
    {
        LegKind.BUY_PUT,
        LegKind.PUT_EXPIRED,
        LegKind.PUT_ASSIGNED,
        LegKind.BUY_CALL,
        LegKind.CALL_EXPIRED,
        LegKind.CALL_ASSIGNED,
    }
)
#: The right of the short option a cycle in each open stage holds.
STAGE_RIGHT = {CycleStage.PUT: Right.PUT, CycleStage.SHARES_CALL: Right.CALL}
#: What the preexisting flag means, as the page says it.
PREEXISTING_NOTE = "shares held before thetawheel, at TWS average cost"

#: ``cycles`` columns renamed in the JSON to say their unit; the other columns keep their names.
CYCLE_KEYS = {
    "assignment_price": "assignment_price_per_share",
    "assignment_cost": "assignment_cost_total",
    "premiums": "premiums_total",
    "commissions": "commissions_total",
    "stock_pnl": "stock_pnl_total",
    "realized_pnl": "realized_pnl_total",
    "adjusted_cost_basis": "adjusted_cost_basis_per_share",
    "collateral": "collateral_total",
    "annualized_return": "annualized_return_fraction",
}
#: ``cycle_legs`` columns renamed likewise.
LEG_KEYS = {"price": "price_per_share", "premium": "premium_total", "commission": "commission_total"}


def _rows(conn: Connection, stmt: Any) -> list[Row]:
    return [dict(r._mapping) for r in conn.execute(stmt)]


def leg_json(leg: Row) -> Row:
    """A ``cycle_legs`` row with unit-named keys, ``is_option`` and ``premium_per_contract`` (dollars per
    contract, + credit / − debit; ``None`` for a stock leg)."""
    out = {LEG_KEYS.get(k, k): v for k, v in leg.items() if k != "cycle_id"}
    option = leg["right"] is not None
    out["is_option"] = option
    qty = leg["quantity"]
    out["premium_per_contract"] = leg["premium"] / qty if option and qty else None
    return out


def open_options(legs: list[Row]) -> list[Row]:
    """The short options a cycle's legs (in order) leave open, newest first.

    Each: ``con_id``, ``local_symbol``, ``right``, ``strike``, ``expiry``, ``quantity`` (contracts still
    short), ``premium_per_share`` (average sell price) and ``opened_at`` (time of the last sale).
    """
    book: dict[int, Row] = {}
    for leg in legs:
        kind, con_id, qty = leg["kind"], leg["con_id"], float(leg["quantity"])
        if kind in SELL_KINDS:
            entry = book.setdefault(
                con_id,
                {k: leg[k] for k in ("con_id", "local_symbol", "right", "strike", "expiry")}
                | {"sold": 0.0, "closed": 0.0, "proceeds_per_share": 0.0},
            )
            entry["sold"] += qty
            entry["proceeds_per_share"] += float(leg["price"]) * qty
            entry["opened_at"] = leg["time"]
        elif kind in CLOSE_KINDS and con_id in book:
            book[con_id]["closed"] += qty
    out = []
    for entry in book.values():
        left = entry["sold"] - entry["closed"]
        if left > 1e-9:
            out.append(
                {k: entry[k] for k in ("con_id", "local_symbol", "right", "strike", "expiry", "opened_at")}
                | {"quantity": left, "premium_per_share": entry["proceeds_per_share"] / entry["sold"]}
            )
    return sorted(out, key=lambda e: e["opened_at"], reverse=True)


def spot(position: Row | None, stock_price: float | None) -> float | None:
    """The underlying's price for an option: its ``underlying_price``, else the stock's market price."""
    if position is not None and position.get("underlying_price"):
        return float(position["underlying_price"])
    return stock_price


def describe_open_leg(
    ledger: Row | None, position: Row | None, stock_price: float | None, today: date
) -> Row | None:
    """The open short option of a cycle with its figures, from the ledger (``source`` ``ledger``) or,
    when the ledger has none, from a short option position (``source`` ``position``: the premium is
    IB's average cost per contract, net of commission). ``None`` when neither exists."""
    if ledger is None and position is None:
        return None
    base = ledger if ledger is not None else position
    assert base is not None
    multiplier = float(position["multiplier"] or 0) if position is not None else 0.0
    if ledger is not None:
        premium_share: float | None = ledger["premium_per_share"]
        premium_contract = per_contract(premium_share, multiplier)
        quantity = ledger["quantity"]
    else:
        assert position is not None
        premium_contract = position["avg_cost"]
        if premium_contract is not None:
            premium_share = premium_contract / (multiplier or SHARES_PER_CONTRACT)
        else:
            premium_share = None
        quantity = -float(position["quantity"])
    market_price = position.get("market_price") if position else None
    value_contract = per_contract(market_price, multiplier)
    underlying = spot(position, stock_price)
    return {
        "source": "ledger" if ledger is not None else "position",
        "con_id": base["con_id"],
        "local_symbol": base["local_symbol"],
        "right": base["right"],
        "strike": base["strike"],
        "expiry": base["expiry"],
        "dte": dte(base["expiry"], today),
        "quantity": quantity,
        "opened_at": ledger["opened_at"] if ledger else None,
        "premium_per_share": premium_share,
        "premium_per_contract": premium_contract,
        "premium_total": premium_contract * quantity if premium_contract is not None else None,
        "market_price_per_share": market_price,
        "market_value_per_contract": value_contract,
        "unrealized_pnl_total": position.get("unrealized_pnl") if position else None,
        "underlying_price_per_share": underlying,
        "otm_fraction": otm_fraction(base["right"], base["strike"], underlying),
        "max_profit_captured_fraction": captured_fraction(premium_contract, value_contract),
    }


def _short_option(positions: list[Row], symbol: str, right: str) -> Row | None:
    shorts = [
        p
        for p in positions
        if p["symbol"] == symbol and p["sec_type"] == "OPT" and p["right"] == right and p["quantity"] < 0
    ]
    return min(shorts, key=lambda p: (p["expiry"] or "", p["con_id"])) if shorts else None


def cycle_json(cycle: Row, legs: list[Row], positions: list[Row], today: date) -> Row:
    """A ``cycles`` row with unit-named keys plus ``is_open``, ``preexisting_note``, ``legs`` and
    ``open_leg`` (:func:`describe_open_leg`, ``None`` when no short option is open)."""
    out = {CYCLE_KEYS.get(k, k): v for k, v in cycle.items()}
    is_open = cycle["stage"] != CycleStage.CLOSED
    out["is_open"] = is_open
    out["preexisting_note"] = PREEXISTING_NOTE if cycle["preexisting"] else None
    out["legs"] = [leg_json(leg) for leg in legs]
    open_leg = None
    if is_open:
        by_con = {p["con_id"]: p for p in positions}
        stocks = [p for p in positions if p["symbol"] == cycle["symbol"] and p["sec_type"] == "STK"]
        stock_price = stocks[0]["market_price"] if stocks else None
        ledger = next(iter(open_options(legs)), None)
        if ledger is not None:
            open_leg = describe_open_leg(ledger, by_con.get(ledger["con_id"]), stock_price, today)
        elif cycle["stage"] in STAGE_RIGHT:
            position = _short_option(positions, cycle["symbol"], STAGE_RIGHT[CycleStage(cycle["stage"])])
            open_leg = describe_open_leg(None, position, stock_price, today)
    out["open_leg"] = open_leg
    return out


def ledger_open_options(conn: Connection) -> dict[int, Row]:
    """The short options the open cycles hold, by contract id (:func:`open_options`)."""
    c, leg = s.cycles.c, s.cycle_legs.c
    stmt = (
        select(s.cycle_legs)
        .join(s.cycles, c.id == leg.cycle_id)
        .where(c.stage != CycleStage.CLOSED.value)
        .order_by(leg.cycle_id, leg.seq)
    )
    by_cycle: dict[int, list[Row]] = defaultdict(list)
    for row in _rows(conn, stmt):
        by_cycle[row["cycle_id"]].append(row)
    return {e["con_id"]: e for legs in by_cycle.values() for e in open_options(legs)}


def wheel(engine: Engine, today: date | None = None) -> Row:
    """``{"today": …, "symbols": [{"symbol", "current", "history"}]}``, symbols in alphabetical order.

    ``current`` is the symbol's newest cycle (open, or the last closed one) and ``history`` its older
    cycles, newest first; each is :func:`cycle_json`. ``today`` (the exchange's date) is the base of DTE.
    """
    today = today or market_today(engine)
    c = s.cycles.c
    with engine.connect() as conn:
        cycles = _rows(conn, select(s.cycles).order_by(c.symbol, c.seq.desc(), c.id.desc()))
        legs = _rows(conn, select(s.cycle_legs).order_by(s.cycle_legs.c.cycle_id, s.cycle_legs.c.seq))
        positions = _rows(conn, select(s.positions))
    legs_by_cycle: dict[int, list[Row]] = defaultdict(list)
    for leg in legs:
        legs_by_cycle[leg["cycle_id"]].append(leg)
    cards: dict[str, list[Row]] = {}
    for cycle in cycles:
        cards.setdefault(cycle["symbol"], []).append(
            cycle_json(cycle, legs_by_cycle[cycle["id"]], positions, today)
        )
    symbols = [{"symbol": sym, "current": rows[0], "history": rows[1:]} for sym, rows in cards.items()]
    return {"today": today.isoformat(), "symbols": symbols}
