"""The real option-chain snapshots (../shared/marketdata/options/chains_2026-02, yfinance, Feb 2026) fed
to the screen directly, with the earnings dates of the shipped file: no opportunity ever expires across
earnings (on/after the next report, or within the 14-day buffer before it), and the rule really bites
(NVDA reported 2026-02-25, inside every expiry of the DTE window).

The snapshots carry no greeks: delta is Black-Scholes from the row's implied vol, the underlying price
the file's, DTE from the snapshot's date (not the file's ``days_to_expire``)."""

from __future__ import annotations

import csv
import math
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import pytest

from scanner.earnings import shipped_dates
from scanner.historyrules import (
    SymbolHistory,
    apply_history_rules,
    earnings_cutoff,
    next_earnings,
    removed_counts,
)
from scanner.preselect import Seen, band_strikes, expiries_in_window, widen_strikes
from scanner.screen import OptionQuote, Screened, rank_candidates, screen_put
from shared.optionmath import bsm_put_delta, calendar_dte
from shared.strategy import PutRules, ScanRules
from shared.trade import Right

CHAINS = Path(__file__).resolve().parents[3] / "shared" / "marketdata" / "options" / "chains_2026-02"
#: Snapshot file suffix → the day it was taken (ET).
SNAPSHOTS = {"": date(2026, 2, 11), "_2": date(2026, 2, 12), "_3": date(2026, 2, 12), "_4": date(2026, 2, 13)}
SYMBOLS = ("SPY", "QQQ", "AAPL", "AMZN", "NVDA", "TSLA", "IBIT")

