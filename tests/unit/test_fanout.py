"""The scanner's bounded fan-out: symbols start in order, never more than the limit at once, and the first
error stops the rest (their cleanup runs) and is raised as it is, not wrapped in an ExceptionGroup."""

from __future__ import annotations

import asyncio

import pytest

from scanner.fanout import for_each


def test_items_start_in_order_and_at_most_limit_run_at_once() -> None:
    started: list[int] = []
    running, peak = 0, 0

    async def work(i: int) -> None:
        nonlocal running, peak
        started.append(i)
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001 * (5 - i % 5))
        running -= 1

    asyncio.run(for_each(range(12), 3, work))
    assert started == list(range(12)) and peak == 3


def test_the_first_error_cancels_the_rest_after_their_cleanup() -> None:
    cleaned: list[int] = []

    async def work(i: int) -> None:
        try:
            if i == 1:
                await asyncio.sleep(0.01)
                raise ConnectionError("TWS dropped")
            await asyncio.sleep(10)
        finally:
            cleaned.append(i)

    with pytest.raises(ConnectionError, match="TWS dropped"):
        asyncio.run(asyncio.wait_for(for_each(range(5), 2, work), 5))
    assert sorted(cleaned) == [0, 1]  # item 0 was cancelled and cleaned up; 2… never started


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="limit"):
        asyncio.run(for_each([1], 0, lambda i: asyncio.sleep(0)))
