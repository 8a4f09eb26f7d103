"""Read what the screen needs from TWS for one underlying and one right (puts or calls): spot, the
listed expiries in the DTE window, on each the listed strikes whose delta may fall in the rules' band (for
covered calls, only strikes at or above the cost basis), and their quotes with TWS's model greeks and open
interest.

Coverage (:mod:`scanner.preselect`): every expiry in the DTE window (at most ``strategy.scan.max_expiries``,
0 = all); the implied vol of the at-the-money option of the expiry nearest the DTE target (one quote; the
realized vol of daily bars when it has none) places the band's edges on each expiry's listed strikes, with
``strikes_beyond_band`` strikes past each edge; then rounds of the next listed strikes outwards until
TWS's streamed greeks show both edges crossed, the chain ends or ``max_strikes_per_expiry`` is reached.

Market-data lines are kept low: each round is streamed in batches that fit the scanner's line budget
(:class:`shared.pacing.LineBudget`), and every stream is cancelled before the next batch. The daily bars of
the fallback volatility guess go through the historical-data pacer (:class:`shared.pacing.HistoricalPacer`)
and are read once per symbol and day.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import date

from ib_async import IB, Contract, Option, Stock, Ticker

from scanner.preselect import Seen, band_strikes, expiries_in_window, widen_strikes
from scanner.screen import OptionQuote
from shared.ibwait import wait_until
from shared.optionmath import calendar_dte
from shared.pacing import HistoricalPacer, LineBudget
from shared.strategy import EntryRules, PutRules, ScanRules
from shared.trade import Right

log = logging.getLogger("scanner.chain")

#: Widening rounds per symbol after the first request (a safety bound; ``max_strikes_per_expiry`` and the
#: chain's ends stop the widening first).
MAX_WIDEN_ROUNDS = 8
#: Seconds to wait for quotes, greeks and open interest before screening what arrived.
QUOTE_WAIT_SECONDS = 6.0
#: Variance risk premium applied to realized volatility for the strike pre-selection guess.
IV_OVER_RV = 1.15
#: Fallback volatility guess (fraction) when daily bars are unavailable.
DEFAULT_IV_GUESS = 0.30
#: Seconds to wait for free market-data lines before the symbol is given up for this scan.
LINE_WAIT_SECONDS = 60.0
#: Fewest lines a quote batch waits for when fewer are free (another symbol holds the rest).
MIN_BATCH_LINES = 10


@dataclass
class Pacing:
    """The scanner's share of IB's limits, and the volatility guesses already read today."""

    lines: LineBudget
    historical: HistoricalPacer
    iv_guesses: dict[str, float]


@dataclass
class ChainRead:
    """What was read for one symbol and right: the quotes, how many contracts were checked, and how many
    expiries of the DTE window were read."""

    symbol: str
    spot: float | None
    quotes: list[OptionQuote]
    contracts_checked: int
    note: str = ""
    expiries: int = 0


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
    """Stream the contracts in batches that fit the line budget; cancel each batch before the next.

    A batch takes the lines free now (up to the whole budget), or waits for :data:`MIN_BATCH_LINES` of
    them: symbols read at once (``scan.concurrent_symbols``) share the budget instead of queueing for
    all of it. Quotes come back in the order of ``contracts``."""
    quotes: list[OptionQuote] = []
    start = 0
    while start < len(contracts):
        rest = len(contracts) - start
        size = min(rest, max(lines.free, min(rest, MIN_BATCH_LINES, lines.capacity)))
        batch = contracts[start : start + size]
        start += size
        async with lines.hold(len(batch), LINE_WAIT_SECONDS):
            tickers = [ib.reqMktData(c, "101", False, False) for c in batch]
            try:
                await _wait_quotes(ib, tickers, right)
                quotes.extend(_quote(t, symbol, spot, right) for t in tickers)
            finally:
                for c in batch:
                    ib.cancelMktData(c)
    return quotes


def _seen(q: OptionQuote) -> Seen:
    return Seen(abs(q.delta) if q.delta is not None else None, q.iv)


async def _atm_iv(
    ib: IB, listed: dict[float, Contract], symbol: str, spot: float, right: Right, lines: LineBudget
) -> tuple[float | None, OptionQuote | None]:
    """The model implied vol (fraction) of the listed strike nearest the spot, and its quote."""
    if not listed:
        return None, None
    strike = min(listed, key=lambda k: (abs(k - spot), k))
    quotes = await _read_quotes(ib, [listed[strike]], symbol, spot, right, lines)
    q = quotes[0] if quotes else None
    iv = q.iv if q is not None and q.iv is not None and q.iv > 0 else None
    return iv, q


async def read_options(
    ib: IB,
    symbol: str,
    right: Right,
    rules: EntryRules,
    today: date,
    pacing: Pacing,
    *,
    min_strike: float | None = None,
    scan: ScanRules | None = None,
) -> ChainRead | None:
    """Quotes of the puts or calls (``right``) of ``symbol`` whose delta may fall in the rules' band, on
    every expiry of the DTE window, bracketed by strikes past each edge of the band (``scan``: the
    strategy's limits, the defaults when not given), and, when given, at or above ``min_strike`` ($/share:
    a covered call's cost basis). ``None`` when TWS does not know the symbol (IB 200)."""
    limits = scan if scan is not None else ScanRules()
    kind = "puts" if right is Right.PUT else "calls"
    qualified = await ib.qualifyContractsAsync(Stock(symbol, "SMART", "USD"))
    stock = qualified[0] if qualified else None
    if not isinstance(stock, Contract) or not stock.conId:
        return None
    spot = await _spot(ib, stock, pacing.lines)
    if spot is None:
        return ChainRead(symbol, None, [], 0, "no price for the underlying")
    chains = await ib.reqSecDefOptParamsAsync(symbol, "", "STK", stock.conId)
    chain = next((c for c in chains if c.exchange == "SMART"), chains[0] if chains else None)
    if chain is None:
        return ChainRead(symbol, spot, [], 0, "no option chain")
    expiries = expiries_in_window(chain.expirations, today, rules)
    if limits.max_expiries:
        expiries = expiries[: limits.max_expiries]
    if not expiries:
        return ChainRead(symbol, spot, [], 0, "no expiry in the DTE window")
    listed: dict[str, dict[float, Contract]] = {}
    for expiry in expiries:
        details = await ib.reqContractDetailsAsync(
            Option(symbol, expiry, 0.0, right.value, "SMART", tradingClass=chain.tradingClass)
        )
        listed[expiry] = {d.contract.strike: d.contract for d in details if d.contract is not None}
    quotes: dict[tuple[str, float], OptionQuote] = {}
    seen: dict[str, dict[float, Seen]] = {e: {} for e in expiries}
    iv, atm = await _atm_iv(ib, listed[expiries[0]], symbol, spot, right, pacing.lines)
    source = "ATM option"
    # below a covered call's floor the at-the-money option is read for its implied vol only
    if atm is not None and (min_strike is None or atm.strike >= min_strike):
        quotes[(expiries[0], atm.strike)] = atm
        seen[expiries[0]][atm.strike] = _seen(atm)
    if iv is None:
        iv, source = await _iv_guess(ib, stock, pacing), "realized vol"
    wanted = {
        e: band_strikes(
            listed[e],
            spot,
            iv,
            calendar_dte(e, today),
            rules,
            right=right,
            beyond=limits.strikes_beyond_band,
            limit=limits.max_strikes_per_expiry,
            min_strike=min_strike,
        )
        for e in expiries
    }
    rounds = 0
    while True:
        asked = [(e, k) for e, ks in wanted.items() for k in ks if k not in seen[e] and k in listed[e]]
        if not asked:
            break
        got = await _read_quotes(ib, [listed[e][k] for e, k in asked], symbol, spot, right, pacing.lines)
        for (e, k), q in zip(asked, got, strict=True):
            quotes[(e, k)] = q
            seen[e][k] = _seen(q)
        rounds += 1
        if rounds > MAX_WIDEN_ROUNDS:
            log.warning("%s: band not bracketed after %d widening rounds", symbol, MAX_WIDEN_ROUNDS)
            break
        wanted = {
            e: widen_strikes(
                listed[e],
                seen[e],
                spot,
                calendar_dte(e, today),
                rules,
                right=right,
                beyond=limits.strikes_beyond_band,
                limit=limits.max_strikes_per_expiry,
                min_strike=min_strike,
            )
            for e in expiries
        }
    checked = sum(len(v) for v in seen.values())
    if atm is not None and atm.strike not in seen[expiries[0]]:
        checked += 1
    if not quotes:
        floor = f" at or above {min_strike:.2f}" if min_strike is not None else ""
        return ChainRead(
            symbol, spot, [], 0, f"no {kind[:-1]} strike{floor} near the delta band", len(expiries)
        )
    log.info(
        "%s: spot %.2f, IV %.0f %% (%s), %d expiries, %d %s read in %d round(s)",
        symbol,
        spot,
        iv * 100,
        source,
        len(expiries),
        checked,
        kind,
        rounds,
    )
    return ChainRead(symbol, spot, list(quotes.values()), checked, expiries=len(expiries))


async def read_puts(
    ib: IB, symbol: str, rules: PutRules, today: date, pacing: Pacing, scan: ScanRules | None = None
) -> ChainRead | None:
    """Quotes of the candidate puts of ``symbol`` (:func:`read_options` for puts)."""
    return await read_options(ib, symbol, Right.PUT, rules, today, pacing, scan=scan)
