"""IB's request limits, enforced per API connection as TWS does.

* **Message rate**: more than 50 client messages per second → error 100 ("Max rate of messages per second
  has been exceeded:max=50 rec=N (1)", at most once a second) and the excess is dropped; when the client keeps
  exceeding the rate for more than 3 seconds TWS drops the connection.
* **Historical data pacing** (error 162, "Historical Market Data Service error message:Historical data
  request pacing violation"): an identical request within 15 s; 6 or more requests for the same contract,
  exchange and tick type (whatToShow) within 2 s; more than 60 requests within 10 minutes.
* **Open historical requests**: more than 50 at once (keepUpToDate subscriptions, or requests not answered
  yet) → error 322 ("Error processing request:-'wd' : cause - Only 50 simultaneous API historical data
  requests allowed.").

Times are wall-clock seconds (``time.monotonic``): IB paces in real time, whatever the simulated clock does.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from .inbound import HistReq, read_historical
from .protocol import FieldReader, In

MAX_MESSAGES_PER_SECOND = 50
SUSTAINED_SECONDS = 3.0  # over the rate for longer than this → disconnect
RATE_TEXT = "Max rate of messages per second has been exceeded:max={max} rec={rec} (1)"

PACING_TEXT = "Historical Market Data Service error message:Historical data request pacing violation"
IDENTICAL_WINDOW = 15.0  # s
SAME_CONTRACT_WINDOW, SAME_CONTRACT_MAX = 2.0, 5  # the 6th within 2 s violates
TEN_MINUTES, TEN_MINUTES_MAX = 600.0, 60
MAX_OPEN_HISTORICAL = 50
OPEN_TEXT = (
    "Error processing request:-'wd' : cause - Only 50 simultaneous API historical data requests allowed."
)

Clock = Callable[[], float]


class RateLimiter:
    """One connection's message rate: a token bucket of ``limit`` messages refilled at ``limit`` per second.

    The bucket (rather than a strict sliding window) keeps a client that paces itself at 45/s, as ib_async
    does, within the limit even when the simulator reads a backlog of its messages at once.
    """

    def __init__(self, limit: int = MAX_MESSAGES_PER_SECOND, clock: Clock = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._tokens = float(limit)
        self._last = clock()
        self._received: deque[float] = deque()  # arrival times in the last second (for the error text)
        self._over_since: float | None = None
        self._last_over = 0.0
        self._reported_at = -1.0

    def admit(self) -> tuple[bool, str | None, bool]:
        """Count one message. Returns (accepted, error-100 text to send or None, disconnect now)."""
        now = self._clock()
        self._tokens = min(float(self.limit), self._tokens + (now - self._last) * self.limit)
        self._last = now
        received = self._received
        received.append(now)
        while now - received[0] >= 1.0:
            received.popleft()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            if self._over_since is not None and now - self._last_over > 1.0:
                self._over_since = None  # a full second within the rate ends the streak
            return True, None, False
        if self._over_since is None:
            self._over_since = now
        self._last_over = now
        text = None
        if now - self._reported_at >= 1.0:
            self._reported_at = now
            text = RATE_TEXT.format(max=self.limit, rec=len(received))
        return False, text, now - self._over_since > SUSTAINED_SECONDS


def _contract_key(h: HistReq) -> tuple[object, ...]:
    c = h.contract
    return (c.con_id, c.symbol, c.sec_type, c.expiry, c.strike, c.right, c.exchange, c.local_symbol)


class HistoricalPacer:
    """IB's historical-data pacing and open-request limits for one connection."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._recent: deque[tuple[float, tuple[object, ...], tuple[object, ...]]] = deque()
        self.open: set[int] = set()  # request ids still open (keepUpToDate, or not answered yet)

    def check(self, h: HistReq) -> tuple[int, str] | None:
        """Register one reqHistoricalData; returns (code, text) when TWS would refuse it."""
        now = self._clock()
        recent = self._recent
        while recent and now - recent[0][0] > TEN_MINUTES:
            recent.popleft()
        if len(self.open) >= MAX_OPEN_HISTORICAL:
            return 322, OPEN_TEXT
        contract = (*_contract_key(h), h.what_to_show)
        identical = (*contract, h.end, h.bar_size, h.duration, h.use_rth, h.format_date, h.keep_up_to_date)
        same = sum(1 for t, c, _ in recent if c == contract and now - t <= SAME_CONTRACT_WINDOW)
        violation = (
            any(i == identical and now - t <= IDENTICAL_WINDOW for t, _, i in recent)
            or same >= SAME_CONTRACT_MAX
            or len(recent) >= TEN_MINUTES_MAX
        )
        recent.append((now, contract, identical))
        if violation:
            return 162, PACING_TEXT
        return None


class ConnectionLimits:
    """The limits of one API connection: message rate plus historical pacing."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.rate = RateLimiter(clock=clock)
        self.historical = HistoricalPacer(clock=clock)

    def screen(self, fields: list[str]) -> tuple[bool, list[tuple[int, int, str]], bool]:
        """Screen one incoming message.

        Returns (dispatch it, errors to send as (reqId, code, text), disconnect the client).
        """
        ok, text, drop = self.rate.admit()
        if not ok:
            return False, ([(-1, 100, text)] if text else []), drop
        msg_id = fields[0] if fields else ""
        if msg_id == str(In.REQ_HISTORICAL_DATA):
            h = read_historical(FieldReader(fields, 1))
            refusal = self.historical.check(h)
            if refusal is not None:
                return False, [(h.req_id, *refusal)], False
            if h.keep_up_to_date:
                self.historical.open.add(h.req_id)
        elif msg_id == str(In.CANCEL_HISTORICAL_DATA):
            r = FieldReader(fields, 1)
            r.skip(1)  # version
            self.historical.open.discard(r.integer())
        return True, [], False
