"""IV rank, IV/HV, SMA and Wilder RSI(14) (scanner.technicals) at their edges, checkable by hand."""

from __future__ import annotations

import math

import pytest

from scanner.technicals import IV_RANK_BARS, iv_hv_ratio, iv_rank, rsi_wilder, sma


class TestIvRank:
    def test_by_hand(self) -> None:
        # min 0.20, max 0.40, now 0.25 → 0.05 / 0.20
        assert iv_rank([0.20, 0.40, 0.30, 0.25]) == pytest.approx(0.25)

    def test_at_the_low_and_the_high(self) -> None:
        assert iv_rank([0.30, 0.40, 0.20]) == 0.0
        assert iv_rank([0.30, 0.20, 0.40]) == 1.0

    def test_only_the_last_252_bars_count(self) -> None:
        inside = [0.90] + [0.20] * (IV_RANK_BARS - 2) + [0.30]  # 252 bars: the spike counts
        assert iv_rank(inside) == pytest.approx(0.10 / 0.70)
        outside = [0.90, *inside]  # 253 bars: the older spike falls out, the newer one counts
        assert iv_rank(outside) == pytest.approx(0.10 / 0.70)
        dropped = [0.90] + [0.20] * (IV_RANK_BARS - 1) + [0.30]
        assert len(dropped) == IV_RANK_BARS + 1
        assert iv_rank(dropped) == 1.0

    def test_flat_or_short_is_undefined(self) -> None:
        assert iv_rank([0.25] * 300) is None
        assert iv_rank([0.25]) is None
        assert iv_rank([]) is None

    def test_bad_bars_are_dropped(self) -> None:
        assert iv_rank([0.20, math.nan, 0.0, -1.0, 0.40, math.inf, 0.30]) == pytest.approx(0.5)

    def test_window_must_be_two(self) -> None:
        with pytest.raises(ValueError, match="window"):
            iv_rank([0.2, 0.3], window=1)


class TestIvHv:
    def test_ratio(self) -> None:
        assert iv_hv_ratio(0.21, 0.20) == pytest.approx(1.05)

    @pytest.mark.parametrize(
        ("iv", "hv"), [(None, 0.2), (0.2, None), (0.2, 0.0), (0.2, -0.1), (math.nan, 0.2)]
    )
    def test_missing(self, iv: float | None, hv: float | None) -> None:
        assert iv_hv_ratio(iv, hv) is None


class TestSma:
    def test_last_n(self) -> None:
        assert sma([1000.0] + [float(i) for i in range(1, 201)], 200) == pytest.approx(100.5)

    def test_too_short(self) -> None:
        assert sma([1.0] * 199, 200) is None
        assert sma([2.0] * 200, 200) == 2.0


class TestRsiWilder:
    def test_needs_n_plus_one_closes(self) -> None:
        assert rsi_wilder([1.0] * 14) is None
        assert rsi_wilder([1.0] * 15) == 50.0  # never moved

    def test_only_gains_or_only_losses(self) -> None:
        assert rsi_wilder([float(i) for i in range(1, 16)]) == 100.0
        assert rsi_wilder([float(i) for i in range(15, 0, -1)]) == 0.0

    def test_first_average_is_simple(self) -> None:
        # 14 changes: 7 × +2, 7 × −1 → avg gain 1, avg loss 0.5, RS 2, RSI 66.67
        closes = [100.0]
        for i in range(14):
            closes.append(closes[-1] + (2.0 if i % 2 == 0 else -1.0))
        assert rsi_wilder(closes) == pytest.approx(100 - 100 / 3)

    def test_wilder_smoothing(self) -> None:
        closes = [100.0]
        for i in range(14):
            closes.append(closes[-1] + (2.0 if i % 2 == 0 else -1.0))
        closes.append(closes[-1] - 3.0)  # gain (1×13 + 0)/14, loss (0.5×13 + 3)/14
        gain, loss = 13 / 14, 9.5 / 14
        assert rsi_wilder(closes) == pytest.approx(100 - 100 / (1 + gain / loss))

    def test_known_series(self) -> None:
        # Wilder's example closes (StockCharts ChartSchool "RSI"): 14 changes, gains sum 3.34, losses 1.40
        closes = [44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42, 45.84, 46.08, 45.89, 46.03, 45.61]
        closes += [46.28, 46.28]
        assert rsi_wilder(closes) == pytest.approx(100 - 100 / (1 + 3.34 / 1.40))
        assert rsi_wilder(closes) == pytest.approx(70.46, abs=0.01)
