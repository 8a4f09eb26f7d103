"""What the simulator meant: an in-process twin of the subprocess's market, for exact comparisons.

The simulator subprocess runs ``Market(seed=7)``; a twin with the same seed whose clock the test sets
reproduces every quote, bar and volatility of any second. Values are compared after the same wire formatting
the simulator applies (:func:`wire`), i.e. exactly as a client decodes them. :func:`start_in_session` starts
the simulator inside a regular session (``--start``), so quotes move and orders fill whenever tests run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from simproc import Sim, start_sim

from simulator.clock import TradingHours
from simulator.market import Market
from simulator.protocol import fmt


def wire(value: Any) -> float:
    """A number as it arrives after the simulator's formatting (12 significant digits)."""
    return float(fmt(value))


class Twin:
    """``Market(seed=7)`` with a settable clock (epoch seconds).

    ``offset`` is the simulator's clock minus the wall clock (0 in real time; ``--start`` shifts it), and
    ``slack`` how much later than that it may be (the simulator anchors its clock while it starts up).
    """

    def __init__(self, seed: int = 7, offset: float = 0.0, slack: float = 0.0) -> None:
        self.offset, self.slack = offset, slack
        self.ts = time.time() + offset
        self.market = Market(seed=seed, clock=lambda: datetime.fromtimestamp(self.ts, UTC))

    def at(self, ts: float) -> Market:
        """The twin market at simulated epoch second ``ts``."""
        self.ts = float(int(ts))
        self.market.step()
        return self.market

    def now(self) -> Market:
        """The twin market at the simulator's current second."""
        return self.at(time.time() + self.offset)

    def seconds(self, start: float, end: float | None = None) -> Iterator[Market]:
        """The twin at each simulated second between wall-clock ``start`` and ``end`` (default now), widened
        by a second on each side and by ``slack``."""
        last = int((end if end is not None else time.time()) + self.offset + self.slack) + 1
        for ts in range(int(start + self.offset) - 1, last + 1):
            yield self.at(ts)

    def matches(self, start: float, predicate: Callable[[Market], bool], end: float | None = None) -> bool:
        """True when ``predicate`` holds at some second of the window (the simulator's clock ticks by the
        second; the window covers the request's round trip)."""
        return any(predicate(m) for m in self.seconds(start, end))

    def frozen(self) -> bool:
        """True outside regular trading hours, when every quote stays at the last close."""
        return not self.now().is_open()


def session_start() -> float:
    """Epoch seconds 90 minutes after the open of the latest regular session that opened before now."""
    hours = TradingHours()
    ts = time.time()
    while (session := hours.session_at(ts)) is None:
        ts -= 1800
    return session[0] + 5400.0


def start_in_session(max_version: int, *extra: str, **kwargs: Any) -> tuple[Sim, Twin]:
    """Start the simulator with its clock 90 minutes into the last session, and its twin."""
    start = session_start()
    launched = time.time()
    sim = start_sim(max_version, "--start", datetime.fromtimestamp(start, UTC).isoformat(), *extra, **kwargs)
    ready = time.time()
    return sim, Twin(offset=start - ready, slack=ready - launched)
