"""IB's pacing rules as the process applies them: the historical-data pacer (with a fake clock) and the
market-data line budget."""

from __future__ import annotations

import asyncio

import pytest

from shared.pacing import HistoricalPacer, LineBudget, LineBudgetExceeded, message_slice


class Clock:
    """Monotonic seconds that only move when the pacer sleeps."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


def _send(pacer: HistoricalPacer, clock: Clock, contract: object, request: object) -> float:
    """Send one request through the pacer; return the time it went out."""
    asyncio.run(pacer.wait_turn(contract, request))
    return clock.t


def test_identical_request_waits_15_seconds() -> None:
    clock = Clock()
    pacer = HistoricalPacer(clock=clock, sleep=clock.sleep)
    first = _send(pacer, clock, 1, ("bars", 1, "3 M"))
    second = _send(pacer, clock, 1, ("bars", 1, "3 M"))
    assert second - first > 15.0


def test_at_most_five_requests_per_contract_in_two_seconds() -> None:
    clock = Clock()
    pacer = HistoricalPacer(clock=clock, sleep=clock.sleep)
    times = [_send(pacer, clock, 7, ("bars", 7, n)) for n in range(12)]
    for i in range(len(times)):
        within = [t for t in times if 0 <= t - times[i] <= 2.0]
        assert len(within) <= 5, f"{len(within)} requests for one contract within 2 s"
    assert _send(pacer, clock, 8, ("bars", 8, 0)) == times[-1], "another contract does not wait"


def test_at_most_60_requests_in_ten_minutes() -> None:
    clock = Clock()
    pacer = HistoricalPacer(clock=clock, sleep=clock.sleep)
    times = []
    for n in range(130):
        times.append(_send(pacer, clock, n, ("bars", n)))
        clock.t += 0.5  # a request every half second, all different contracts
    for i in range(len(times)):
        assert len([t for t in times if 0 <= t - times[i] <= 600.0]) <= 60
    assert pacer.waited_seconds > 0


def test_open_requests_are_counted() -> None:
    async def main() -> int:
        pacer = HistoricalPacer()
        peak = 0

        async def one(n: int) -> None:
            nonlocal peak
            async with pacer.slot(n, n):
                peak = max(peak, pacer.open)
                await asyncio.sleep(0.01)

        await asyncio.gather(*(one(n) for n in range(5)))
        assert pacer.open == 0
        return peak

    assert asyncio.run(main()) == 5


def test_line_budget_waits_refuses_and_counts_the_peak() -> None:
    async def main() -> LineBudget:
        budget = LineBudget(3, "scanner")
        assert budget.try_acquire(2) and not budget.try_acquire(2)
        with pytest.raises(LineBudgetExceeded, match="budget is 3"):
            await budget.acquire(4)
        with pytest.raises(LineBudgetExceeded, match="within"):
            await budget.acquire(2, timeout=0.05)
        waiter = asyncio.ensure_future(budget.acquire(2, timeout=5))
        await asyncio.sleep(0.01)
        assert not waiter.done()
        budget.release(2)  # now 0 in use: the waiter gets its 2
        await waiter
        assert budget.in_use == 2
        async with budget.hold(1):
            assert budget.in_use == 3
        assert budget.in_use == 2
        return budget

    assert asyncio.run(main()).peak == 3


@pytest.mark.parametrize(
    ("per_second", "expected"),
    [(45, (9, 0.2)), (40, (4, 0.1)), (10, (1, 0.1)), (33, (33, 1.0)), (25, (5, 0.2))],
)
def test_message_slice_is_the_shortest_that_holds_whole_messages(
    per_second: int, expected: tuple[int, float]
) -> None:
    count, seconds = message_slice(per_second)
    assert (count, round(seconds, 3)) == expected
    assert count / seconds == pytest.approx(per_second)  # the rate is kept exactly, never rounded up


def test_message_slice_refuses_a_rate_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        message_slice(0)
