"""American pricing (simulator/american.py): never below intrinsic, never below European, sane greeks,
close to a fine CRR binomial tree with the same escrowed dividends, and wired into the market's quotes."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from simulator.american import american_greeks, american_price
from simulator.market import Market
from simulator.pricing import bsm_price

R = 0.04
SPOTS = (100.0,)
STRIKES = (40.0, 60.0, 80.0, 90.0, 100.0, 110.0, 120.0, 150.0, 200.0)
TIMES = (1 / 365, 7 / 365, 30 / 365, 0.25, 1.0, 2.0)
VOLS = (0.08, 0.25, 0.6)
DIVS = ((), ((10 / 365, 1.5),), ((20 / 365, 0.8), (111 / 365, 0.8), (202 / 365, 0.8), (293 / 365, 0.8)))


def _crr(
    s: float, k: float, t: float, v: float, right: str, divs: tuple[tuple[float, float], ...], n: int = 600
) -> float:
    """Cox-Ross-Rubinstein tree on the escrowed spot; exercise pays against the real spot (escrow + PV)."""
    dt = t / n
    u = math.exp(v * math.sqrt(dt))
    d = 1 / u
    p = (math.exp(R * dt) - d) / (u - d)
    disc = math.exp(-R * dt)

    def pv(tau: float) -> float:
        return sum(a * math.exp(-R * (ti - tau)) for ti, a in divs if tau < ti <= t)

    se = s - pv(0.0)
    sign = 1.0 if right == "C" else -1.0
    vals = [max(sign * (se * u**j * d ** (n - j) - k), 0.0) for j in range(n + 1)]
    for i in range(n - 1, -1, -1):
        add = pv(i * dt)
        vals = [
            max(disc * (p * vals[j + 1] + (1 - p) * vals[j]), sign * (se * u**j * d ** (i - j) + add - k))
            for j in range(i + 1)
        ]
    return vals[0]


@pytest.mark.parametrize("right", ["P", "C"])
@pytest.mark.parametrize("divs", DIVS, ids=["none", "one", "quarterly"])
def test_never_below_intrinsic_nor_european(right: str, divs: tuple[tuple[float, float], ...]) -> None:
    for s in SPOTS:
        for k in STRIKES:
            for t in TIMES:
                for v in VOLS:
                    live = [(ti, a) for ti, a in divs if ti <= t]
                    pv = sum(a * math.exp(-R * ti) for ti, a in live)
                    am = american_price(s, k, t, v, R, 0.0, right, live)
                    intrinsic = max(s - k, 0.0) if right == "C" else max(k - s, 0.0)
                    euro = bsm_price(s - pv, k, t, v, R, 0.0, right)
                    assert am >= intrinsic - 1e-12, (s, k, t, v, am)
                    assert am >= euro - 1e-12, (s, k, t, v, am, euro)
                    g = american_greeks(s, k, t, v, R, 0.0, right, live)
                    assert g.price >= intrinsic - 1e-12
                    assert (0.0 <= g.delta <= 1.0) if right == "C" else (-1.0 <= g.delta <= 0.0)
                    assert g.gamma >= 0.0 and g.vega >= 0.0


def test_deep_itm_put_is_worth_exercising() -> None:
    # European deep ITM puts are worth less than intrinsic (K e^{-rT} - S < K - S); American ones not
    s, k, t, v = 50.0, 100.0, 1.0, 0.2
    assert bsm_price(s, k, t, v, R, 0.0, "P") < k - s
    assert american_price(s, k, t, v, R, 0.0, "P") == pytest.approx(k - s, abs=1e-9)
    g = american_greeks(s, k, t, v, R, 0.0, "P")
    assert g.delta == pytest.approx(-1.0, abs=1e-6)


def test_dividend_call_before_ex_date_is_worth_at_least_intrinsic() -> None:
    # deep ITM call, a large dividend tomorrow: exercise today is optimal, European value < intrinsic
    s, k, t, v, divs = 100.0, 60.0, 0.25, 0.25, [(1 / 365, 3.0)]
    euro = bsm_price(s - 3.0 * math.exp(-R / 365), k, t, v, R, 0.0, "C")
    am = american_price(s, k, t, v, R, 0.0, "C", divs)
    assert euro < s - k <= am


@pytest.mark.parametrize(
    ("k", "t", "v", "right", "divs"),
    [
        (100.0, 0.5, 0.3, "P", ()),
        (130.0, 0.5, 0.3, "P", ()),
        (90.0, 1.0, 0.2, "P", ()),
        (80.0, 0.3, 0.25, "C", ((0.1, 2.0),)),
        (100.0, 1.0, 0.3, "P", ((0.2, 1.0), (0.45, 1.0), (0.7, 1.0), (0.95, 1.0))),
        (100.0, 1.0, 0.3, "C", ((0.2, 1.0), (0.45, 1.0), (0.7, 1.0), (0.95, 1.0))),
    ],
)
def test_close_to_binomial_tree(
    k: float, t: float, v: float, right: str, divs: tuple[tuple[float, float], ...]
) -> None:
    am = american_price(100.0, k, t, v, R, 0.0, right, divs)
    assert am == pytest.approx(
        _crr(100.0, k, t, v, right, divs), rel=0.025, abs=0.02
    )  # BS 1993 is a lower bound, within ~2 %


def test_greeks_match_bsm_signs_and_scale() -> None:
    g = american_greeks(100.0, 100.0, 0.25, 0.3, R, 0.0, "P")
    assert -0.6 < g.delta < -0.35 and 0.01 < g.gamma < 0.05 and 0.1 < g.vega < 0.3 and g.theta < 0


def test_market_quotes_never_below_intrinsic() -> None:
    now = datetime(2026, 11, 18, 16, 30, tzinfo=UTC)
    m = Market(clock=lambda: now)
    checked = 0
    for sym in ("SPY", "AAPL", "KO", "JPM"):
        for opt in m.find_options(sym):
            q = m.option_quote(opt)
            s = q.und_price
            intrinsic = max(s - opt.strike, 0.0) if opt.right == "C" else max(opt.strike - s, 0.0)
            assert q.model_price >= intrinsic - 1e-9, opt
            assert q.ask >= intrinsic - 1e-9, opt
            checked += 1
    assert checked > 1000
