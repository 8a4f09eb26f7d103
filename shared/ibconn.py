"""Connection manager: one ib_async connection per process, kept alive, within IB's limits.

- Picks the first free client id of the component's range (monitor 10000-10999, scanner 11000-11999,
  executor 12000-12999, from the user's wheel-system configuration); on error 326 it moves to the next.
- While TWS cannot be reached it retries with exponential backoff and jitter (tenacity, 1 s doubling up
  to 60 s), logging the error-code tip (502) on every attempt, and raises one alert per outage once it
  has lasted ``IBKR_DISCONNECT_ALERT_SECONDS`` (a TWS started a moment after the service is no outage).
- Inside a TWS daily restart window (``TWS_RESTART_WINDOWS``, US Eastern) a lost connection is
  expected: one INFO line, heartbeat state ``restart-window``, quiet retries, no alert.
- After a reconnect or IB 1101 it requests every registered market-data stream again
  (:meth:`IBConnection.subscribe`), resynchronises positions, open orders and executions, and runs the
  ``on_connected`` callbacks. After 1102 (data kept) it re-requests nothing.
- A probe (``reqCurrentTime`` every ``IBKR_PROBE_INTERVAL`` s, ``IBKR_PROBE_TIMEOUT`` s to answer)
  catches a half-dead socket and treats it as a disconnect.
- The heartbeat carries the state: connecting | connected | degraded (a data farm broken, or TWS lost
  IB: 1100) | restart-window | disconnected, and the client id held.
- Every IB error is logged once with its cause and fix (:mod:`shared.ibcodes`): ``… | tip: …``.
- Pacing (:mod:`shared.pacing`): ib_async's message throttle set to ``IBKR_MAX_REQUESTS_PER_SECOND``,
  the process's market-data line budget (:attr:`IBConnection.lines`) and historical-data pacer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from ib_async import IB, Contract, Ticker
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from shared.heartbeat import Heartbeat
from shared.ibcodes import is_informational, tip
from shared.ibhandshake import TwsUnreachable, try_client_id
from shared.ibstate import LINK_LOST, LINK_RESTORED_DATA_LOST, FarmStatus, Subscriptions
from shared.pacing import HistoricalPacer, LineBudget, set_message_rate
from shared.settings import Settings
from shared.twswindows import RestartWindow, window_at

#: Client id range of each component (seed 003, "IBKR API Client ID Ranges").
CLIENT_ID_RANGES: dict[str, range] = {
    "monitor": range(10000, 11000),
    "scanner": range(11000, 12000),
    "executor": range(12000, 13000),
}
#: Longest wait between two connection attempts (seconds).
MAX_BACKOFF_SECONDS = 60.0
DRAIN_SECONDS = 3.0  # at close, how long queued messages (cancels) may take to leave the throttle


class ClientIdsExhausted(RuntimeError):
    """Every client id of the component's range is in use (error 326 on each)."""


OnConnected = Callable[[IB], Awaitable[None]]
#: ``alarm(title, body)``: raise an alert (the component routes it to the outbox).
Alarm = Callable[[str, str], None]


