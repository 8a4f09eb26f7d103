"""The opening limit of an order: one quote per leg (streamed until two-sided, woken by ticker events), then
the mid rounded to the tick towards the other side, never past the intent's floor.

Units: dollars per share. A single option's limit follows the Penny Interval Program's tick
(:func:`shared.optionmath.option_tick`); a combo (BAG) is priced net, as IB sends it
(:func:`executor.ladder.combo_bid_ask`: a negative limit of a BUY combo is a credit received) on the cent,
which is how SMART quotes combos.

The quote's age (for the risk gate's ``max_quote_age_seconds``) is the age of the oldest leg's last tick:
ib_async stamps ``Ticker.time`` with this machine's clock when a tick arrives (IB sends no bid/ask time).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ib_async import IB, Contract, Ticker

from executor.ladder import LegQuote, combo_bid_ask
from shared.ibwait import wait_until
from shared.optionmath import PENNY_ALL_PRICES_CLASSES, mid, option_tick, round_to_tick
from shared.trade import Action, Intent

#: A combo's price increment at SMART (dollars per share).
COMBO_TICK = 0.01


def limit_price(
    bid: float | None, ask: float | None, action: str, floor: float | None, symbol: str = ""
) -> float | None:
    """Limit price in dollars per share of one option: the mid rounded to the option tick (down for a SELL,
    up for a BUY), never worse than ``floor``.

    The tick follows the Penny Interval Program (:func:`shared.optionmath.option_tick`; SPY, QQQ and IWM
    trade in pennies at every price).
    For a SELL, ``floor`` is the minimum credit (the limit is raised to it); for a BUY it is the maximum
    debit (the limit is lowered to it); 0 or ``None`` is no floor. ``None`` when there is no two-sided quote.
    """
    m = mid(bid, ask)
    if m is None:
        return None
    tick = option_tick(m, all_prices_penny=symbol in PENNY_ALL_PRICES_CLASSES)
    # concede at most one tick towards the other side rather than sit a fraction above the mid
    price = round_to_tick(m, tick, "down" if action == "SELL" else "up")
    if floor is not None and floor > 0:
        price = max(price, floor) if action == "SELL" else min(price, floor)
    return price


def combo_limit(legs: Sequence[LegQuote], action: Action, floor: float | None) -> float | None:
    """Net limit of a combo in dollars per share: the mid of its net quote (:func:`combo_bid_ask`) rounded
    to the cent towards the other side (up for a BUY, down for a SELL), never past ``floor``.

    ``floor`` is on the combo's own scale (a roll BUYs the combo with floor = −minimum net credit, so the
    limit is at most the floor); unlike a single leg's, 0 is a floor (a roll for nothing), ``None`` none.
    ``None`` when a leg has no usable quote (a bid below 0, an ask not above 0, or a crossed quote; a bid
    of 0 is usable: an option about to expire worthless is bought back at its ask).

    Example: old put 1.00/1.10 bought, new put 1.50/1.60 sold → net (−0.60, −0.40), mid −0.50 → BUY limit
    −0.50 (a credit of 0.50); with floor −0.55 (a credit of at least 0.55) → −0.55.
    """
    if not legs or not all(_usable(leg.bid, leg.ask) for leg in legs):
        return None
    bid, ask = combo_bid_ask(legs)
    price = round_to_tick(round((bid + ask) / 2, 9), COMBO_TICK, "up" if action is Action.BUY else "down")
    if floor is not None:
        price = min(price, floor) if action is Action.BUY else max(price, floor)
    return price + 0.0


def _usable(bid: float, ask: float) -> bool:
    return math.isfinite(bid) and math.isfinite(ask) and 0 <= bid <= ask and ask > 0


@dataclass(frozen=True)
class LegsQuote:
    """One two-sided quote per leg (dollars per share, in the intent's leg order) and the time of the oldest
    leg's last tick (aware, this machine's clock; ``None`` when unknown)."""

    quotes: tuple[tuple[float, float], ...]
    time: datetime | None

    def age_seconds(self, now: datetime) -> float | None:
        """Seconds since the oldest leg's last tick at ``now`` (this machine's clock)."""
        return max(0.0, (now - self.time).total_seconds()) if self.time is not None else None


def intent_limit(intent: Intent, quote: LegsQuote) -> float | None:
    """The opening limit of ``intent`` from its legs' quote: :func:`limit_price` for one leg,
    :func:`combo_limit` for a combo (two or more legs)."""
    if len(intent.legs) > 1:
        legs = [
            LegQuote(leg.action, leg.ratio, bid, ask)
            for leg, (bid, ask) in zip(intent.legs, quote.quotes, strict=True)
        ]
        return combo_limit(legs, intent.action, intent.limit_floor)
    ((bid, ask),) = quote.quotes
    return limit_price(bid, ask, intent.action.value, intent.limit_floor, intent.symbol)


def two_sided(ticker: Ticker) -> bool:
    """The ticker has a finite bid and a positive finite ask."""
    bid, ask = ticker.bid, ticker.ask
    return bid is not None and ask is not None and math.isfinite(bid) and math.isfinite(ask) and ask > 0


async def quote_legs(ib: IB, contracts: Sequence[Contract], timeout: float) -> LegsQuote | None:
    """Stream every contract until all are two-sided (woken by ticker events, not polling), at most
    ``timeout`` seconds; then cancel the streams. ``None`` when a leg stayed one-sided. The caller holds the
    market-data lines.

    ib_async keeps one ``Ticker`` per contract and a cancelled stream's last values in it, so a contract
    quoted before (the put sold this morning, bought back now) would look two-sided at once with the old
    prices: its bid and ask are cleared first, and only the new stream's ticks count."""
    for c in contracts:
        old = ib.ticker(c)
        if old is not None:
            old.bid = old.ask = math.nan
            old.bidSize = old.askSize = math.nan
    tickers = [ib.reqMktData(c, "", False, False) for c in contracts]
    try:
        if not await wait_until(ib, lambda: all(two_sided(t) for t in tickers), timeout):
            return None
    finally:
        for c in contracts:
            ib.cancelMktData(c)
    times = [t.time for t in tickers if t.time is not None]
    return LegsQuote(tuple((float(t.bid), float(t.ask)) for t in tickers), min(times) if times else None)
