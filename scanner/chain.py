"""Read what the screen needs from TWS for one underlying and one right (puts or calls): spot, a
volatility guess, the listed expiries in the DTE window, the existing out-of-the-money strikes near the
target delta (for covered calls, only strikes at or above the cost basis), and their quotes with TWS's
model greeks and open interest.

Market-data lines are kept low: at most ``MAX_EXPIRIES`` expiries × ``MAX_STRIKES`` strikes are read
per symbol, in batches that fit the scanner's line budget (:class:`shared.pacing.LineBudget`), and every
stream is cancelled before the next batch. The daily bars for the volatility guess go through the
historical-data pacer (:class:`shared.pacing.HistoricalPacer`) and are read once per symbol and day.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import date

from ib_async import IB, Contract, Option, Stock, Ticker

from scanner.preselect import expiries_in_window, strikes_to_check
from scanner.screen import OptionQuote
from shared.ibwait import wait_until
from shared.optionmath import calendar_dte
from shared.pacing import HistoricalPacer, LineBudget
from shared.strategy import EntryRules, PutRules
from shared.trade import Right

log = logging.getLogger("scanner.chain")

#: Expiries looked at per symbol (nearest the DTE target first).
MAX_EXPIRIES = 2
#: Strikes requested per expiry.
MAX_STRIKES = 8
#: Seconds to wait for quotes, greeks and open interest before screening what arrived.
QUOTE_WAIT_SECONDS = 6.0
#: Variance risk premium applied to realized volatility for the strike pre-selection guess.
IV_OVER_RV = 1.15
#: Fallback volatility guess (fraction) when daily bars are unavailable.
DEFAULT_IV_GUESS = 0.30
#: Seconds to wait for free market-data lines before the symbol is given up for this scan.
LINE_WAIT_SECONDS = 60.0


@dataclass
class Pacing:
    """The scanner's share of IB's limits, and the volatility guesses already read today."""

    lines: LineBudget
    historical: HistoricalPacer
    iv_guesses: dict[str, float]


@dataclass
class ChainRead:
    """What was read for one symbol and right: the quotes, and how many contracts were checked."""

    symbol: str
    spot: float | None
    quotes: list[OptionQuote]
    contracts_checked: int
    note: str = ""


def _finite(x: float | None) -> bool:
    return x is not None and isinstance(x, int | float) and math.isfinite(x)


def realized_vol(closes: list[float], window: int = 20) -> float | None:
    """Annualized close-to-close volatility (fraction) of the last ``window`` daily log returns (×√252)."""
    if len(closes) < window + 1:
        return None
    rets = [math.log(b / a) for a, b in zip(closes[-window - 1 : -1], closes[-window:], strict=True) if a > 0]
    if len(rets) < 2:
        return None
    mean = sum(rets) / len(rets)
    var = sum((r - mean) ** 2 for r in rets) / (len(rets) - 1)
    return math.sqrt(var * 252)


async def _spot(ib: IB, stock: Contract, lines: LineBudget) -> float | None:
    async with lines.hold(1, LINE_WAIT_SECONDS):  # a snapshot holds a line until it ends
        tickers = await ib.reqTickersAsync(stock)
    if not tickers:
        return None
    price = tickers[0].marketPrice()
    if not _finite(price) or price <= 0:
        price = tickers[0].close
    return float(price) if _finite(price) and price > 0 else None


async def _iv_guess(ib: IB, stock: Contract, pacing: Pacing) -> float:
    """Realized volatility of 3 months of daily bars × :data:`IV_OVER_RV`; read once a day per symbol."""
    cached = pacing.iv_guesses.get(stock.symbol)
    if cached is not None:
        return cached
    request = (stock.conId, "", "3 M", "1 day", "TRADES", True)
    async with pacing.historical.slot(stock.conId, request):
        bars = await ib.reqHistoricalDataAsync(stock, "", "3 M", "1 day", "TRADES", True)
    rv = realized_vol([b.close for b in bars or []])
    guess = rv * IV_OVER_RV if rv else DEFAULT_IV_GUESS
    if bars:
        pacing.iv_guesses[stock.symbol] = guess
    return guess


def _open_interest(t: Ticker, right: Right) -> float | None:
    """The contract's open interest: IB sends it as tick 27 (calls) or 28 (puts) for generic tick 101."""
    value = t.callOpenInterest if right is Right.CALL else t.putOpenInterest
    return value if _finite(value) else None


async def _wait_quotes(ib: IB, tickers: list[Ticker], right: Right) -> None:
    """Wait up to :data:`QUOTE_WAIT_SECONDS` until every ticker has a bid, an ask, model greeks and open
    interest, waking on ib_async's ``pendingTickersEvent`` (one per batch of updates), not a polling
    loop; then screen what arrived."""

    def complete(t: Ticker) -> bool:
        return (
            _finite(t.bid)
            and _finite(t.ask)
            and t.modelGreeks is not None
            and _open_interest(t, right) is not None
        )

    await wait_until(ib, lambda: all(complete(t) for t in tickers), QUOTE_WAIT_SECONDS)


