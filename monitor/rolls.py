"""Roll targets: the options a short option could be rolled into, read from TWS for :func:`shared.management.
choose_roll` to pick from.

For one short option: the symbol's option chain (``reqSecDefOptParams``, the SMART chain), the expiries
later than the old one whose DTE lies in the entry rules' window (nearest the DTE target first, at most
:data:`MAX_EXPIRIES`), on each the listed strikes the same or better than the old one (put: at or below,
call: at or above; the :data:`MAX_STRIKES` nearest the old strike), and one snapshot quote with TWS's model
greeks for each (``reqTickersAsync`` with a timeout, inside the monitor's market-data line budget, in
batches of the lines free: the monitor's own streams of the options held keep theirs).

A :class:`RollSearch` lives for one refresh and caches what it read per symbol; the underlying's conId is
kept for the life of the :class:`RollFinder`.
"""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import date
from typing import Any

from ib_async import Contract, Option, Stock

from shared.management import RollCandidate, ShortOption
from shared.optionmath import calendar_dte
from shared.pacing import LineBudgetExceeded
from shared.strategy import EntryRules
from shared.trade import Right

#: Expiries looked at per roll (nearest the entry DTE target first).
MAX_EXPIRIES = 3
#: Strikes looked at per expiry (nearest the old strike, same or better).
MAX_STRIKES = 4
#: Seconds one TWS request (chain, contract details, a batch of snapshot quotes) may take: TWS ends an
#: option snapshot within about 11 s.
REQUEST_TIMEOUT_SECONDS = 13.0
#: Seconds one whole search may hold up the monitor's refresh before it is tried again at the next one.
SEARCH_TIMEOUT_SECONDS = 30.0
#: Seconds to wait for market-data lines to free up before the search is given up for this refresh.
LINE_WAIT_SECONDS = 5.0


def _side(x: Any) -> float | None:
    """A quote side as a finite number ≥ 0, else ``None`` (IB: -1 or NaN)."""
    return float(x) if isinstance(x, int | float) and math.isfinite(x) and x >= 0 else None


def pick_expiries(expirations: list[str], old_expiry: str, today: date, rules: EntryRules) -> list[str]:
    """Expiries (``YYYYMMDD``) later than ``old_expiry`` with DTE in ``[dte_min, dte_max]``, nearest
    ``dte_target`` first (the earlier on a tie), at most :data:`MAX_EXPIRIES`."""
    keyed = {
        e: calendar_dte(e, today)
        for e in {x.strip() for x in expirations}
        if len(e) == 8 and e.isdigit() and e > old_expiry
    }
    window = [e for e, d in keyed.items() if rules.dte_min <= d <= rules.dte_max]
    return sorted(window, key=lambda e: (abs(keyed[e] - rules.dte_target), keyed[e]))[:MAX_EXPIRIES]


def pick_strikes(listed: list[float], old_strike: float, right: Right) -> list[float]:
    """The :data:`MAX_STRIKES` listed strikes nearest ``old_strike`` that are the same or better: at or
    below it for a put, at or above it for a call (dollars per share)."""
    if right is Right.PUT:
        ok = sorted((s for s in set(listed) if s <= old_strike + 1e-9), reverse=True)
    else:
        ok = sorted(s for s in set(listed) if s >= old_strike - 1e-9)
    return ok[:MAX_STRIKES]


