"""Combo (BAG) orders of the executor: the contract of a roll, and what its legs' fills add up to.

A roll is one order (wheel-rules "Order execution"): ``BUY`` the combo whose legs are ``BUY`` the old short
option and ``SELL`` the new one, each ratio 1, ``quantity`` combos. Prices are dollars per share, net as IB
sends them: Σ sign × ratio × leg price with sign +1 for a BUY leg and −1 for a SELL leg, so the net price of a
roll bought for a credit is negative (:func:`executor.ladder.combo_bid_ask`).

TWS reports a combo's fill as one execution per leg (the leg's contract, the combo's orderRef) plus one for
the BAG itself at the net price; the executor records the legs' executions only (the BAG's carries no
commission and is not a position), and works out from them how many combos filled and at what net price.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ib_async import ComboLeg, Contract, Fill

from shared.trade import Action, Intent, Leg

#: IB's execution side of a bought leg.
BOUGHT = "BOT"


def is_combo(intent: Intent) -> bool:
    """True when ``intent`` is placed as a combo (two or more legs)."""
    return len(intent.legs) > 1


def bag_contract(intent: Intent) -> Contract:
    """The SMART BAG contract of a combo intent, its legs in the intent's order."""
    return Contract(
        secType="BAG",
        symbol=intent.symbol,
        currency="USD",
        exchange="SMART",
        comboLegs=[
            ComboLeg(conId=leg.con_id, ratio=leg.ratio, action=leg.action.value, exchange="SMART")
            for leg in intent.legs
        ],
    )


@dataclass(frozen=True)
class Executed:
    """One execution of a leg: its contract's ``con_id``, IB's ``side`` (``BOT`` / ``SLD``), ``shares``
    (contracts for an option) and ``price`` in dollars per share."""

    con_id: int
    side: str
    shares: float
    price: float

    @classmethod
    def of(cls, fill: Fill) -> Executed:
        """From an ib_async ``Fill``."""
        e = fill.execution
        return cls(int(fill.contract.conId), str(e.side), float(e.shares), float(e.price))

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Executed:
        """From a ``fills`` row (``con_id``, ``side``, ``quantity``, ``price``)."""
        return cls(int(row["con_id"]), str(row["side"]), float(row["quantity"]), float(row["price"]))


def filled_units(intent: Intent, done: Iterable[Executed]) -> float:
    """Units of ``intent``'s order executed: a single leg's shares of its own contract; a combo's complete
    units, the least over its legs of that leg's shares ÷ its ratio (the BAG's own execution is not
    counted), so a combo whose second leg's report has not arrived yet counts 0."""
    done = list(done)
    legs = [(leg.con_id, leg.ratio if leg.ratio > 0 else 1) for leg in intent.legs] or [(intent.con_id, 1)]
    return min(sum(x.shares for x in done if x.con_id == con_id) / ratio for con_id, ratio in legs)


def net_price(intent: Intent, done: Sequence[Executed]) -> float | None:
    """Average price per unit of ``intent``'s order: a single leg's average price; a combo's net price per
    share, IB's way (bought legs +, sold legs −: a roll for a credit is negative). ``None``: nothing
    executed (or, for a combo, no complete unit yet)."""
    if not done:
        return None
    if not is_combo(intent):
        shares = sum(x.shares for x in done)
        return sum(x.shares * x.price for x in done) / shares if shares else None
    units = filled_units(intent, done)
    if units <= 0:
        return None
    total = sum((1 if x.side == BOUGHT else -1) * x.shares * x.price for x in done)
    return round(total / units, 9) + 0.0


def short_name(local_symbol: str) -> str:
    """An OCC option symbol without its padding (``"KO    261218P00060000"`` → ``"KO 261218P00060000"``)."""
    return " ".join(local_symbol.split())


def roll_fill_text(
    key: str,
    legs: Sequence[Leg],
    rows: Sequence[Mapping[str, Any]],
    order: Mapping[str, Any],
    commission: float,
    missing: int,
    multiplier: float = 100.0,
) -> tuple[str, str]:
    """Title and body of a filled roll's alert, e.g. ``Rolled 1 KO 261120P00060000 → KO 261218P00060000
    for $0.35/share net credit``. ``rows`` are the legs' ``fills`` rows (side BOT/SLD, quantity, price
    dollars per share), ``order`` the ``orders`` row, ``commission`` dollars, ``missing`` commission reports
    not received yet."""
    closing = next((leg for leg in legs if leg.action is Action.BUY), legs[0])
    opening = next((leg for leg in legs if leg.action is Action.SELL), legs[-1])
    ratio = closing.ratio or 1
    units = sum(float(r["quantity"]) for r in rows if r["con_id"] == closing.con_id) / ratio
    units = units or float(order.get("quantity") or 1)
    cash = sum((-1 if r["side"] == BOUGHT else 1) * float(r["quantity"]) * float(r["price"]) for r in rows)
    per_share = cash / units
    kind = "net credit" if per_share >= 0 else "net debit"
    old, new = short_name(closing.local_symbol), short_name(opening.local_symbol)
    title = f"Rolled {units:g} {old} → {new} for ${abs(per_share):.2f}/share {kind}"

    def avg(con_id: int) -> str:
        mine = [r for r in rows if r["con_id"] == con_id]
        qty = sum(float(r["quantity"]) for r in mine)
        return f"{sum(float(r['quantity']) * float(r['price']) for r in mine) / qty:.2f}" if qty else "?"

    fee = f"${commission:.2f}" + (f" ({missing} commission report(s) not received yet)" if missing else "")
    body = (
        f"Order {key} (one combo order) filled.\n"
        f"Bought {units * ratio:g} × {old} at {avg(closing.con_id)}, "
        f"sold {units * (opening.ratio or 1):g} × {new} at {avg(opening.con_id)} per share: "
        f"{kind} ${abs(per_share):.2f} per share (${abs(per_share) * units * multiplier:,.2f}).\n"
        f"Commission: {fee}\n"
        f"IB order id {order.get('order_id')}, perm id {order.get('perm_id')}."
    )
    return title, body
