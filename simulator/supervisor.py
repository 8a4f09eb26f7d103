"""What the simulator does around the protocol: the clock's consequences, IB's limits, faults and state.

The server calls into one :class:`Supervisor`:

* ``on_message`` screens every client message (message rate, historical pacing, open historical requests;
  :mod:`simulator.limits`) and applies the response-delay fault;
* ``accepting`` / ``can_fill`` / ``data_flowing`` gate connections, fills (regular trading hours from the
  XNYS calendar, connectivity) and market-data streaming;
* ``tick`` (every 0.2 s of wall time) processes each session close the clock has passed (DAY orders
  cancelled, early assignment, expiries: :mod:`simulator.expiry`), forgets the executions of past days at
  midnight ET (TWS reports the current day's only) and saves the state file when something changed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import encoders as enc
from . import state as state_file
from .clock import ET, SimClock, TradingHours
from .expiry import announce, early_assignments, expire_day_orders, settle_expiries
from .faults import Faults
from .limits import ConnectionLimits
from .overrides import Move
from .protocol import In

if TYPE_CHECKING:
    from .ports import ServerPort, SessionPort

log = logging.getLogger("simulator.supervisor")

TICK_SECONDS = 0.2  # wall seconds between clock checks
CLOCK_SAVE_SECONDS = 10.0  # wall seconds between saves when only the clock moved


@dataclass
class SimOptions:
    """Behaviour switches. ``hours``: "rth" (fills only in regular trading hours) or "always"."""

    hours: str = "rth"
    limits: bool = True
    early_assignment: bool = False
    state_path: Path | None = None


class Supervisor:
    """Clock, limits, faults and persistence of one :class:`~simulator.server.SimServer`."""

    def __init__(self, server: ServerPort, clock: SimClock, options: SimOptions | None = None) -> None:
        self.server = server
        self.clock = clock
        self.options = options or SimOptions()
        self.hours = TradingHours(clock.now().date())
        self.faults = Faults(server)
        self._limits: dict[int, ConnectionLimits] = {}
        self._due: dict[int, float] = {}  # id(session) → event-loop time of its last delayed dispatch
        self._settled_upto = clock.timestamp()
        self._day = clock.now().astimezone(ET).date()
        self._saved_key: str | None = None
        self._saved_at = 0.0

    # ------------------------------------------------------------------ state file
    def restore(self, data: dict[str, Any]) -> None:
        """Load a saved account; expiries between the saved clock and now are settled at the next tick."""
        state_file.restore(self.server.broker, self.server.market, data)
        saved = datetime.fromisoformat(data["clock"]).timestamp()
        self._settled_upto = min(saved, self.clock.timestamp())
        self._forget_executions_before(self._day)
        log.info(
            "state restored: cash %.2f, %d positions, %d open orders, clock %s",
            self.server.broker.cash,
            sum(1 for p in self.server.broker.positions.values() if p.qty),
            len(self.server.broker.open_orders()),
            data["clock"],
        )

    def save(self, force: bool = False) -> None:
        """Write the state file when the account changed (or ``force``, or the clock moved a while ago)."""
        path = self.options.state_path
        if path is None:
            return
        data = state_file.snapshot(self.server.broker, self.clock, self.server.market)
        key = json.dumps({k: v for k, v in data.items() if k != "clock"}, sort_keys=True, default=str)
        now = time.monotonic()
        if force or key != self._saved_key or now - self._saved_at > CLOCK_SAVE_SECONDS:
            state_file.save(path, data)
            self._saved_key, self._saved_at = key, now

    # ------------------------------------------------------------------ server hooks
    def on_message(self, session: SessionPort, fields: list[str]) -> bool:
        """Screen one client message; True when the server should dispatch it now."""
        if session.closed:
            return False
        if self.options.limits:
            limits = self._limits.setdefault(id(session), ConnectionLimits())
            ok, errors, drop = limits.screen(fields)
            for req_id, code, text in errors:
                session.error(req_id, code, text)
            if drop:
                log.warning(
                    "client %s exceeded 50 messages/s for more than 3 s; disconnecting", session.client_id
                )
                session.close()
            if not ok:
                return False
        loop = asyncio.get_running_loop()
        pending = self._due.get(id(session), 0.0)
        delay = self.faults.delay
        if delay <= 0 and pending <= loop.time():
            return True
        due = max(loop.time() + delay, pending + 1e-4)  # strictly after the previous one: order is kept
        self._due[id(session)] = due
        historical = self._open_while_delayed(session, fields)
        loop.call_at(due, self._dispatch_late, session, fields, historical)
        return False

    def _open_while_delayed(self, session: SessionPort, fields: list[str]) -> int | None:
        """A delayed reqHistoricalData counts as an open request until it is answered."""
        if not self.options.limits or not fields or fields[0] != str(In.REQ_HISTORICAL_DATA):
            return None
        limits = self._limits.get(id(session))
        req_id = int(fields[1]) if len(fields) > 1 and fields[1].lstrip("-").isdigit() else None
        if limits is None or req_id is None or req_id in limits.historical.open:
            return None
        limits.historical.open.add(req_id)
        return req_id

    def _dispatch_late(self, session: SessionPort, fields: list[str], historical: int | None) -> None:
        if historical is not None and (limits := self._limits.get(id(session))) is not None:
            limits.historical.open.discard(historical)
        if not session.closed:
            session.dispatch(fields)

    def on_close(self, session: SessionPort) -> None:
        """Forget a closed connection's counters."""
        self._limits.pop(id(session), None)
        self._due.pop(id(session), None)

    def accepting(self) -> bool:
        """False while connections are refused (refuse fault, restart window)."""
        return self.faults.accepting()

    def market_open(self) -> bool:
        """True inside regular trading hours at the simulated time."""
        return self.hours.is_open(self.clock.timestamp())

    def can_fill(self) -> bool:
        """Orders may fill: connected to IB and (with ``hours="rth"``) inside regular trading hours."""
        if self.faults.connectivity_lost:
            return False
        return self.options.hours == "always" or self.market_open()

    def data_flowing(self) -> bool:
        """Market data streams unless connectivity to IB is lost (1100)."""
        return not self.faults.connectivity_lost

    # ------------------------------------------------------------------ the clock
    def tick(self) -> None:
        """Settle every session close passed since the last tick, roll the day, save the state."""
        now = self.clock.timestamp()
        if now > self._settled_upto:
            closes = self.hours.closes_between(self._settled_upto, now)
            self._settled_upto = now
            for day, close_ts in closes:
                self._end_of_session(day, close_ts)
        self._roll_day()
        self.save()

    def _end_of_session(self, day: date, close_ts: int) -> None:
        server = self.server
        broker, market = server.broker, server.market
        when = datetime.fromtimestamp(close_ts, UTC)
        cancelled = expire_day_orders(broker)
        settlements = []
        if self.options.early_assignment:
            following = self.hours.closes_between(close_ts, close_ts + 10 * 86400)
            if following:
                settlements += early_assignments(broker, market, day, following[0][0], when)
        settlements += settle_expiries(broker, market, day, when)
        if settlements or cancelled:
            log.info(
                "close of %s: %d DAY orders cancelled, %d option positions settled",
                day,
                len(cancelled),
                len(settlements),
            )
            announce(server, settlements, cancelled)
            self.save(force=True)

    def _roll_day(self) -> None:
        today = self.clock.now().astimezone(ET).date()
        if today != self._day:
            self._day = today
            self._forget_executions_before(today)

    def _forget_executions_before(self, day: date) -> None:
        """TWS reports the current day's executions only (``reqExecutions``)."""
        executions = self.server.broker.executions
        executions[:] = [e for e in executions if enc.to_eastern(e.time).date() >= day]

    def advance_to(self, when: datetime) -> None:
        """Jump the clock forward, settling every expiry on the way."""
        self.clock.advance_to(when)
        self.tick()

    def move_market(self, symbol: str, move: Move) -> None:
        """Move an underlying's price now (``POST /market/{symbol}``); closes already passed are settled
        first, at the prices they had. ValueError for a price out of range."""
        self.tick()
        self.server.market.move(symbol, move)
        self.save(force=True)

    def set_speed(self, speed: float) -> None:
        """Change the clock's speed (simulated seconds per wall second)."""
        self.clock.set_speed(speed)
        self.save(force=True)

    # ------------------------------------------------------------------ control view
    def view(self) -> dict[str, Any]:
        """What ``GET /state`` returns (money in USD, quantities in shares/contracts)."""
        broker = self.server.broker
        positions = [
            {
                "con_id": p.spec.con_id,
                "symbol": p.spec.symbol,
                "sec_type": enc.sec_type(p.spec),
                "local_symbol": getattr(p.spec, "local_symbol", p.spec.symbol),
                "position": p.qty,
                "avg_cost": p.avg_cost,
                "realized_pnl": p.realized_pnl,
            }
            for p in broker.positions.values()
            if abs(p.qty) > 1e-9
        ]
        orders = [
            {
                "client_id": o.client_id,
                "order_id": o.order_id,
                "perm_id": o.perm_id,
                "con_id": o.spec.con_id,
                "local_symbol": getattr(o.spec, "local_symbol", o.spec.symbol),
                "action": o.action,
                "quantity": o.quantity,
                "filled": o.filled,
                "order_type": o.order_type,
                "lmt_price": o.lmt_price,
                "tif": o.tif,
                "status": o.status,
                "order_ref": o.order_ref,
            }
            for o in broker.open_orders()
        ]
        return {
            "clients": sorted(self.server.sessions),
            "clock": self.clock.now().isoformat(),
            "speed": self.clock.speed,
            "market_open": self.market_open(),
            "positions": positions,
            "open_orders": orders,
            "cash": round(broker.cash, 2),
            "realized_pnl": round(broker.realized_pnl, 2),
            "restart_window": self.faults.restart_window,
            "connectivity_lost": self.faults.connectivity_lost,
            "delay_seconds": self.faults.delay,
            "executions": len(broker.executions),
            "markets": self._markets(),
        }

    def _markets(self) -> dict[str, dict[str, Any]]:
        """Every underlying moved by ``POST /market/{symbol}``: :meth:`simulator.overrides.Track.describe`."""
        market = self.server.market
        tracks = getattr(market, "overrides", None)  # a test market factory may have none
        if tracks is None:
            return {}
        return {
            sym: t.describe(market.spot(sym), market.model_price(sym))
            for sym, t in sorted(tracks.tracks.items())
            if t.segments
        }
