"""Full-band strike selection (scanner.preselect.band_strikes / widen_strikes) on synthetic chains: whatever
the first volatility estimate, the rounds of widening end with every strike whose streamed delta is in the
band requested, and the band's edges bracketed by a strike past each (unless the chain ends there); and
every expiry of the DTE window is kept."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, timedelta

import pytest

from scanner.preselect import DEFAULT_SKEW, Seen, band_strikes, expiries_in_window, widen_strikes
from shared.optionmath import bsm_call_delta, bsm_put_delta
from shared.strategy import CallRules, EntryRules, PutRules
from shared.trade import Right

TODAY = date(2026, 11, 20)
PUTS = PutRules()  # delta 0.15–0.30, DTE 21–45
CALLS = CallRules()  # delta 0.20–0.35


def listed(spot: float, step: float, width: float = 0.5) -> list[float]:
    """Strikes every ``step`` dollars from spot × (1 − width) to spot × (1 + width)."""
    lo = math.floor(spot * (1 - width) / step) * step
    n = int(spot * 2 * width / step) + 2
    return [round(lo + i * step, 2) for i in range(n)]


def market(spot: float, atm_iv: float, skew: float, dte: int, right: Right) -> Callable[[float], Seen]:
    """A 'true' market: BSM deltas at a skewed smile σ(K) = atm × (1 + skew × ln(spot / K))."""

    def seen(k: float) -> Seen:
        iv = max(0.05, atm_iv * (1 + skew * math.log(spot / k)))
        delta_of = bsm_put_delta if right is Right.PUT else bsm_call_delta
        return Seen(abs(delta_of(spot, k, dte / 365, iv)), iv)

    return seen


def run(
    strikes: list[float],
    spot: float,
    guess_iv: float,
    truth: Callable[[float], Seen],
    dte: int,
    rules: EntryRules,
    right: Right,
    *,
    beyond: int = 1,
    limit: int = 40,
    min_strike: float | None = None,
) -> tuple[dict[float, Seen], int]:
    """Request the first strikes, then widen until nothing more is asked (at most 10 rounds)."""
    seen: dict[float, Seen] = {}
    ask = band_strikes(
        strikes, spot, guess_iv, dte, rules, right=right, beyond=beyond, limit=limit, min_strike=min_strike
    )
    rounds = 0
    while ask and rounds < 10:
        for k in ask:
            seen[k] = truth(k)
        rounds += 1
        ask = widen_strikes(
            strikes, seen, spot, dte, rules, right=right, beyond=beyond, limit=limit, min_strike=min_strike
        )
    return seen, rounds


def assert_bracketed(
    strikes: list[float], seen: dict[float, Seen], truth: Callable[[float], Seen], rules: EntryRules
) -> None:
    in_band = {k for k in strikes if rules.delta_min <= (truth(k).abs_delta or 0) <= rules.delta_max}
    assert in_band, "the synthetic chain must have strikes in the band"
    assert in_band <= set(seen), f"missed {sorted(in_band - set(seen))}"
    deltas = [s.abs_delta or 0.0 for s in seen.values()]
    assert any(d < rules.delta_min for d in deltas), "far edge not crossed"
    assert any(d > rules.delta_max for d in deltas), "near edge not crossed"


@pytest.mark.parametrize("guess_iv", [0.08, 0.15, 0.25, 0.45, 0.90])
@pytest.mark.parametrize("skew", [0.0, 0.8, 2.0])
@pytest.mark.parametrize("dte", [21, 35, 45])
def test_put_band_bracketed_whatever_the_guess(guess_iv: float, skew: float, dte: int) -> None:
    spot = 187.3
    strikes = listed(spot, 2.5)
    truth = market(spot, 0.25, skew, dte, Right.PUT)
    seen, rounds = run(strikes, spot, guess_iv, truth, dte, PUTS, Right.PUT)
    assert_bracketed(strikes, seen, truth, PUTS)
    assert rounds <= 6


def test_good_guess_requests_the_band_plus_one_each_side_in_one_round() -> None:
    spot, dte = 100.0, 35
    strikes = listed(spot, 1.0)
    truth = market(spot, 0.30, DEFAULT_SKEW, dte, Right.PUT)  # the estimate's own smile
    seen, rounds = run(strikes, spot, 0.30, truth, dte, PUTS, Right.PUT)
    assert rounds == 1
    in_band = [k for k in strikes if PUTS.delta_min <= (truth(k).abs_delta or 0) <= PUTS.delta_max]
    assert sorted(seen) == [in_band[0] - 1.0, *in_band, in_band[-1] + 1.0]


def test_strikes_beyond_band_are_kept_past_each_edge() -> None:
    spot, dte = 100.0, 35
    strikes = listed(spot, 1.0)
    truth = market(spot, 0.30, 0.0, dte, Right.PUT)
    seen, _ = run(strikes, spot, 0.30, truth, dte, PUTS, Right.PUT, beyond=3)
    deltas = [s.abs_delta or 0 for s in seen.values()]
    assert sum(d < PUTS.delta_min for d in deltas) >= 3
    assert sum(d > PUTS.delta_max for d in deltas) >= 3


def test_band_between_two_listed_strikes_is_bracketed() -> None:
    """Wide strikes (every $10 on a $100 stock): perhaps no strike in the band, but one on each side."""
    spot, dte = 100.0, 35
    strikes = listed(spot, 10.0)
    truth = market(spot, 0.20, 0.0, dte, Right.PUT)
    seen, _ = run(strikes, spot, 0.20, truth, dte, PUTS, Right.PUT, beyond=0)
    deltas = [s.abs_delta or 0 for s in seen.values()]
    assert any(d < PUTS.delta_min for d in deltas)
    assert any(d > PUTS.delta_max for d in deltas)


def test_limit_caps_the_strikes_per_expiry() -> None:
    spot, dte = 500.0, 45
    strikes = listed(spot, 0.5)  # a dense chain: the band holds dozens of strikes
    truth = market(spot, 0.25, 1.0, dte, Right.PUT)
    seen, _ = run(strikes, spot, 0.10, truth, dte, PUTS, Right.PUT, limit=12)
    assert len(seen) <= 12


def test_chain_end_stops_the_widening() -> None:
    """The listed strikes stop inside the band: nothing more to ask, no endless rounds."""
    spot, dte = 100.0, 35
    truth = market(spot, 0.30, 0.0, dte, Right.PUT)
    strikes = [k for k in listed(spot, 1.0) if truth(k).abs_delta >= 0.2]  # type: ignore[operator]
    seen, rounds = run(strikes, spot, 0.30, truth, dte, PUTS, Right.PUT)
    assert min(seen) == min(strikes)
    assert rounds <= 3


@pytest.mark.parametrize("guess_iv", [0.10, 0.30, 0.70])
def test_call_band_bracketed(guess_iv: float) -> None:
    spot, dte = 64.2, 30
    strikes = listed(spot, 1.0)
    truth = market(spot, 0.25, -0.3, dte, Right.CALL)  # calls: smile rising to the upside
    seen, _ = run(strikes, spot, guess_iv, truth, dte, CALLS, Right.CALL)
    assert_bracketed(strikes, seen, truth, CALLS)


def test_call_floor_is_respected() -> None:
    spot, dte = 64.2, 30
    strikes = listed(spot, 1.0)
    truth = market(spot, 0.25, 0.0, dte, Right.CALL)
    seen, _ = run(strikes, spot, 0.25, truth, dte, CALLS, Right.CALL, min_strike=68.0)
    assert seen and min(seen) >= 68.0


def test_missing_greeks_do_not_loop_forever() -> None:
    spot, dte = 100.0, 35
    strikes = listed(spot, 1.0)
    seen, rounds = run(strikes, spot, 0.30, lambda k: Seen(None, None), dte, PUTS, Right.PUT, limit=20)
    assert len(seen) <= 20
    assert rounds < 10


def test_bad_inputs() -> None:
    with pytest.raises(ValueError):
        band_strikes([90.0], 0.0, 0.2, 30, PUTS)
    with pytest.raises(ValueError):
        band_strikes([90.0], 100.0, math.nan, 30, PUTS)
    assert band_strikes([], 100.0, 0.2, 30, PUTS) == []
    assert widen_strikes([90.0, 95.0], {}, 100.0, 30, PUTS) == []


def test_every_expiry_in_the_window_is_kept() -> None:
    weeklies = [(TODAY + timedelta(days=d)).strftime("%Y%m%d") for d in range(1, 120, 7)]
    got = expiries_in_window(weeklies, TODAY, PUTS)
    want = {e for e in weeklies if 21 <= (date.fromisoformat(f"{e[:4]}-{e[4:6]}-{e[6:]}") - TODAY).days <= 45}
    assert set(got) == want and len(got) == len(want) >= 3
