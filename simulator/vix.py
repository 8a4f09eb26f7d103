"""The CBOE Volatility Index (VIX, secType ``IND``, exchange CBOE): real daily closes, then a model path.

Sessions covered by ``data/index/VIX.csv.gz`` (real Yahoo ``^VIX`` bars, see ``data/README.md``) show the
real OHLC.  After the data ends the daily close follows a seeded mean-reverting walk in log space driven by
the simulated S&P 500 (SPY) path, the way the index moves with the market (Whaley 2009, "Understanding the
VIX", J. Portfolio Management 35: VIX changes run about -4 to -5 times the index return):

    ln V_n = ln V_{n-1} + KAPPA (MU - ln V_{n-1}) + BETA r_n + NOISE e_n,

r_n = SPY's log return of session n, e_n a deterministic standard normal draw (seed, session), MU = ln of the
median real close.  Intraday the index moves along the same formula with the session's elapsed fraction f
(mean reversion and noise scaled by f, SPY's return so far), so at the close it equals the daily close.
Open = previous close moved by the first f = 0 SPY move (the gap), high/low = the extremes of open, close and
the values at SPY's high and low.  Prices are index points rounded to the cent; volume 0 (an index has none).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from statistics import NormalDist, median
from typing import TYPE_CHECKING

from .paths import mix64, read_bars

if TYPE_CHECKING:
    from .market import Bar, Market

SYMBOL = "VIX"
CON_ID = 13455763  # IB's conId of the CBOE VIX index
KAPPA, BETA, NOISE = 0.035, -4.5, 0.035  # per session: mean reversion, SPY return beta, idiosyncratic stdev
_N = NormalDist()


@dataclass(frozen=True)
class IndexSpec:
    """An index contract (not tradable): quotes and historical bars only."""

    symbol: str
    con_id: int
    long_name: str
    exchange: str
    currency: str
    min_tick: float
    sec_type: str = "IND"

    @property
    def primary_exchange(self) -> str:
        return self.exchange


SPEC = IndexSpec(SYMBOL, CON_ID, "CBOE Volatility Index", "CBOE", "USD", 0.01)


def is_index(spec: object) -> bool:
    """True for an :class:`IndexSpec`."""
    return getattr(spec, "sec_type", "") == "IND"


class VixModel:
    """Daily and intraday VIX values on the market's session table (see module docstring)."""

    def __init__(self, market: Market) -> None:
        self.market = market
        bars = read_bars(market.data_dir / "index" / f"{SYMBOL}.csv.gz")
        self.real = {
            d: (o, h, lo, c)
            for d, o, h, lo, c in zip(bars.dates, bars.open, bars.high, bars.low, bars.close, strict=True)
        }
        self.last_real = max(self.real)
        self.mu = math.log(median(bars.close))
        self._closes: dict[date, float] = {}

    def _noise(self, day: date) -> float:
        u = (mix64(self.market.seed, day.toordinal(), 0x5649) % 1_000_000 + 0.5) / 1_000_000
        return _N.inv_cdf(u)

    def _spy_close(self, day: date) -> float:
        return self.market.closing_price("SPY", day)

    def close(self, day: date) -> float:
        """Close of the session on ``day`` (a session date)."""
        if day in self.real:
            return self.real[day][3]
        hit = self._closes.get(day)
        if hit is not None:
            return hit
        sessions = self.market._sessions  # noqa: SLF001 - the market's own calendar
        i = sessions.index_on_or_before(day)
        j = sessions.index_on_or_before(self.last_real)
        lv = math.log(self.real[self.last_real][3])
        for n in range(j + 1, i + 1):
            d = sessions.dates[n]
            cached = self._closes.get(d)
            if cached is not None:
                lv = math.log(cached)
                continue
            r = math.log(self._spy_close(d) / self._spy_close(sessions.dates[n - 1]))
            lv += KAPPA * (self.mu - lv) + BETA * r + NOISE * self._noise(d)
            self._closes[d] = round(math.exp(lv), 2)
        return self._closes[day]

    def value(self, n: int, spy: float, frac: float) -> float:
        """Index value in session ``n`` at elapsed fraction ``frac`` with SPY at ``spy``."""
        sessions = self.market._sessions  # noqa: SLF001
        d, prev = sessions.dates[n], sessions.dates[n - 1]
        lv = math.log(self.close(prev))
        r = math.log(spy / self._spy_close(prev))
        lv += frac * (KAPPA * (self.mu - lv) + NOISE * self._noise(d)) + BETA * r
        return round(math.exp(lv), 2)

    def bar(self, n: int, now_ts: int) -> tuple[float, float, float, float]:
        """(open, high, low, close) of session ``n``; a running session's close is the current value."""
        m = self.market
        sessions = m._sessions  # noqa: SLF001
        d = sessions.dates[n]
        if d in self.real:
            return self.real[d]
        spy_bar = m.daily_bars("SPY", d, 1)[-1]
        opened, closes = sessions.opens[n], sessions.closes[n]
        frac = min(max((now_ts - opened) / max(closes - opened, 1), 0.0), 1.0)
        c = self.close(d) if now_ts >= closes else self.value(n, spy_bar.close, frac)
        o = self.value(n, spy_bar.open, 0.0)
        extremes = [self.value(n, s, frac) for s in (spy_bar.high, spy_bar.low)]
        return o, max(o, c, *extremes), min(o, c, *extremes), c

    def bars(self, end: date, count: int) -> list[Bar]:
        """Up to ``count`` daily bars of sessions dated <= ``end`` and not after today."""
        from .market_types import Bar

        m = self.market
        m.step()
        sessions = m._sessions  # noqa: SLF001
        now_ts = int(m.now().timestamp())
        today = sessions.latest_started(now_ts)
        last = min(sessions.index_on_or_before(end), today)
        first_real = sessions.index_on_or_before(min(self.real))
        out = []
        for n in range(max(first_real, last - count + 1), last + 1):
            o, h, lo, c = self.bar(n, now_ts)
            out.append(Bar(sessions.dates[n].strftime("%Y%m%d"), o, h, lo, c, 0))
        return out

    def quote(self) -> tuple[float, float, float, float, float]:
        """(last, high, low, previous close, open) now, index points."""
        m = self.market
        sessions = m._sessions  # noqa: SLF001
        now_ts = int(m.now().timestamp())
        n = sessions.latest_started(now_ts)
        o, h, lo, c = self.bar(n, now_ts)
        prev = self.close(sessions.dates[n - 1])
        if now_ts < sessions.opens[n]:  # pragma: no cover - latest_started guarantees an open session
            return prev, prev, prev, prev, prev
        return c, h, lo, prev, o


def model(market: Market) -> VixModel:
    """The market's VIX model (created on first use)."""
    vm: VixModel | None = getattr(market, "_vix", None)
    if vm is None:
        vm = VixModel(market)
        market._vix = vm  # type: ignore[attr-defined]  # noqa: SLF001
    return vm
