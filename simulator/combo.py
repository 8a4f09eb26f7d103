"""Combo (BAG) orders, the way a roll is sent: one order, two or more legs, one net limit price.

Sign convention (IB's): a combo's price per unit is ``Σ sign × ratio × leg price`` with sign +1 for BUY legs
and −1 for SELL legs, in dollars per share. BUYing the combo pays that price (a negative price is a credit
received); SELLing it reverses every leg and receives the price. A roll of a short put is therefore sent as
``BUY`` with legs ``[BUY old put, SELL new put]`` and a NEGATIVE limit price for a net credit (``-0.45``
= receive at least $0.45 per share), or equivalently as ``SELL`` with the legs the other way round and a
positive price.

Fill rule: the combo's bid/ask is built from the legs' quotes (``Σ`` BUY legs at bid/ask minus SELL legs
at ask/bid); a BUY combo fills once its limit ≥ mid − 0.2 × half-spread (at min(limit, ask)), a SELL combo
once its limit ≤ mid + 0.2 × half-spread (at max(limit, bid)) — the single-order rule of
``Broker.fill_price``. The whole quantity fills atomically; the net price P is split between the legs so
that each leg trades at its own mid plus a share of the price improvement proportional to its mid
(``p_j = mid_j + s_j (P − mid) mid_j / Σ r mid``) rounded to the tick, the largest leg taking the rounding,
hence ``Σ s_j r_j p_j = P`` exactly.

What a fill sends (as TWS reports combos): one execDetails per leg (the leg's contract, the combo's orderId,
permId and orderRef, side BOT/SLD per leg), then one execDetails for the BAG contract at the net price, then
openOrder + orderStatus of the BAG order, then one commissionReport per LEG (IBKR charges per leg; the BAG
execution itself carries no commission). Positions and cash change per leg.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

from .broker import Broker, SimExecution, SimOrder
from .contracts import BAG_CON_ID, BagSpec, ComboLegSpec, is_option  # noqa: F401 - re-exported
from .orderreq import OrderReq

if TYPE_CHECKING:
    from .market import Market

log = logging.getLogger("simulator.combo")


class Venue(Protocol):
    """Where a combo trades: the market that quotes its legs and the broker that books them (the server,
    :class:`simulator.ports.ServerPort`)."""

    @property
    def market(self) -> Market:
        """The market model."""
        ...

    @property
    def broker(self) -> Broker:
        """The simulated account."""
        ...


def resolve_bag(market: Market, req: OrderReq) -> list[BagSpec]:
    """The BAG contract of a placeOrder request, or [] when a leg is unknown or there are no legs."""
    legs: list[ComboLegSpec] = []
    for leg in req.combo_legs:
        spec = market.contract_by_con_id(leg.con_id)
        if spec is None or leg.ratio <= 0 or leg.action not in ("BUY", "SELL"):
            return []
        legs.append(
            ComboLegSpec(
                spec,
                leg.ratio,
                leg.action,
                leg.exchange or "SMART",
                leg.open_close,
                leg.short_sale_slot,
                leg.designated_location,
                leg.exempt_code,
            )
        )
    if not legs:
        return []
    symbol = req.contract.symbol or legs[0].spec.symbol
    return [BagSpec(symbol, tuple(legs), req.contract.currency or "USD")]


def bag_from_json(data: dict[str, Any], market: Market) -> BagSpec | None:
    """The inverse of :meth:`BagSpec.to_json`; None when a leg's contract is unknown."""
    legs = []
    for con_id, ratio, action, exchange, open_close, slot, location, exempt in data["legs"]:
        spec = market.contract_by_con_id(int(con_id))
        if spec is None:
            return None
        legs.append(
            ComboLegSpec(spec, int(ratio), action, exchange, int(open_close), int(slot), location, exempt)
        )
    return BagSpec(data["symbol"], tuple(legs), data.get("currency", "USD"))


def leg_quotes(server: Venue, bag: BagSpec) -> list[tuple[float, float]]:
    """(bid, ask) per leg now, dollars per share (a one-sided quote is completed by its other side)."""
    out = []
    for leg in bag.legs:
        if is_option(leg.spec):
            q = server.market.option_quote(leg.spec)  # type: ignore[arg-type]
            bid, ask = q.bid, q.ask
        else:
            sq = server.market.stock_quote(leg.spec.symbol)
            bid, ask = sq.bid, sq.ask
        out.append((bid if bid > 0 else ask, ask if ask > 0 else bid))
    return out