pytestmark = pytest.mark.skipif(
    not CHAINS.exists(), reason="raw market data (../shared/marketdata) not available"
)


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@cache
def load_puts(symbol: str, suffix: str) -> list[OptionQuote]:
    """The snapshot's puts as the scanner would read them (delta from the row's IV, Black-Scholes)."""
    today = SNAPSHOTS[suffix]
    out = []
    with (CHAINS / f"{symbol}_options{suffix}.csv").open(newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            if row["optionType"] != "put":
                continue
            expiry = date.fromisoformat(row["expirationDate"][:10])
            dte = (expiry - today).days
            spot, strike, iv = (
                _float(row["underlyingPrice"]),
                _float(row["strike"]),
                _float(row["impliedVolatility"]),
            )
            if spot is None or strike is None or dte <= 0:
                continue
            delta = bsm_put_delta(spot, strike, dte / 365, iv) if iv is not None and iv > 0.01 else None
            bid, ask, oi = _float(row["bid"]), _float(row["ask"]), _float(row["openInterest"])
            out.append(
                OptionQuote(
                    symbol=symbol,
                    con_id=i,
                    local_symbol=row["contractSymbol"],
                    right=Right.PUT,
                    expiry=expiry.strftime("%Y%m%d"),
                    strike=strike,
                    multiplier=100,
                    underlying_price=spot,
                    bid=bid if bid and bid > 0 else None,
                    ask=ask if ask and ask > 0 else None,
                    delta=delta,
                    iv=iv,
                    open_interest=int(oi) if oi is not None else None,
                )
            )
    return out


def screen_snapshot(symbol: str, suffix: str, rules: PutRules) -> tuple[list[Screened], SymbolHistory]:
    today = SNAPSHOTS[suffix]
    nxt = next_earnings([d for d, _ in shipped_dates().get(symbol, [])], today)
    hist = SymbolHistory(symbol, next_earnings=nxt)  # no IV bars in a snapshot: the IV rules are skipped
    screened = [screen_put(q, rules, today) for q in load_puts(symbol, suffix)]
    out, notes = apply_history_rules(screened, rules, hist)
    assert any("IV rank unknown" in n for n in notes)
    return out, hist


def _expiry(s: Screened) -> date:
    e = s.quote.expiry
    return date(int(e[:4]), int(e[4:6]), int(e[6:]))


@pytest.mark.parametrize("rules", [PutRules(), PutRules(dte_max=90)], ids=["default", "dte_max_90"])
def test_no_opportunity_expires_across_earnings(rules: PutRules) -> None:
    found = 0
    for symbol in SYMBOLS:
        for suffix in SNAPSHOTS:
            screened, hist = screen_snapshot(symbol, suffix, rules)
            ranked = rank_candidates(screened, lambda _s: rules)
            found += len(ranked)
            if hist.next_earnings is None:  # ETFs, IBIT: nothing to avoid
                continue
            cutoff = earnings_cutoff(hist.next_earnings, rules.earnings_buffer_days)
            for s in screened:
                if s.passed:
                    assert _expiry(s) < cutoff, (symbol, suffix, s.quote.local_symbol, hist.next_earnings)
    assert found > 0  # the real chains do have passing puts


def test_nvda_earnings_remove_its_whole_window() -> None:
    rules = PutRules()
    screened, hist = screen_snapshot("NVDA", "_4", rules)
    assert hist.next_earnings == date(2026, 2, 25)
    counts = removed_counts(screened)
    assert counts["earnings"] == len(screened)  # every listed put expires after 2026-02-25
    assert not [s for s in screened if s.passed]
    # without the earnings rule the same chain has candidates: the rule is what removes them
    off = rules.model_copy(update={"avoid_earnings": False})
    plain, _ = screen_snapshot("NVDA", "_4", off)
    assert [s for s in plain if s.passed]


def test_aapl_wide_window_stops_before_the_april_report() -> None:
    rules = PutRules(dte_max=90)
    screened, hist = screen_snapshot("AAPL", "_4", rules)
    assert hist.next_earnings == date(2026, 4, 30)
    crossing = [s for s in screened if _expiry(s) >= date(2026, 4, 30) - timedelta(days=14)]
    assert crossing and all(not s.passed for s in crossing)
    assert all(any(r.startswith(("earnings ", "expiry ")) for r in s.reasons) for s in crossing)
    ranked = rank_candidates(screened, lambda _s: rules)
    assert ranked and max(_expiry(s) for s in ranked) < date(2026, 4, 16)


def _preselect(puts: list[OptionQuote], today: date, rules: PutRules, scan: ScanRules) -> set[int]:
    """What the scanner's band search (scanner.chain.read_options) requests on this chain: the at-the-money
    put of the nearest expiry for its implied vol, then per expiry of the DTE window ``band_strikes`` and
    rounds of ``widen_strikes`` fed with the quotes "streamed" (the snapshot's rows). The con_ids."""
    spot = puts[0].underlying_price
    by_expiry: dict[str, dict[float, OptionQuote]] = {}
    for q in puts:
        by_expiry.setdefault(q.expiry, {})[q.strike] = q
    expiries = expiries_in_window(by_expiry, today, rules)
    if not expiries:
        return set()
    first = by_expiry[expiries[0]]
    atm = first[min(first, key=lambda k: (abs(k - spot), k))]
    assert atm.iv is not None and atm.iv > 0, f"{atm.local_symbol}: no implied vol at the money"
    requested: set[int] = {atm.con_id}
    for expiry in expiries:
        listed = by_expiry[expiry]
        dte = calendar_dte(expiry, today)
        seen: dict[float, Seen] = {}
        ask = band_strikes(
            listed, spot, atm.iv, dte, rules,
            beyond=scan.strikes_beyond_band, limit=scan.max_strikes_per_expiry,
        )  # fmt: skip
        for _ in range(10):
            if not ask:
                break
            for k in ask:
                q = listed[k]
                seen[k] = Seen(abs(q.delta) if q.delta is not None else None, q.iv)
                requested.add(q.con_id)
            ask = widen_strikes(
                listed, seen, spot, dte, rules,
                beyond=scan.strikes_beyond_band, limit=scan.max_strikes_per_expiry,
            )  # fmt: skip
    return requested


@pytest.mark.parametrize("suffix", sorted(SNAPSHOTS))
@pytest.mark.parametrize("symbol", SYMBOLS)
def test_band_search_finds_every_put_the_screen_passes_on_real_chains(symbol: str, suffix: str) -> None:
    """Recall 1 on the real chains: every put passing the screen's rules is among the contracts the band
    search requests, with the shipped [scan] limits, and it requests far fewer than the whole window."""
    rules, scan = PutRules(), ScanRules()
    today = SNAPSHOTS[suffix]
    puts = load_puts(symbol, suffix)
    passing = {s.quote.con_id for s in (screen_put(q, rules, today) for q in puts) if s.passed}
    requested = _preselect(puts, today, rules, scan)
    assert passing <= requested, f"{symbol}{suffix}: missed {sorted(passing - requested)}"
    window = {q.con_id for q in puts if rules.dte_min <= calendar_dte(q.expiry, today) <= rules.dte_max}
    if window:
        assert len(requested) < len(window) / 2, (len(requested), len(window))