class RollSearch:
    """One refresh's roll searches: chains, listings and quotes read once per symbol / contract."""

    def __init__(self, finder: RollFinder, today: date) -> None:
        self.finder = finder
        self.today = today
        self._chains: dict[str, Any] = {}
        self._listed: dict[tuple[str, str, str], list[Contract]] = {}
        self._quotes: dict[int, RollCandidate | None] = {}

    async def candidates(self, option: ShortOption, rules: EntryRules) -> list[RollCandidate] | None:
        """Quoted roll candidates for ``option`` under the entry ``rules`` (its right's), ``[]`` when the
        chain lists none, ``None`` when TWS could not be asked now (timeout, no line free, disconnected):
        the caller tries again at the next refresh."""
        try:
            # a timeout in this task, not wait_for's inner task: cancelled at shutdown, that task could end
            # with the disconnect's ConnectionError that nobody retrieves (asyncio logs a traceback)
            async with asyncio.timeout(SEARCH_TIMEOUT_SECONDS):
                return await self._candidates(option, rules)
        except (TimeoutError, ConnectionError, LineBudgetExceeded) as err:
            self.finder.log.warning(
                "roll targets for %s not read this refresh: %s", option.local_symbol, err or "timeout"
            )
            return None

    async def _candidates(self, option: ShortOption, rules: EntryRules) -> list[RollCandidate]:
        chain = await self._chain(option.symbol)
        if chain is None:
            return []
        contracts: list[Contract] = []
        for expiry in pick_expiries(list(chain.expirations), option.expiry, self.today, rules):
            listed = await self._listing(option.symbol, expiry, option.right, chain.tradingClass)
            by_strike = {c.strike: c for c in listed}
            contracts += [by_strike[s] for s in pick_strikes(list(by_strike), option.strike, option.right)]
        await self._quote([c for c in contracts if c.conId not in self._quotes])
        found = [self._quotes.get(c.conId) for c in contracts]
        return [c for c in found if c is not None]

    async def _chain(self, symbol: str) -> Any:
        if symbol not in self._chains:
            ib = self.finder.conn.ib
            con_id = await self.finder.underlying_con_id(symbol)
            chains = []
            if con_id:
                async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
                    chains = await ib.reqSecDefOptParamsAsync(symbol, "", "STK", con_id)
            smart = [c for c in chains if c.exchange == "SMART"]
            self._chains[symbol] = (smart or list(chains) or [None])[0]
        return self._chains[symbol]

    async def _listing(self, symbol: str, expiry: str, right: Right, trading_class: str) -> list[Contract]:
        key = (symbol, expiry, right.value)
        if key not in self._listed:
            async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
                details = await self.finder.conn.ib.reqContractDetailsAsync(
                    Option(symbol, expiry, 0.0, right.value, "SMART", tradingClass=trading_class)
                )
            self._listed[key] = [d.contract for d in details if d.contract is not None and d.contract.conId]
        return self._listed[key]

    async def _quote(self, contracts: list[Contract]) -> None:
        """One snapshot quote with model greeks per contract, in batches that fit the free lines."""
        lines = self.finder.conn.lines
        i = 0
        while i < len(contracts):
            batch = contracts[i : i + max(1, min(lines.free, len(contracts) - i))]
            i += len(batch)
            async with lines.hold(len(batch), LINE_WAIT_SECONDS), asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
                tickers = await self.finder.conn.ib.reqTickersAsync(*batch)
            for contract, ticker in zip(batch, tickers, strict=False):
                greeks = ticker.modelGreeks
                delta = greeks.delta if greeks is not None else None
                self._quotes[contract.conId] = RollCandidate(
                    con_id=contract.conId,
                    local_symbol=contract.localSymbol,
                    expiry=contract.lastTradeDateOrContractMonth,
                    strike=float(contract.strike),
                    right=Right(contract.right[:1]),
                    bid=_side(ticker.bid),
                    ask=_side(ticker.ask),
                    delta=float(delta) if delta is not None and math.isfinite(delta) else None,
                    dte=calendar_dte(contract.lastTradeDateOrContractMonth, self.today),
                )


class RollFinder:
    """Reads roll targets through the monitor's connection (``conn``: :class:`shared.ibconn.IBConnection`,
    whose line budget it respects)."""

    def __init__(self, conn: Any, log: logging.Logger) -> None:
        self.conn = conn
        self.log = log
        self._underlyings: dict[str, int] = {}

    def search(self, today: date) -> RollSearch:
        """A search for one refresh (``today``: the US/Eastern date of TWS's clock)."""
        return RollSearch(self, today)

    async def underlying_con_id(self, symbol: str) -> int:
        """The conId of ``symbol``'s stock at SMART (0 when TWS does not know it), read once."""
        if symbol not in self._underlyings:
            async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
                qualified = await self.conn.ib.qualifyContractsAsync(Stock(symbol, "SMART", "USD"))
            stock = qualified[0] if qualified else None
            con_id = int(stock.conId) if isinstance(stock, Contract) and stock.conId else 0
            if not con_id:
                return 0
            self._underlyings[symbol] = con_id
        return self._underlyings[symbol]
