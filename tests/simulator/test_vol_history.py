"""The moving volatility surface over the wire: a year of daily OPTION_IMPLIED_VOLATILITY and
HISTORICAL_VOLATILITY bars, the last one at the live ATM IV, an IV level that moves with the closes, and the
earnings bump in the term structure (simulator/surface.py, Market.atm_iv / iv_scale)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pytest
from ib_async import IB, Stock

from simulator.market import Market
from simulator.surface import earnings_variance


@pytest.mark.parametrize("symbol", ["AAPL", "SPY"])
def test_a_year_of_iv_and_hv_bars(ib: IB, symbol: str) -> None:
    (stock,) = ib.qualifyContracts(Stock(symbol, "SMART", "USD"))
    iv = ib.reqHistoricalData(stock, "", "1 Y", "1 day", "OPTION_IMPLIED_VOLATILITY", True)
    hv = ib.reqHistoricalData(stock, "", "1 Y", "1 day", "HISTORICAL_VOLATILITY", True)
    assert len(iv) >= 252 and len(hv) >= 252
    assert all(0.03 < b.close < 2.0 for b in iv) and all(0.0 < b.close < 3.0 for b in hv)
    assert all(b.low <= min(b.open, b.close) and max(b.open, b.close) <= b.high for b in iv)
    closes = [b.close for b in iv]
    # the level moves: a 52-week IV rank has something to rank
    rank_range = (max(closes) - min(closes)) / min(closes)
    assert rank_range > 0.15, rank_range
    # the earnings bump: the 30-day IV is up the day before each report inside the year and crushed on it
    if symbol == "AAPL":
        by_day = {b.date: b.close for b in iv}
        days = sorted(by_day)
        crushes = [
            by_day[days[i - 1]] / by_day[d]
            for i, d in enumerate(days)
            if i and d.strftime("%Y-%m-%d") in {"2026-01-29", "2026-04-30", "2026-07-30", "2026-10-29"}
        ]
        assert crushes and all(c > 1.1 for c in crushes), crushes
    # the last bar is at the live 30-day ATM IV (tick 24 of a stock line)
    ticker = ib.reqMktData(stock, "106")
    ib.sleep(1.0)
    live = ticker.impliedVolatility
    ib.cancelMktData(stock)
    assert live == live and abs(closes[-1] - live) < 0.02 * live + 1e-3, (closes[-1], live)


def test_level_follows_realized_vol_and_is_one_on_the_fit_day() -> None:
    now = datetime(2026, 12, 3, 16, 0, tzinfo=UTC)
    m = Market(clock=lambda: now)
    fit = m._sessions.index_on_or_before(date(2026, 2, 12))  # noqa: SLF001
    assert m.iv_scale("AAPL", fit) == pytest.approx(1.0)
    # the IV history co-moves with realized vol: correlation of the two daily series over a year
    days = [now.date() - timedelta(days=d) for d in range(1, 365, 3)]
    iv = [m.atm_iv("SPY", 30.0, d) for d in days]
    from simulator.history import vol_rows

    hv = {r.date: r.close for r in vol_rows(m, "SPY", "HISTORICAL_VOLATILITY", now.date(), 300)}
    pairs = [
        (a, hv[d.strftime("%Y%m%d")]) for a, d in zip(iv, days, strict=True) if d.strftime("%Y%m%d") in hv
    ]
    ma = sum(p[0] for p in pairs) / len(pairs)
    mb = sum(p[1] for p in pairs) / len(pairs)
    cov = sum((a - ma) * (b - mb) for a, b in pairs)
    assert cov > 0


def test_earnings_bump_in_the_term_structure_and_gone_after() -> None:
    # AAPL reports 2027-01-28 (projected): expiries after it carry the event's variance
    before = datetime(2027, 1, 20, 16, 0, tzinfo=UTC)
    m = Market(clock=lambda: before)
    exps = m.expiries("AAPL")
    pre = [e for e in exps if e < "20270128"]
    post = [e for e in exps if e >= "20270128"]
    assert pre and post
    e_pre, e_post = pre[-1], post[0]

    def atm_iv(mk: Market, expiry: str) -> float:
        opts = mk.find_options("AAPL", expiry, right="C")
        s = mk.spot("AAPL")
        atm = min(opts, key=lambda o: abs(o.strike - s))
        return mk.option_quote(atm).iv

    iv_pre, iv_post = atm_iv(m, e_pre), atm_iv(m, e_post)
    assert iv_post > iv_pre * 1.15, (iv_pre, iv_post)
    # the bump is the event variance spread over the option's life
    t_post = (datetime.strptime(e_post, "%Y%m%d").date() - before.date()).days / 365
    base = math.sqrt(max(iv_post**2 - earnings_variance(m._atm30["AAPL"] * m.iv_scale("AAPL")) / t_post, 0))  # noqa: SLF001
    assert base < iv_post
    # after the report the same expiry loses the bump (IV crush)
    after = datetime(2027, 1, 29, 16, 0, tzinfo=UTC)
    m2 = Market(clock=lambda: after)
    assert atm_iv(m2, e_post) < iv_post * 0.9
    # and the bars on the day itself jump more than a normal day (seeded path past the real data)
    bars = {b.date: b for b in m2.daily_bars("AAPL", after.date(), 300)}
    jumps = []
    for d in ("20261029", "20270128"):  # projected earnings days past the data
        keys = sorted(bars)
        i = keys.index(d)
        jumps.append(abs(math.log(bars[d].open / bars[keys[i - 1]].close)))
    normal = [
        abs(math.log(bars[b].open / bars[a].close))
        for a, b in zip(sorted(bars), sorted(bars)[1:], strict=False)
    ]
    assert max(jumps) > 2 * sorted(normal)[len(normal) // 2]
