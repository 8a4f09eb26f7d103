"""Orders as a trader reads them: each ``orders`` row with its contract's strike, expiry and DTE, how far out
of the money it is, the premium per contract, the share of the maximum profit a closing order keeps, the
break-even, and whether it can be cancelled from the page.

Units: strike, limit, underlying and break-even in dollars per share; premium in dollars per contract;
``otm_fraction`` and ``max_profit_fraction`` as fractions (0.05 = 5 %).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine, func, select

from dashboard.cancel import cancellable, pending_cancels
from dashboard.figures import captured_fraction, dte, otm_fraction, per_contract
from dashboard.queries import Row
from shared import schema as s


def break_even(right: str | None, strike: float | None, premium_per_share: float | None) -> float | None:
    """Dollars per share at expiry where a short option neither gains nor loses: a put's strike − premium,
    a call's strike + premium (both per share). ``None`` when a figure is missing."""
    if right not in ("P", "C") or strike is None or premium_per_share is None:
        return None
    return strike - premium_per_share if right == "P" else strike + premium_per_share


def _underlyings(engine: Engine) -> dict[str, float]:
    """Dollars per share of each symbol now: the stock position's market price, else an option position's
    underlying price, else the newest scan's underlying price."""
    p, o = s.positions.c, s.opportunities.c
    prices: dict[str, float] = {}
    with engine.connect() as conn:
        newest = select(func.max(s.scans.c.id)).where(s.scans.c.status == "done").scalar_subquery()
        for symbol, price in conn.execute(
            select(o.symbol, o.underlying_price).where(o.scan_id == newest, o.underlying_price.is_not(None))
        ):
            prices[symbol] = float(price)
        for symbol, price in conn.execute(
            select(p.symbol, p.underlying_price).where(p.sec_type == "OPT", p.underlying_price.is_not(None))
        ):
            prices[symbol] = float(price)
        for symbol, price in conn.execute(
            select(p.symbol, p.market_price).where(p.sec_type == "STK", p.market_price.is_not(None))
        ):
            prices[symbol] = float(price)
    return prices


def order_rows(engine: Engine, orders: list[Row], positions: list[Row], today: date) -> list[Row]:
    """``orders`` rows (newest first, as :func:`dashboard.queries.orders` reads them) with their intent's
    ``kind``, ``right``, ``strike``, ``expiry`` and ``intent_status``, and: ``dte`` (days), ``underlying``
    and ``otm_fraction``, ``premium_per_contract`` (the average fill, else the limit, × 100), for a BUY that
    closes a short option held ``max_profit_fraction`` (the position's premium kept at this price), and
    ``break_even`` (a SELL's: strike ∓ its price; a BUY's: the short position's). ``cancellable`` when the
    order works at TWS; ``cancel_requested`` when a cancel waits for the executor."""
    keys = [o["intent_key"] for o in orders]
    i = s.intents.c
    with engine.connect() as conn:
        intents = {
            r.key: r
            for r in conn.execute(
                select(i.key, i.kind, i.right, i.strike, i.expiry, i.status).where(i.key.in_(keys))
            )
        }
    prices = _underlyings(engine) if orders else {}
    held = {p["con_id"]: p for p in positions if p["sec_type"] == "OPT"}
    waiting = pending_cancels(engine) if orders else set()
    out = []
    for order in orders:
        row = dict(order)
        intent = intents.get(order["intent_key"])
        row["kind"] = intent.kind if intent else None
        row["right"] = intent.right if intent else None
        row["strike"] = intent.strike if intent else None
        row["expiry"] = intent.expiry if intent else None
        row["intent_status"] = intent.status if intent else None
        row["dte"] = dte(row["expiry"], today)
        row["underlying"] = prices.get(order["symbol"])
        row["otm_fraction"] = otm_fraction(row["right"], row["strike"], row["underlying"])
        price = order["avg_fill_price"] or order["limit_price"]
        row["premium_per_contract"] = per_contract(price) if price is not None else None
        position = held.get(order["con_id"])
        short = position is not None and position["quantity"] < 0
        if order["action"] == "BUY" and short:
            assert position is not None
            row["max_profit_fraction"] = captured_fraction(
                position["premium_per_contract"], row["premium_per_contract"]
            )
            row["break_even"] = position.get("break_even_per_share")
        else:
            row["max_profit_fraction"] = None
            row["break_even"] = (
                break_even(row["right"], row["strike"], price) if order["action"] == "SELL" else None
            )
        row["cancellable"] = cancellable(order, row["intent_status"])
        row["cancel_requested"] = order["intent_key"] in waiting
        out.append(row)
    return out
