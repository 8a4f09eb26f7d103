"""Keep each process inside IB's limits, so that TWS never answers 100, 101, 162 or 322.

- **Message rate** (IB error 100 above 50 messages per second per client): ib_async's own throttle in
  ``ib_async.client.Client.sendMsg`` queues outgoing messages beyond ``MaxRequests`` per
  ``RequestsInterval`` seconds. :func:`set_message_rate` sets it explicitly from
  ``IBKR_MAX_REQUESTS_PER_SECOND`` (default 45, IB's recommended budget) in short slices (9 per 0.2 s)
  instead of the library's one 45-message burst per second: such a burst can reach TWS bunched with
  the next one by network jitter and count as more than 50 in TWS's own one-second window (seen
  against the simulator); with small slices, jitter of a slice still stays near the budget.
- **Market-data lines** (IB error 101): the account has ``IBKR_MARKET_DATA_LINES`` simultaneous lines
  (100 by default) shared by every API client. Each process gets its own :class:`LineBudget`
  (``IBKR_LINES_MONITOR`` / ``_SCANNER`` / ``_EXECUTOR``, 30/45/15 % of the lines by default, at most
  90 % together) and waits for, or is refused, a line rather than exceed it.
- **Historical data** (IB errors 162 and 322): :class:`HistoricalPacer` spaces the scanner's
  ``reqHistoricalData`` by IB's published pacing rules (no identical request within 15 s, fewer than
  6 for one contract within 2 s, at most 60 in 10 minutes, at most 50 open).

Why no rate-limit library: ib_async already throttles messages; the historical rules are several
sliding windows at once, which a single leaky bucket (aiolimiter) or token bucket does not express —
a bucket refills continuously and would allow more than 60 requests in a 10-minute window.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable

from ib_async import IB

log = logging.getLogger("shared.pacing")

#: Shortest slice in which ib_async's throttle counts messages (seconds).
MESSAGE_SLICE_SECONDS = 0.1


def message_slice(per_second: int) -> tuple[int, float]:
    """``(messages, seconds)``: the shortest slice of 0.1, 0.2, … 1.0 s that holds a whole number of
    messages at ``per_second`` (40/s → 4 per 0.1 s, 45/s → 9 per 0.2 s)."""
    if per_second < 1:
        raise ValueError(f"message rate must be at least 1 per second, got {per_second}")
    for tenths in range(1, 11):
        if per_second * tenths % 10 == 0:
            return per_second * tenths // 10, tenths * MESSAGE_SLICE_SECONDS
    raise AssertionError("unreachable: 10 tenths always divide")


def set_message_rate(ib: IB, per_second: int) -> None:
    """Make ib_async queue outgoing messages beyond ``per_second`` per second, counted in the short
    slices of :func:`message_slice` (a sliding window in ``Client.sendMsg``)."""
    count, seconds = message_slice(per_second)
    ib.client.MaxRequests = count
    ib.client.RequestsInterval = seconds  # type: ignore[assignment]  # typed int, used as float


class LineBudgetExceeded(RuntimeError):
    """More market-data lines were asked for than the process's budget allows."""


class LineBudget:
    """Simultaneous market-data lines one process may hold (``capacity``).

    A line is held from ``reqMktData`` (or a snapshot) until its cancel. :meth:`try_acquire` refuses
    at once; :meth:`acquire` / :meth:`hold` wait for lines released by others. ``peak`` is the highest
    number ever held, for the logs and the tests.
    """

    def __init__(self, capacity: int, name: str = "") -> None:
        if capacity < 1:
            raise ValueError(f"line budget of {name or 'a process'} must be at least 1, got {capacity}")
        self.capacity = capacity
        self.name = name
        self.in_use = 0
        self.peak = 0
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def free(self) -> int:
        """Lines available now."""
        return self.capacity - self.in_use

    def _take(self, n: int) -> None:
        self.in_use += n
        self.peak = max(self.peak, self.in_use)

    def try_acquire(self, n: int = 1) -> bool:
        """Take ``n`` lines if they are free now; ``False`` otherwise."""
        if n > self.free:
            return False
        self._take(n)
        return True

    async def acquire(self, n: int = 1, timeout: float | None = None) -> None:
        """Wait until ``n`` lines are free (at most ``timeout`` seconds) and take them.

        Raises :class:`LineBudgetExceeded` when ``n`` exceeds the whole budget or the wait times out.
        """
        if n > self.capacity:
            raise LineBudgetExceeded(
                f"{n} market-data lines asked for, but the {self.name} budget is {self.capacity}"
            )
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while n > self.free:
            remaining = None if deadline is None else deadline - loop.time()
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                if remaining is not None and remaining <= 0:
                    raise TimeoutError
                await asyncio.wait_for(waiter, remaining)
            except TimeoutError:
                raise LineBudgetExceeded(
                    f"no {n} free market-data lines within {timeout:.0f} s "
                    f"({self.in_use}/{self.capacity} in use by the {self.name})"
                ) from None
            finally:
                self._waiters.remove(waiter)
        self._take(n)

    def release(self, n: int = 1) -> None:
        """Give ``n`` lines back (after their ``cancelMktData``) and wake the waiters."""
        self.in_use = max(0, self.in_use - n)
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    @contextlib.asynccontextmanager
    async def hold(self, n: int = 1, timeout: float | None = None) -> AsyncIterator[None]:
        """``async with budget.hold(n):`` — lines for the body, released afterwards."""
        await self.acquire(n, timeout)
        try:
            yield
        finally:
            self.release(n)