def combo_fill_price(order: SimOrder, bag: BagSpec, quotes: list[tuple[float, float]]) -> float | None:
    """Net price per combo unit at which ``order`` fills now, or None when it is not marketable."""
    if any(ask <= 0 for _, ask in quotes):
        return None
    bid = sum(leg.ratio * (b if leg.sign > 0 else -a) for leg, (b, a) in zip(bag.legs, quotes, strict=True))
    ask = sum(leg.ratio * (a if leg.sign > 0 else -b) for leg, (b, a) in zip(bag.legs, quotes, strict=True))
    mid, half = (bid + ask) / 2, (ask - bid) / 2
    if order.order_type == "MKT":
        return ask if order.action == "BUY" else bid
    if order.action == "BUY":
        return min(order.lmt_price, ask) if order.lmt_price >= mid - 0.2 * half - 1e-9 else None
    return max(order.lmt_price, bid) if order.lmt_price <= mid + 0.2 * half + 1e-9 else None


def split_price(bag: BagSpec, net: float, quotes: list[tuple[float, float]]) -> list[float]:
    """Leg prices (dollars per share, on the legs' tick, the largest leg absorbing the rounding) whose
    signed, ratio-weighted sum is ``net``."""
    mids = [(b + a) / 2 for b, a in quotes]
    combo_mid = sum(leg.sign * leg.ratio * m for leg, m in zip(bag.legs, mids, strict=True))
    weight = sum(leg.ratio * m for leg, m in zip(bag.legs, mids, strict=True)) or 1.0
    tick = bag.min_tick
    prices = [
        max(0.0, round(round((m + leg.sign * (net - combo_mid) * m / weight) / tick) * tick, 4))
        for leg, m in zip(bag.legs, mids, strict=True)
    ]
    j = max(range(len(prices)), key=lambda i: mids[i])  # absorb rounding on the largest leg
    leg = bag.legs[j]
    rest = sum(bag.legs[i].sign * bag.legs[i].ratio * prices[i] for i in range(len(prices)) if i != j)
    prices[j] = round((net - rest) / (leg.sign * leg.ratio), 4)
    return prices


def fill_combo(server: Venue, order: SimOrder, bag: BagSpec) -> list[SimExecution] | None:
    """Fill a working BAG order in full if marketable: leg executions then the BAG execution (or None)."""
    quotes = leg_quotes(server, bag)
    net = combo_fill_price(order, bag, quotes)
    if net is None:
        return None
    net = round(round(net / bag.min_tick) * bag.min_tick, 4)
    broker = server.broker
    qty = order.remaining
    executions: list[SimExecution] = []
    for leg, price in zip(bag.legs, split_price(bag, net, quotes), strict=True):
        buy = (leg.sign > 0) == (order.action == "BUY")
        leg_order = SimOrder(
            order_id=order.order_id,
            client_id=order.client_id,
            perm_id=order.perm_id,
            spec=leg.spec,
            action="BUY" if buy else "SELL",
            quantity=qty * leg.ratio,
            order_type=order.order_type,
            lmt_price=price,
            account=order.account,
            tif=order.tif,
            order_ref=order.order_ref,
            status="Submitted",
        )
        executions.append(broker.fill(leg_order, price, "CBOE" if is_option(leg.spec) else "ISLAND"))
    prev = order.avg_fill_price * order.filled
    order.filled += qty
    order.avg_fill_price = (prev + net * qty) / order.filled
    order.last_fill_price = net
    order.commission += sum(e.commission for e in executions)
    broker.finish(order, "Filled")
    bag_exec = SimExecution(
        exec_id=broker.next_exec_id(),
        order=order,
        time=executions[0].time,
        side="BOT" if order.action == "BUY" else "SLD",
        shares=qty,
        price=net,
        cum_qty=order.filled,
        avg_price=order.avg_fill_price,
        commission=0.0,
        realized_pnl=None,
        exchange="SMART",
    )
    broker.executions.append(bag_exec)
    log.info(
        "filled client %d combo order %d: %s %g @ %.4f net (%s)",
        order.client_id,
        order.order_id,
        bag_exec.side,
        qty,
        net,
        ", ".join(f"{e.side} {e.shares:g} {e.order.spec.con_id} @ {e.price:.4f}" for e in executions),
    )
    return [*executions, bag_exec]
