"""Connection manager: one ib_async connection per process, with the process's client-id range.

- Picks the first free client id of the component's range (monitor 10000-10999, scanner 11000-11999,
  executor 12000-12999, from the user's wheel-system configuration); on error 326 it moves to the next.
- While TWS cannot be reached it retries with exponential backoff and jitter (tenacity), logging the
  error-code tip (502) on every attempt.
- When the connection drops it reconnects the same way and calls the ``on_connected`` callbacks so the
  process can resubscribe and resynchronise.
- Every IB error is logged once with its cause and fix (:mod:`shared.ibcodes`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ib_async import IB
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from shared.heartbeat import Heartbeat
from shared.ibcodes import is_informational, tip
from shared.settings import Settings

#: Client id range of each component (seed 003, "IBKR API Client ID Ranges").
CLIENT_ID_RANGES: dict[str, range] = {
    "monitor": range(10000, 11000),
    "scanner": range(11000, 12000),
    "executor": range(12000, 13000),
}


class ClientIdsExhausted(RuntimeError):
    """Every client id of the component's range is in use (error 326 on each)."""


class TwsUnreachable(ConnectionError):
    """TWS / IB Gateway refused or did not answer the connection (IB's 502)."""


OnConnected = Callable[[IB], Awaitable[None]]


class IBConnection:
    """Owns the process's :class:`ib_async.IB` and keeps it connected.

    ``component`` selects the client-id range. ``heartbeat`` receives the connection state and the
    client id held. Callbacks in ``on_connected`` run after every (re)connection.
    """

    def __init__(self, settings: Settings, component: str, heartbeat: Heartbeat) -> None:
        if component not in CLIENT_ID_RANGES:
            raise ValueError(f"component: {component!r} has no client-id range")
        self.settings = settings
        self.component = component
        self.id_range = CLIENT_ID_RANGES[component]
        self.heartbeat = heartbeat
        self.ib = IB()
        self.client_id: int | None = None
        self.on_connected: list[OnConnected] = []
        self.log = logging.getLogger(f"{component}.ibconn")
        self._in_use = asyncio.Event()
        self._stopping = False
        self._reconnect_task: asyncio.Task[None] | None = None
        self.ib.errorEvent += self._on_error
        self.ib.disconnectedEvent += self._on_disconnected
        logging.getLogger("ib_async.wrapper").setLevel(logging.CRITICAL)  # we log errors with tips
        logging.getLogger("ib_async.client").setLevel(logging.CRITICAL)

    # -- error and state events ---------------------------------------------------------
    def _on_error(self, req_id: int, code: int, message: str, contract: Any = None) -> None:
        if code == 326:
            self._in_use.set()
        what = f" ({contract.localSymbol or contract.symbol})" if contract is not None else ""
        line = f"IB {code}{what}: {message} | tip: {tip(code)}"
        if is_informational(code):
            self.log.info(line)
        else:
            self.log.warning(line)

    def _on_disconnected(self) -> None:
        if self._stopping:
            return
        self.log.warning(
            "disconnected from TWS at %s:%s; reconnecting", self.settings.IBKR_HOST, self.settings.IBKR_PORT
        )
        self.heartbeat.set("disconnected", "connection to TWS lost; reconnecting")
        if self._reconnect_task is None or self._reconnect_task.done():
            self._reconnect_task = asyncio.ensure_future(self._reconnect())

    async def _reconnect(self) -> None:
        try:
            await self.connect()
        except Exception:  # logged; the next disconnect event or process restart retries
            self.log.exception("reconnect failed")

    # -- connecting -----------------------------------------------------------------------
    async def _try_id(self, client_id: int) -> bool:
        """Try one client id. True when connected, False when the id is in use; raises otherwise."""
        self._in_use.clear()
        s = self.settings
        connect = asyncio.ensure_future(
            self.ib.connectAsync(
                s.IBKR_HOST,
                s.IBKR_PORT,
                clientId=client_id,
                timeout=s.IBKR_CONNECT_TIMEOUT,
                account=s.TWS_ACCOUNT,
            )
        )
        # a connection attempt abandoned at shutdown may still fail later: mark that failure as seen
        connect.add_done_callback(lambda t: t.cancelled() or t.exception())
        in_use = asyncio.ensure_future(self._in_use.wait())
        try:
            done, _ = await asyncio.wait({connect, in_use}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            pending = [t for t in (connect, in_use) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:  # let an abandoned attempt finish before we leave (no stray task at shutdown)
                await asyncio.gather(*pending, return_exceptions=True)
        if in_use in done and not (connect in done and connect.exception() is None):
            self.ib.disconnect()
            return False
        try:
            connect.result()
        except (ConnectionRefusedError, OSError, TimeoutError) as err:
            self.ib.disconnect()
            raise TwsUnreachable(f"{type(err).__name__}: {err}") from err
        return True

    async def _connect_once(self) -> None:
        for client_id in self.id_range:
            if await self._try_id(client_id):
                self.client_id = client_id
                return
            self.log.warning("client id %d is in use (IB 326); trying %d", client_id, client_id + 1)
        raise ClientIdsExhausted(f"all client ids {self.id_range.start}-{self.id_range.stop - 1} are in use")

    def _before_sleep(self, state: Any) -> None:
        err = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0
        self.log.warning(
            "cannot connect to TWS at %s:%s (%s); retrying in %.0f s | IB 502 tip: %s",
            self.settings.IBKR_HOST,
            self.settings.IBKR_PORT,
            err,
            wait,
            tip(502),
        )
        self.heartbeat.set(
            "disconnected",
            f"cannot reach TWS at {self.settings.IBKR_HOST}:{self.settings.IBKR_PORT}; retrying",
        )

    async def connect(self, max_wait: float = 60.0) -> IB:
        """Connect (waiting for TWS as long as it takes) and return the connected :class:`IB`.

        Backoff between attempts grows exponentially from 1 s up to ``max_wait`` seconds, with jitter.
        Raises :class:`ClientIdsExhausted` when the whole id range is taken.
        """
        self.heartbeat.set("connecting", f"connecting to {self.settings.IBKR_HOST}:{self.settings.IBKR_PORT}")
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(TwsUnreachable),
            wait=wait_exponential_jitter(initial=1, max=max_wait, jitter=1),
            before_sleep=self._before_sleep,
            reraise=True,
        ):
            with attempt:
                await self._connect_once()
        if self.settings.IBKR_MARKET_DATA_TYPE != 1:
            self.ib.reqMarketDataType(self.settings.IBKR_MARKET_DATA_TYPE)
        accounts = ", ".join(self.ib.managedAccounts())
        self.log.info(
            "connected to TWS %s:%s as client id %d (server version %s, account %s)",
            self.settings.IBKR_HOST,
            self.settings.IBKR_PORT,
            self.client_id,
            self.ib.client.serverVersion(),
            accounts,
        )
        self.heartbeat.set("connected", f"account {accounts}", client_id=self.client_id)
        for callback in self.on_connected:
            await callback(self.ib)
        return self.ib

    @property
    def account(self) -> str:
        """The account this process works on: TWS_ACCOUNT, else the first managed account."""
        return self.settings.TWS_ACCOUNT or (self.ib.managedAccounts() or [""])[0]

    def stopping(self) -> None:
        """The process is stopping: a lost connection is no longer re-established."""
        self._stopping = True

    async def close(self) -> None:
        """Disconnect for good: stop any reconnection under way, then close the socket."""
        self._stopping = True
        task = self._reconnect_task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self.ib.isConnected():
            self.ib.disconnect()