# --- Historical data ----------------------------------------------------------------------------
#: IB: an identical historical request within 15 seconds is a pacing violation (162).
IDENTICAL_GAP_SECONDS = 15.0
#: IB: six or more requests for the same contract (and tick type) within two seconds violate pacing.
SAME_CONTRACT_MAX, SAME_CONTRACT_WINDOW_SECONDS = 5, 2.0
#: IB: more than 60 requests within any ten-minute period violate pacing.
WINDOW_MAX, WINDOW_SECONDS = 60, 600.0
#: IB: at most 50 historical requests may be open at once (322).
MAX_OPEN = 50
#: Seconds added to every gap so that network jitter cannot make TWS count a request early.
MARGIN_SECONDS = 0.5


class HistoricalPacer:
    """Spaces historical-data requests by IB's pacing rules; one per process.

    ``clock`` (monotonic seconds) and ``sleep`` are injectable for tests. Use :meth:`slot`::

        async with pacer.slot(contract_key, request_key):
            bars = await ib.reqHistoricalDataAsync(...)
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[tuple[float, Hashable, Hashable]] = deque()  # (time, contract, request)
        self._last_identical: dict[Hashable, float] = {}
        self.open = 0
        self.waited_seconds = 0.0

    def delay(self, contract: Hashable, request: Hashable) -> tuple[float, str]:
        """Seconds to wait before this request may go out, and the rule that demands it."""
        now = self._clock()
        while self._sent and now - self._sent[0][0] >= WINDOW_SECONDS + MARGIN_SECONDS:
            self._sent.popleft()
        waits: list[tuple[float, str]] = [(0.0, "")]
        last = self._last_identical.get(request)
        if last is not None:
            waits.append(
                (last + IDENTICAL_GAP_SECONDS + MARGIN_SECONDS - now, "identical request within 15 s")
            )
        span = SAME_CONTRACT_WINDOW_SECONDS + MARGIN_SECONDS
        same = [t for t, c, _ in self._sent if c == contract and now - t < span]
        if len(same) >= SAME_CONTRACT_MAX:
            waits.append(
                (
                    same[-SAME_CONTRACT_MAX] + SAME_CONTRACT_WINDOW_SECONDS + MARGIN_SECONDS - now,
                    "6 requests for one contract within 2 s",
                )
            )
        if len(self._sent) >= WINDOW_MAX:
            waits.append(
                (
                    self._sent[-WINDOW_MAX][0] + WINDOW_SECONDS + MARGIN_SECONDS - now,
                    "more than 60 requests in 10 minutes",
                )
            )
        return max(waits)

    async def wait_turn(self, contract: Hashable, request: Hashable) -> None:
        """Wait until a request may go out under every rule, then record it as sent."""
        while True:
            if self.open >= MAX_OPEN:
                await self._sleep(0.1)
                continue
            wait, rule = self.delay(contract, request)
            if wait <= 0:
                break
            log.info("historical-data pacing: waiting %.1f s (IB 162 rule: %s)", wait, rule)
            self.waited_seconds += wait
            await self._sleep(wait)
        now = self._clock()
        self._sent.append((now, contract, request))
        self._last_identical[request] = now
        if len(self._last_identical) > WINDOW_MAX:  # forget requests older than the identical-gap rule
            gap = IDENTICAL_GAP_SECONDS + MARGIN_SECONDS
            self._last_identical = {k: t for k, t in self._last_identical.items() if now - t < gap}

    @contextlib.asynccontextmanager
    async def slot(self, contract: Hashable, request: Hashable) -> AsyncIterator[None]:
        """Wait for a turn, count the request as open for the body (IB 322: at most 50 open)."""
        await self.wait_turn(contract, request)
        self.open += 1
        try:
            yield
        finally:
            self.open -= 1
