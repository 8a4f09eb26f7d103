"""Market model of the TWS simulator: contracts, underlying prices, option chains and quotes.

Underlyings start from their last real close (``simulator/data``) and are carried to the clock's date by a
seeded random walk, then a per-second intraday path (:mod:`simulator.paths`), which :meth:`Market.move` can
shift on purpose (:mod:`simulator.overrides`).  Options are priced as American (:mod:`simulator.american`:
Bjerksund-Stensland with the discrete dividend schedule escrowed, or the yield q without one) at the implied
vol of the symbol's fitted smile (:mod:`simulator.surface`), with rate r; bid/ask and open interest follow
the profiles measured on real chains (:mod:`simulator.quotes`).  Same (seed, clock, overrides) -> same
prices in any process.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from simulator.american import american_greeks
from simulator.listing import (
    decode_option_con_id,
    listed_expiries,
    occ_local_symbol,
    option_con_id,
    representable,
    strike_grid,
    third_friday,
)
from simulator.market_types import Bar, OptionQuote, OptionSpec, StockQuote, StockSpec
from simulator.overrides import Move, PriceOverrides, ShiftedPath
from simulator.paths import PricePath, SessionTable, mix64, read_bars
from simulator.quotes import Profile, bid_ask, open_interest
from simulator.surface import FIT_DATE, LEVEL_CLIP, LEVEL_RV_DAYS, Surface, earnings_variance, level_driver

DATA_DIR = Path(__file__).resolve().parent / "data"
ET = ZoneInfo("America/New_York")
_YEAR_S = 365.0 * 86400.0
EARN_JUMP = 3.0  # earnings-day jump stdev in daily vols (matches surface.EARNINGS_MOVE_DAYS)
__all__ = ["Bar", "Market", "OptionQuote", "OptionSpec", "StockQuote", "StockSpec"]


class Market:
    """The simulated market (see module docstring).  Not thread-safe; one instance per server loop."""

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        seed: int = 7,
        clock: Callable[[], datetime] | None = None,
        rate: float = 0.04,
    ) -> None:
        self.data_dir = data_dir or DATA_DIR
        self.seed, self.rate = seed, rate
        self._clock = clock or (lambda: datetime.now(UTC))
        self._under: dict[str, dict[str, Any]] = json.loads((self.data_dir / "underlyings.json").read_text())
        surf = json.loads((self.data_dir / "surfaces.json").read_text())["surfaces"]
        self._surface = {s: Surface.from_record(surf[s]) for s in self._under}
        self._profile = {s: Profile.from_record(surf[s]) for s in self._under}
        self._atm30 = {s: self._surface[s].vol(0.0, 30 / 365) for s in self._under}
        self._specs = {
            s: StockSpec(
                s,
                int(u["con_id"]),
                str(u["long_name"]),
                str(u["primary_exchange"]),
                "USD",
                0.01,
            )
            for s, u in self._under.items()
        }
        self._by_con_id: dict[int, StockSpec] = {sp.con_id: sp for sp in self._specs.values()}
        self._by_index = {int(u["index"]): s for s, u in self._under.items()}
        first = min(date.fromisoformat(str(u["last_date"])) for u in self._under.values()) - timedelta(
            days=800
        )
        self._sessions = SessionTable(first, self._now_et().date() + timedelta(days=800))
        self.overrides = PriceOverrides()  # prices moved on purpose (simulator/overrides.py)
        self._paths: dict[str, ShiftedPath] = {}
        self._ts = -1
        self._pinned = False  # see pinned()
        self._wall_ts = -1
        self._day = 0
        self._elapsed = 1.0
        self._statics: dict[int, tuple[int, bool, bool]] = {}
        self._sess = -1
        self._spot: dict[str, float] = {}
        self._oq: dict[int, OptionQuote] = {}
        self._chains: dict[tuple[str, date], dict[date, tuple[bool, list[float]]]] = {}
        self._dividends: dict[str, list[tuple[date, float]]] | None = None
        #: ``--hours always``: outside regular hours the stock book keeps ticking (sizes change every second;
        #: prices stay at the close), so a client waiting for a fresh tick gets one
        self.ticks_after_hours = False
        self._div_cache: dict[tuple[str, date, date], list[tuple[int, float]]] = {}
        self._fitted = {s: surf[s].get("source") == "fit" for s in self._under}
        earn_path = self.data_dir / "earnings.json"
        earn: dict[str, dict[str, Any]] = json.loads(earn_path.read_text()) if earn_path.exists() else {}
        self._earnings: dict[str, list[date]] = {
            s: sorted({date.fromisoformat(d) for k in ("reported", "projected") for d in v.get(k, [])})
            for s, v in earn.items()
        }
        self._scale: dict[tuple[str, int], float] = {}
        self.step()

    # ---- clock -------------------------------------------------------------------------------------------
    def now(self) -> datetime:
        """The simulated current time (tz-aware UTC)."""
        return self._clock()

    def _now_et(self) -> datetime:
        return self.now().astimezone(ET)

    @contextlib.contextmanager
    def pinned(self) -> Iterator[None]:
        """Within the block every quote is of one second: the clock is stepped once, then held (a long
        computation, e.g. a chain-wide sum, must not mix the quotes of two seconds)."""
        self.step()
        outer, self._pinned = self._pinned, True
        try:
            yield
        finally:
            self._pinned = outer

    def step(self) -> None:
        """Advance the price path to ``now()``; per-second caches are dropped when the second changes.

        Outside regular trading hours every quote stays frozen at the last session's close (what TWS shows
        after the close): prices, greeks and sizes are computed at that closing instant.
        """
        wall = int(self.now().timestamp())
        if wall == self._wall_ts or self._pinned:
            return
        self._wall_ts = wall
        if self._now_et().date() + timedelta(days=400) > self._sessions.end:
            self._sessions = SessionTable(self._sessions.start, self._now_et().date() + timedelta(days=800))
            self._paths.clear()
            self._scale.clear()
            self._chains.clear()
            self._statics.clear()
        self._sess = self._sessions.latest_started(wall)
        ts = wall
        if self._sess >= 0 and ts > self._sessions.closes[self._sess]:
            ts = self._sessions.closes[self._sess]  # after the close: frozen at the closing instant
        if ts == self._ts:
            return
        self._ts = ts
        self._day = datetime.fromtimestamp(ts, ET).date().toordinal()  # of the frozen instant
        self._elapsed = 1.0  # fraction of the current session elapsed (1 outside sessions)
        if self._sess >= 0 and ts < self._sessions.closes[self._sess]:
            o, c = self._sessions.opens[self._sess], self._sessions.closes[self._sess]
            self._elapsed = (ts - o) / (c - o)
        self._spot.clear()
        self._oq.clear()

    def is_open(self) -> bool:
        """True inside a regular trading session (XNYS, early closes included) at ``now()``."""
        self.step()
        return self._sess >= 0 and self._wall_ts < self._sessions.closes[self._sess]

    def closing_price(self, symbol: str, day: date) -> float:
        """Official close (USD, rounded to the cent) of the session on ``day`` (or the last one before it)."""
        self.step()
        return round(self._path(symbol).close(self._sessions.index_on_or_before(day)), 2)

    def value_at_close(self, opt: OptionSpec, day: date) -> float:
        """Model value (USD per share) of ``opt`` at the close of the session on ``day`` (closing spot)."""
        self.step()
        i = self._sessions.index_on_or_before(day)
        s = self._path(opt.symbol).close(i)
        t = max(self._static(opt)[0] - self._sessions.closes[i], 0) / _YEAR_S
        qy, divs, pv = self._carry(opt.symbol, self._sessions.closes[i], t)
        k = math.log(opt.strike / (s - pv)) - (self.rate - qy) * t
        iv = self._vol(opt.symbol, k, t, i, opt.expiry)
        return american_greeks(s, opt.strike, t, iv, self.rate, qy, opt.right, divs).price

    def _carry(self, symbol: str, ts: int, t: float) -> tuple[float, list[tuple[float, float]], float]:
        """(continuous yield q, discrete dividends [(years to ex-date, USD)], their PV) from epoch second
        ``ts`` over ``t`` years: the dividend schedule (last four projected on by 52-week steps as far as
        needed; ex-date taken at 09:30 ET) with q = 0, or the trailing yield for a symbol without one."""
        sched = self.dividends(symbol)
        if not sched:
            return float(self._under[symbol]["div_yield"]), [], 0.0
        now = datetime.fromtimestamp(ts, UTC).astimezone(ET).date()
        until = now + timedelta(days=int(t * 365.0) + 2)
        key = (symbol, now, until)
        hit = self._div_cache.get(key)
        if hit is None:
            dates = list(sched)
            while dates[-1][0] <= until and len(sched) >= 4:
                dates += [(d + timedelta(weeks=52), a) for d, a in dates[-4:]]
            hit = self._div_cache[key] = [
                (int(datetime.combine(d, datetime.min.time().replace(hour=9, minute=30), ET).timestamp()), a)
                for d, a in dates
                if now <= d <= until
            ]
            if len(self._div_cache) > 4096:
                self._div_cache.clear()
        divs = [((x - ts) / _YEAR_S, a) for x, a in hit if 0 < x - ts <= t * _YEAR_S]
        return 0.0, divs, sum(a * math.exp(-self.rate * ti) for ti, a in divs)

    def dividends(self, symbol: str) -> list[tuple[date, float]]:
        """Ex-dividend dates and cash amounts (USD per share), reported and projected, from ``dividends.json``
        in the data directory, sorted; [] when the data has none for the symbol."""
        if self._dividends is None:
            path = self.data_dir / "dividends.json"
            raw: dict[str, dict[str, list[list[Any]]]] = json.loads(path.read_text()) if path.exists() else {}
            self._dividends = {
                sym: sorted((date.fromisoformat(str(d)), float(a)) for v in kinds.values() for d, a in v)
                for sym, kinds in raw.items()
            }
        return self._dividends.get(symbol.upper(), [])

    # ---- contracts ---------------------------------------------------------------------------------------
    def symbols(self) -> list[str]:
        """Known underlying symbols, sorted."""
        return sorted(self._under)

    def stock(self, symbol: str) -> StockSpec | None:
        """The stock/ETF contract, or None for an unknown symbol."""
        return self._specs.get(symbol.upper())

    def contract_by_con_id(self, con_id: int) -> StockSpec | OptionSpec | None:
        """Stock or option contract by IB conId (options decode from the id), None if unknown."""
        if con_id in self._by_con_id:
            return self._by_con_id[con_id]
        dec = decode_option_con_id(con_id)
        if dec is None or dec[0] not in self._by_index or dec[1].weekday() not in (3, 4):
            return None
        return self._option_spec(self._by_index[dec[0]], dec[1], dec[2], dec[3])

    def _option_spec(self, symbol: str, expiry: date, strike: float, right: str) -> OptionSpec:
        idx = int(self._under[symbol]["index"])
        return OptionSpec(
            symbol,
            expiry.strftime("%Y%m%d"),
            strike,
            right,
            option_con_id(idx, expiry, strike, right),
            occ_local_symbol(symbol, expiry, strike, right),
            symbol,
            100,
            0.01,
        )

    # ---- prices ------------------------------------------------------------------------------------------
    def _path(self, symbol: str) -> ShiftedPath:
        p = self._paths.get(symbol)
        if p is None:
            u = self._under[symbol]
            raw = PricePath(
                int(u["index"]),
                self.seed,
                read_bars(self.data_dir / "bars" / f"{symbol}.csv.gz"),
                float(u["rv252"]),
                int(u["avg_volume"]),
                self._sessions,
                self._earnings_jumps(symbol),
            )
            p = self._paths[symbol] = ShiftedPath(raw, self.overrides.track(symbol))
        return p

    def model_price(self, symbol: str) -> float:
        """Current price (USD) of the data-driven path, without the overrides."""
        self.step()
        return self._path(symbol).raw.price_at(self._sess, self._wall_ts)

    def move(self, symbol: str, move: Move) -> None:
        """Move ``symbol``'s price now (:mod:`simulator.overrides`; with the market closed: after hours, the
        session's close stays); ValueError for a price out of range."""
        model = self.model_price(symbol)
        self.overrides.track(symbol).change(self._wall_ts, model, move)
        self.restore_overrides(None)

    def restore_overrides(self, data: dict[str, list[list[Any]]] | None) -> None:
        """Load saved overrides (:meth:`PriceOverrides.to_json` form; None keeps the current ones) and drop
        the quotes and chains computed without them."""
        if data is not None:
            self.overrides.load(data)
        self._spot.clear()
        self._oq.clear()
        self._chains.clear()
        self._scale.clear()

    def spot(self, symbol: str) -> float:
        """Current underlying price (USD), on the per-second path."""
        self.step()
        s = self._spot.get(symbol)
        if s is None:
            s = self._spot[symbol] = self._path(symbol).price_at(self._sess, self._wall_ts)
        return s

    def stock_quote(self, symbol: str) -> StockQuote:
        """Top of book: spread one cent (two on prices above ~$500), sizes in round lots of 100."""
        last = self.spot(symbol)
        path = self._path(symbol)
        ticks = max(1, round(last * 0.3e-4 / 0.01))
        bid = math.floor(last * 100 - ticks / 2 + 0.5) / 100
        ask = round(bid + ticks / 100, 2)
        running = self._sess >= 0 and self._ts < self._sessions.closes[self._sess]
        h = mix64(self._wall_ts if self.ticks_after_hours else self._ts, int(self._under[symbol]["index"]))
        vol = path.bar(self._sess, self._ts if running else None)[4] if self._sess >= path.base else 0
        return StockQuote(
            round(bid, 2),
            ask,
            round(last, 2),
            100 * (1 + h % 30),
            100 * (1 + (h >> 8) % 30),
            100 * (1 + (h >> 16) % 5),
            vol,
            round(path.close(self._sess - 1), 2),
        )

    def daily_bars(self, symbol: str, end: date, count: int) -> list[Bar]:
        """Up to ``count`` daily bars of sessions dated <= ``end`` and not after today (today's bar is partial
        while the session runs); real bars where the shipped data has them."""
        self.step()
        path = self._path(symbol)
        last = min(self._sessions.index_on_or_before(end), self._sess)
        out: list[Bar] = []
        for i in range(max(path.base, last - count + 1), last + 1):
            o, h, lo, c, v = path.bar(i, self._ts if self._ts < self._sessions.closes[i] else None)
            out.append(
                Bar(
                    self._sessions.dates[i].strftime("%Y%m%d"),
                    round(o, 2),
                    round(h, 2),
                    round(lo, 2),
                    round(c, 2),
                    v,
                )
            )
        return out

    # ---- chains ------------------------------------------------------------------------------------------
    def _chain(self, symbol: str) -> dict[date, tuple[bool, list[float]]]:
        self.step()
        now_et = self._now_et()
        today = now_et.date()
        key = (symbol, today)
        chain = self._chains.get(key)
        if chain is None:
            etf = bool(self._under[symbol]["etf"])
            ref = self._path(symbol).close(self._sessions.index_on_or_before(today - timedelta(days=1)))
            chain = {}
            for exp, monthly in listed_expiries(self._sessions.calendar, today, weeks=12 if etf else 8):
                t = max((exp - today).days, 1) / 365.0
                chain[exp] = (
                    monthly,
                    [k for k in strike_grid(ref, self._atm30[symbol], t, monthly, etf) if representable(k)],
                )
            if len(self._chains) > 256:
                self._chains.clear()
            self._chains[key] = chain
        i = self._sessions.index_on_or_before(today)
        if chain and self._sessions.dates[i] == today and self._ts >= self._sessions.closes[i]:
            return {e: v for e, v in chain.items() if e > today}  # today's expiry has stopped trading
        return chain

    def expiries(self, symbol: str) -> list[str]:
        """Listed expiries (last trade dates, "YYYYMMDD") from today on, sorted; [] for unknown symbols."""
        if symbol not in self._under:
            return []
        return [e.strftime("%Y%m%d") for e in sorted(self._chain(symbol))]

    def strikes(self, symbol: str) -> list[float]:
        """Union of the strikes over all listed expiries (as reqSecDefOptParams reports them)."""
        if symbol not in self._under:
            return []
        return sorted({k for _, ks in self._chain(symbol).values() for k in ks})

    def find_options(
        self, symbol: str, expiry: str | None = None, strike: float | None = None, right: str | None = None
    ) -> list[OptionSpec]:
        """Listed option contracts matching the filters (only (expiry, strike) pairs that exist)."""
        if symbol not in self._under:
            return []
        out: list[OptionSpec] = []
        for exp, (_, ks) in sorted(self._chain(symbol).items()):
            if expiry is not None and exp.strftime("%Y%m%d") != expiry:
                continue
            for k in ks:
                if strike is not None and abs(k - strike) > 1e-6:
                    continue
                out += [self._option_spec(symbol, exp, k, r) for r in ("P", "C") if right in (None, r)]
        return out

    def option_quote(self, opt: OptionSpec) -> OptionQuote:
        """BSM quote at the smile's vol; cached for the current second."""
        self.step()
        q = self._oq.get(opt.con_id)
        if q is None:
            q = self._oq[opt.con_id] = self._price_option(opt)
        return q

    def _static(self, opt: OptionSpec) -> tuple[int, bool, bool]:
        """Per-contract constants: expiry close (epoch s), monthly flag, round-strike flag."""
        st = self._statics.get(opt.con_id)
        if st is None:
            exp = date(int(opt.expiry[:4]), int(opt.expiry[4:6]), int(opt.expiry[6:]))
            close = self._sessions.closes[self._sessions.index_on_or_before(exp)]
            monthly = third_friday(exp.year, exp.month) in (exp, exp + timedelta(days=1))
            inc = 5 * float(self._under[opt.symbol]["strike_increment"])
            st = (close, monthly, abs(opt.strike / inc - round(opt.strike / inc)) < 1e-9)
            self._statics[opt.con_id] = st
        return st

    def _price_option(self, opt: OptionSpec) -> OptionQuote:
        sym = opt.symbol
        s = self.spot(sym)
        exp_close, monthly, round_strike = self._static(opt)
        t = max(exp_close - self._ts, 0) / _YEAR_S
        qy, divs, pv = self._carry(sym, self._ts, t)
        r = self.rate
        k = math.log(opt.strike / (s - pv)) - (r - qy) * t  # ln(K / F), F = (S - PV(div)) e^{(r - q) T}
        iv = self._vol(sym, k, t, self._sess, opt.expiry)
        g = american_greeks(s, opt.strike, t, iv, r, qy, opt.right, divs)  # American exercise
        intrinsic = max(s - opt.strike, 0.0) if opt.right == "C" else max(opt.strike - s, 0.0)
        model = g.price if t > 0 else intrinsic
        tt = max(t, 1 / 365)
        d = abs(k) / (self._atm30[sym] * math.sqrt(tt))
        prof = self._profile[sym]
        oi = open_interest(prof, opt.con_id, d, tt, intrinsic > 0, round_strike, monthly, self._day)
        bid, ask = bid_ask(model, intrinsic, prof, d, tt, opt.con_id)
        h = mix64(opt.con_id, self._ts)
        depth = max(1, min(500, oi // 50))
        volume = int(oi * 0.15 * self._elapsed * (0.5 + (mix64(opt.con_id, 9) % 100) / 100))
        last = min(max(round(model, 2), bid), ask)
        return OptionQuote(
            bid,
            ask,
            last,
            1 + h % depth,
            1 + (h >> 12) % depth,
            volume,
            oi,
            iv,
            g.delta,
            g.gamma,
            g.vega,
            g.theta,
            model,
            s,
            pv + s * (1 - math.exp(-qy * t)),
        )

    # ---- model values for history and volatility ticks (see simulator/history.py) --------------------------
    def atm_iv(self, symbol: str, days: float = 30.0, day: date | None = None) -> float:
        """At-the-money implied vol (fraction) at ``days`` calendar days, as quoted in the session on ``day``
        (default: now): the fitted smile at that day's level, with the earnings events inside the horizon."""
        self.step()
        sym = symbol.upper()
        i = self._sess if day is None else self._sessions.index_on_or_before(day)
        start = self._sessions.dates[max(i, 0)]
        return self._vol(sym, 0.0, days / 365.0, i, (start + timedelta(days=int(days))).strftime("%Y%m%d"))

    # ---- moving volatility level and earnings (simulator/surface.py) ---------------------------------------
    def _vol(self, symbol: str, k: float, t: float, i: int, expiry: str) -> float:
        """Implied vol at log-moneyness k, t years, quoted in session i, for an expiry ("YYYYMMDD"): the smile
        at level c = :meth:`iv_scale`, c sigma(k / c) (a level change that keeps the smile's shape in
        standard deviations, so no butterfly arbitrage appears where a plain c sigma(k) would break it),
        plus the variance of the earnings dates after session i's date, up to the expiry (the term-structure
        bump), spread over the option's life."""
        t = max(t, 1e-4)
        scale = self.iv_scale(symbol, i)
        iv = self._surface[symbol].vol(k / scale, t) * scale
        events = self._earnings.get(symbol)
        if events:
            today = self._sessions.dates[max(i, 0)]
            exp = date(int(expiry[:4]), int(expiry[4:6]), int(expiry[6:8]))
            n = sum(1 for e in events if today < e <= exp)
            if n:
                iv = math.sqrt(iv * iv + n * earnings_variance(self._atm30[symbol] * scale) / t)
        return iv

    def iv_scale(self, symbol: str, i: int | None = None) -> float:
        """Level of ``symbol``'s surface in session i (default: the current one) relative to the fitted
        surface: m(i) / m(fit day), :func:`simulator.surface.level_driver` over the closes before each,
        clipped to ``LEVEL_CLIP``; 1 on the fit day (2026-02-12 for fitted smiles, the data's last day for
        generic ones)."""
        i = self._sess if i is None else i
        key = (symbol, i)
        hit = self._scale.get(key)
        if hit is None:
            ref_day = FIT_DATE if self._fitted[symbol] else str(self._under[symbol]["last_date"])
            ref = self._sessions.index_on_or_before(date.fromisoformat(ref_day))
            hit = min(max(self._level(symbol, i) / self._level(symbol, ref), LEVEL_CLIP[0]), LEVEL_CLIP[1])
            if len(self._scale) > 20000:
                self._scale.clear()
            self._scale[key] = hit
        return hit

    def _level(self, symbol: str, i: int) -> float:
        path = self._path(symbol).raw
        closes = [path.close(j) for j in range(i - LEVEL_RV_DAYS - 1, i)]
        return level_driver(closes, float(self._under[symbol]["rv252"]))

    def _earnings_jumps(self, symbol: str) -> dict[date, float]:
        """Earnings dates -> stdev of the opening jump on them (the report taken as before the open)."""
        sd = EARN_JUMP * self._atm30[symbol] / math.sqrt(252.0)
        return {d: sd for d in self._earnings.get(symbol, [])}

    def option_value(self, opt: OptionSpec, spot: float, ts: int) -> tuple[float, float]:
        """Model (price USD per share, implied vol fraction) of ``opt`` at epoch second ``ts`` had the
        underlying traded at ``spot`` then (intrinsic value from the expiry's close on)."""
        t = max(self._static(opt)[0] - ts, 0) / _YEAR_S
        qy, divs, pv = self._carry(opt.symbol, ts, t)
        k = math.log(opt.strike / (spot - pv)) - (self.rate - qy) * t
        iv = self._vol(opt.symbol, k, t, self._sessions.latest_started(ts), opt.expiry)
        if t <= 0:
            intrinsic = max(spot - opt.strike, 0.0) if opt.right == "C" else max(opt.strike - spot, 0.0)
            return intrinsic, iv
        return american_greeks(spot, opt.strike, t, iv, self.rate, qy, opt.right, divs).price, iv