class IBConnection:
    """Owns the process's :class:`ib_async.IB` and keeps it connected.

    ``component`` selects the client-id range and the line budget. ``heartbeat`` receives the state and
    the client id held. Callbacks in ``on_connected`` run after every (re)connection and after 1101.
    ``now`` (aware datetime) decides whether a restart window is on; ``alarm`` is called once per
    outage outside a restart window.
    """

    def __init__(
        self,
        settings: Settings,
        component: str,
        heartbeat: Heartbeat,
        *,
        now: Callable[[], datetime] | None = None,
        alarm: Alarm | None = None,
    ) -> None:
        if component not in CLIENT_ID_RANGES:
            raise ValueError(f"component: {component!r} has no client-id range")
        self.settings = settings
        self.component = component
        self.id_range = CLIENT_ID_RANGES[component]
        self.heartbeat = heartbeat
        self.ib = IB()
        set_message_rate(self.ib, settings.IBKR_MAX_REQUESTS_PER_SECOND)
        self.client_id: int | None = None
        self.state = "disconnected"
        self.on_connected: list[OnConnected] = []
        self.lines = LineBudget(settings.market_data_lines(component), component)
        self.historical = HistoricalPacer()
        self.status = FarmStatus()
        self.streams = Subscriptions(self.ib, self.lines)
        self.windows = settings.restart_windows
        self.reconnects = 0
        self.log = logging.getLogger(f"{component}.ibconn")
        self._now = now or (lambda: datetime.now(UTC))
        self._alarm = alarm
        self._alarmed = False
        self._down_since: float | None = None  # loop time of the first failed attempt outside a window
        self._announced: RestartWindow | None = None
        self._lost = asyncio.Event()
        self._stopping = False
        self._establishing = False
        self._supervisor: asyncio.Task[None] | None = None
        self._restore: asyncio.Task[None] | None = None
        self._time_req: asyncio.Future[datetime] | None = None
        self._req_locks: dict[str, asyncio.Lock] = {}
        self.ib.errorEvent += self._on_error
        self.ib.disconnectedEvent += self._on_disconnected
        logging.getLogger("ib_async.wrapper").setLevel(logging.CRITICAL)  # we log errors with tips
        logging.getLogger("ib_async.client").setLevel(logging.CRITICAL)
        logging.getLogger("ib_async.ib").setLevel(logging.CRITICAL)  # its time-outs: our 502 line says it

    # -- state ----------------------------------------------------------------------------
    def _publish(self, state: str, detail: str) -> None:
        self.state = state
        held = self.client_id if state in ("connected", "degraded") else None
        self.heartbeat.set(state, detail, client_id=held)

    def _refresh_state(self) -> None:
        """connected or degraded, from the farms and the TWS ↔ IB link (only while connected)."""
        if not self.ib.isConnected() or self._establishing:
            return
        reason = self.status.degraded_reason()
        state, detail = ("degraded", reason) if reason else ("connected", f"account {self.account}")
        if state != self.state or detail != self.heartbeat.detail:
            self._publish(state, detail)

    def window(self) -> RestartWindow | None:
        """The TWS restart window we are in now, or ``None``."""
        return window_at(self.windows, self._now())

    def _announce(self, window: RestartWindow) -> None:
        """Inside a restart window: say so once, publish ``restart-window``, alarm nobody."""
        if self._announced != window:
            self.log.info("inside the TWS daily restart window %s; waiting quietly", window.label)
            self._announced = window
        if self.state != "restart-window":
            self._publish("restart-window", f"TWS daily restart window {window.label}; waiting quietly")

    # -- IB events -------------------------------------------------------------------------
    def _on_error(self, req_id: int, code: int, message: str, contract: Any = None) -> None:
        what = f" ({contract.localSymbol or contract.symbol})" if contract is not None else ""
        line = f"IB {code}{what}: {message} | tip: {tip(code)}"
        quiet = code == LINK_LOST and self.window() is not None
        if is_informational(code) or quiet:
            self.log.info(line)
        else:
            self.log.warning(line)
        if self.status.update(code, message):
            if code == LINK_RESTORED_DATA_LOST and not self._establishing:
                self._start_restore()
            self._refresh_state()

    def _on_disconnected(self) -> None:
        if self._stopping or self._establishing:
            return
        self._lost_connection("the connection to TWS was lost")

    def _lost_connection(self, reason: str) -> None:
        window = self.window()
        if window is not None:
            self._announce(window)
        else:
            self.log.warning(
                "%s (%s:%s); reconnecting | IB 504 tip: %s",
                reason,
                self.settings.IBKR_HOST,
                self.settings.IBKR_PORT,
                tip(504),
            )
            self._publish("disconnected", f"{reason}; reconnecting")
        self._time_req = None
        self._lost.set()

    # -- connecting -----------------------------------------------------------------------
    async def _connect_once(self) -> None:
        for client_id in self.id_range:
            self.status.reset()
            if await try_client_id(self.ib, self.settings, client_id):
                self.client_id = client_id
                return
            self.log.warning("client id %d is in use (IB 326); trying %d", client_id, client_id + 1)
        raise ClientIdsExhausted(f"all client ids {self.id_range.start}-{self.id_range.stop - 1} are in use")

    def _before_sleep(self, state: Any) -> None:
        err = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0
        window = self.window()
        if window is not None:
            self._announce(window)
            self._down_since = None  # the outage clock starts when the window ends
            self.log.debug("TWS not back yet (%s); next attempt in %.0f s", err, wait)
            return
        where = f"{self.settings.IBKR_HOST}:{self.settings.IBKR_PORT}"
        self.log.warning(
            "cannot connect to TWS at %s (%s); retrying in %.0f s | IB 502 tip: %s",
            where,
            err,
            wait,
            tip(502),
        )
        self._publish("disconnected", f"cannot reach TWS at {where}; retrying")
        now = asyncio.get_running_loop().time()
        if self._down_since is None:
            self._down_since = now
        down = now - self._down_since
        if (
            self._alarm is not None
            and not self._alarmed
            and down >= self.settings.IBKR_DISCONNECT_ALERT_SECONDS
        ):
            self._alarmed = True
            self._alarm(
                f"{self.component} cannot reach TWS",
                f"The {self.component} has not reached TWS / IB Gateway at {where} for {down:.0f} s "
                f"({err}). It keeps retrying with backoff.\nIB 502: {tip(502)}",
            )

    async def _establish(self) -> None:
        """Connect with backoff until it works (or the id range is exhausted)."""
        self._establishing = True
        try:
            if self.window() is None:
                where = f"{self.settings.IBKR_HOST}:{self.settings.IBKR_PORT}"
                self._publish("connecting", f"connecting to {where}")
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(TwsUnreachable),
                wait=wait_exponential_jitter(initial=1, max=MAX_BACKOFF_SECONDS, jitter=1),
                before_sleep=self._before_sleep,
                reraise=True,
            ):
                with attempt:
                    await self._connect_once()
        finally:
            self._establishing = False

    async def _established(self, reconnect: bool) -> None:
        """Announce the connection, then restore streams and state and run the callbacks."""
        self._alarmed = False
        self._down_since = None
        self._announced = None
        self._lost.clear()
        if self.settings.IBKR_MARKET_DATA_TYPE != 1:
            self.ib.reqMarketDataType(self.settings.IBKR_MARKET_DATA_TYPE)
        self.log.info(
            "%s TWS %s:%s as client id %d (server version %s, account %s)",
            "reconnected to" if reconnect else "connected to",
            self.settings.IBKR_HOST,
            self.settings.IBKR_PORT,
            self.client_id,
            self.ib.client.serverVersion(),
            ", ".join(self.ib.managedAccounts()),
        )
        self.state = "connecting"
        self._refresh_state()
        if reconnect:
            self.reconnects += 1
            await self._restore_session(same_session=False)
        else:
            await self._run_callbacks()

    async def connect(self) -> IB:
        """Connect (waiting for TWS as long as it takes), start the supervisor, return the :class:`IB`.

        Raises :class:`ClientIdsExhausted` when the whole id range is taken.
        """
        await self._establish()
        await self._established(reconnect=False)
        if self._supervisor is None or self._supervisor.done():
            self._supervisor = asyncio.ensure_future(self._supervise())
        return self.ib

    # -- keeping it alive -----------------------------------------------------------------
    async def _supervise(self) -> None:
        """Probe the connection every ``IBKR_PROBE_INTERVAL`` s; reconnect when it is lost or dead."""
        while not self._stopping:
            try:
                await asyncio.wait_for(self._lost.wait(), self.settings.IBKR_PROBE_INTERVAL)
            except TimeoutError:
                if await self._probe():
                    continue
            if self._stopping:
                return
            try:
                await self._establish()
                await self._established(reconnect=True)
            except ClientIdsExhausted as err:
                self.log.error("%s | IB 326 tip: %s", err, tip(326))
                self._publish("disconnected", str(err))
                await asyncio.sleep(MAX_BACKOFF_SECONDS)
                self._lost.set()

    async def _probe(self) -> bool:
        """``True`` when TWS answers ``reqCurrentTime`` in time; otherwise drop the connection."""
        if not self.ib.isConnected():
            self._lost_connection("the connection to TWS is closed")
            return False
        timeout = self.settings.IBKR_PROBE_TIMEOUT
        with contextlib.suppress(TimeoutError, ConnectionError):
            async with asyncio.timeout(timeout):
                await self.current_time()
            return True
        self._establishing = True  # our own disconnect below is not news
        try:
            self.ib.wrapper.connectionClosed()  # fail every pending request, so nothing waits forever
            self.ib.disconnect()
        finally:
            self._establishing = False
        self._lost_connection(f"TWS did not answer a probe within {timeout:g} s (half-dead connection)")
        return False

    async def _one_at_a_time(self, name: str, request: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``request()`` with a timeout, never beside another request of the same ``name``: ib_async keys
        open-orders, completed-orders and positions requests by name, so a second one issued while the first
        is pending orphans the first (it never completes, not even after a disconnect)."""
        lock = self._req_locks.setdefault(name, asyncio.Lock())
        async with lock, asyncio.timeout(self.settings.IBKR_CONNECT_TIMEOUT * 3):
            return await request()

    async def open_orders(self) -> list[Any]:
        """``reqAllOpenOrders``: the open orders of every client (one request at a time; TimeoutError)."""
        return list(await self._one_at_a_time("openOrders", self.ib.reqAllOpenOrdersAsync))

    async def completed_orders(self) -> list[Any]:
        """``reqCompletedOrders``: the day's completed orders (one request at a time; TimeoutError)."""
        return list(
            await self._one_at_a_time("completedOrders", lambda: self.ib.reqCompletedOrdersAsync(False))
        )

    async def positions(self) -> list[Any]:
        """``reqPositions`` (one request at a time; TimeoutError)."""
        return list(await self._one_at_a_time("positions", self.ib.reqPositionsAsync))

    async def executions(self) -> list[Any]:
        """``reqExecutions``: the day's executions (TimeoutError after the usual wait)."""
        return list(await self._one_at_a_time("executions", self.ib.reqExecutionsAsync))

    async def current_time(self) -> datetime:
        """TWS's clock (``reqCurrentTime``); concurrent callers share one request (ib_async keys it)."""
        if self._time_req is None or self._time_req.done():
            self._time_req = asyncio.ensure_future(self.ib.reqCurrentTimeAsync())
            self._time_req.add_done_callback(lambda f: f.cancelled() or f.exception())
        return await asyncio.shield(self._time_req)

    def _start_restore(self) -> None:
        if self._restore is None or self._restore.done():
            self._restore = asyncio.ensure_future(self._restore_session(same_session=True))

    async def _restore_session(self, same_session: bool) -> None:
        """After 1101 (``same_session``) or a reconnect: streams, account, positions, orders, executions."""
        try:
            count = self.streams.request_all(same_session)
            timeout = self.settings.IBKR_CONNECT_TIMEOUT * 3
            if same_session and self.account:
                async with asyncio.timeout(timeout):
                    await self.ib.reqAccountUpdatesAsync(self.account)
            await self.positions()
            await self.open_orders()
            await self.executions()
            self.log.info(
                "%s: %d market-data streams requested again; positions, orders and executions resynchronised",
                "after IB 1101 (data lost)" if same_session else "after the reconnect",
                count,
            )
        except (ConnectionError, TimeoutError) as err:
            self.log.warning(
                "resynchronisation interrupted (%s); it runs again after the next reconnect", err
            )
            return
        await self._run_callbacks()

    async def _run_callbacks(self) -> None:
        for callback in self.on_connected:
            try:
                await callback(self.ib)
            except (ConnectionError, TimeoutError) as err:
                self.log.warning("%s interrupted by the connection (%s)", callback.__name__, err)
            except Exception:
                self.log.exception("%s failed after the connection", getattr(callback, "__name__", callback))

    # -- market data ----------------------------------------------------------------------
    def subscribe(self, contract: Contract, generic_ticks: str = "") -> Ticker:
        """Stream ``contract``, remembered across 1101 and reconnects; see :class:`Subscriptions`."""
        return self.streams.subscribe(contract, generic_ticks)

    def unsubscribe(self, contract: Contract) -> None:
        """Stop a stream started with :meth:`subscribe` and free its line."""
        self.streams.unsubscribe(contract)

    def ticker(self, contract: Contract) -> Ticker | None:
        """The current ticker of a stream started with :meth:`subscribe` (new after a reconnect)."""
        return self.streams.ticker(contract)

    # -- misc -----------------------------------------------------------------------------
    @property
    def account(self) -> str:
        """The account this process works on: TWS_ACCOUNT, else the first managed account."""
        return self.settings.TWS_ACCOUNT or (self.ib.managedAccounts() or [""])[0]

    async def _drain_outgoing(self, timeout: float) -> None:
        """Wait (at most ``timeout`` seconds) until ib_async's throttle has sent every queued message.

        ``Client.sendMsg`` holds messages beyond the rate limit in ``_msgQ`` and sends them later; a
        disconnect drops them, so the cancels a stopping scan just issued would never reach TWS and its
        market-data lines would stay open there.
        """
        queue = getattr(self.ib.client, "_msgQ", None)
        if not queue:
            return
        deadline = time.monotonic() + timeout
        while queue and self.ib.isConnected() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    def stopping(self) -> None:
        """The process is stopping: a lost connection is no longer re-established."""
        self._stopping = True

    async def close(self) -> None:
        """Disconnect for good: stop the supervisor and any restore under way, then close the socket."""
        self._stopping = True
        for task in (self._supervisor, self._restore):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        if self.ib.isConnected():
            self.streams.clear()
            await self._drain_outgoing(DRAIN_SECONDS)
            try:
                self.ib.disconnect()
            except OSError as err:  # TWS closed its end first (both stopping at once): nothing left to close
                self.log.info("TWS had already closed the connection (%s)", err.strerror or err)