def _quote(t: Ticker, symbol: str, spot: float, right: Right) -> OptionQuote:
    c = t.contract
    assert c is not None
    greeks = t.modelGreeks
    delta = greeks.delta if greeks is not None and _finite(greeks.delta) else None
    iv = greeks.impliedVol if greeks is not None and _finite(greeks.impliedVol) else None
    und = greeks.undPrice if greeks is not None and _finite(greeks.undPrice) else spot
    oi = _open_interest(t, right)
    return OptionQuote(
        symbol=symbol,
        con_id=c.conId,
        local_symbol=c.localSymbol,
        right=right,
        expiry=c.lastTradeDateOrContractMonth,
        strike=c.strike,
        multiplier=int(float(c.multiplier or 100)),
        underlying_price=float(und or spot),
        bid=float(t.bid) if _finite(t.bid) and t.bid > 0 else None,
        ask=float(t.ask) if _finite(t.ask) and t.ask > 0 else None,
        delta=delta,
        iv=iv,
        open_interest=int(oi) if oi is not None else None,
    )


async def _read_quotes(
    ib: IB, contracts: list[Contract], symbol: str, spot: float, right: Right, lines: LineBudget
) -> list[OptionQuote]:
    """Stream the contracts in batches that fit the line budget; cancel each batch before the next."""
    quotes: list[OptionQuote] = []
    size = lines.capacity
    for start in range(0, len(contracts), size):
        batch = contracts[start : start + size]
        async with lines.hold(len(batch), LINE_WAIT_SECONDS):
            tickers = [ib.reqMktData(c, "101", False, False) for c in batch]
            try:
                await _wait_quotes(ib, tickers, right)
                quotes.extend(_quote(t, symbol, spot, right) for t in tickers)
            finally:
                for c in batch:
                    ib.cancelMktData(c)
    return quotes


async def read_options(
    ib: IB,
    symbol: str,
    right: Right,
    rules: EntryRules,
    today: date,
    pacing: Pacing,
    *,
    min_strike: float | None = None,
) -> ChainRead | None:
    """Quotes of the candidate puts or calls (``right``) of ``symbol``: out of the money, in the DTE
    window, near the target delta and, when given, at or above ``min_strike`` ($/share: a covered call's
    cost basis). ``None`` when TWS does not know the symbol (IB 200)."""
    kind = "puts" if right is Right.PUT else "calls"
    qualified = await ib.qualifyContractsAsync(Stock(symbol, "SMART", "USD"))
    stock = qualified[0] if qualified else None
    if not isinstance(stock, Contract) or not stock.conId:
        return None
    spot = await _spot(ib, stock, pacing.lines)
    if spot is None:
        return ChainRead(symbol, None, [], 0, "no price for the underlying")
    iv_guess = await _iv_guess(ib, stock, pacing)
    chains = await ib.reqSecDefOptParamsAsync(symbol, "", "STK", stock.conId)
    chain = next((c for c in chains if c.exchange == "SMART"), chains[0] if chains else None)
    if chain is None:
        return ChainRead(symbol, spot, [], 0, "no option chain")
    expiries = expiries_in_window(chain.expirations, today, rules)[:MAX_EXPIRIES]
    contracts: list[Contract] = []
    for expiry in expiries:
        details = await ib.reqContractDetailsAsync(
            Option(symbol, expiry, 0.0, right.value, "SMART", tradingClass=chain.tradingClass)
        )
        listed = {d.contract.strike: d.contract for d in details if d.contract is not None}
        dte = calendar_dte(expiry, today)
        picked = strikes_to_check(
            listed, spot, iv_guess, dte, rules, limit=MAX_STRIKES, right=right, min_strike=min_strike
        )
        contracts.extend(listed[strike] for strike in picked)
    if not contracts:
        if not expiries:
            return ChainRead(symbol, spot, [], 0, "no expiry in the DTE window")
        floor = f" at or above {min_strike:.2f}" if min_strike is not None else ""
        return ChainRead(symbol, spot, [], 0, f"no {kind[:-1]} strike{floor} near the delta band")
    quotes = await _read_quotes(ib, contracts, symbol, spot, right, pacing.lines)
    log.info("%s: spot %.2f, IV guess %.0f %%, %d %s read", symbol, spot, iv_guess * 100, len(quotes), kind)
    return ChainRead(symbol, spot, quotes, len(contracts))


async def read_puts(ib: IB, symbol: str, rules: PutRules, today: date, pacing: Pacing) -> ChainRead | None:
    """Quotes of the candidate puts of ``symbol`` (:func:`read_options` for puts)."""
    return await read_options(ib, symbol, Right.PUT, rules, today, pacing)
