"""asyncio TCP server speaking the TWS API socket protocol: handshake, per-connection sessions, dispatch.

Market-data style requests live in ``marketdata.py``; account/order requests in ``accounts.py``. This module
owns the connection life cycle and the background loops (market data streaming, order fills, account pushes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import accounts, marketdata, pnl, reports, summary
from . import encoders as enc
from .broker import Broker
from .clock import SimClock
from .ports import Handler, MktSub, ServerConfig, SessionPort
from .protocol import (
    MIN_SERVER_VERSION,
    Field,
    FieldReader,
    In,
    encode,
    negotiate,
    parse_version_range,
    read_message,
    split_fields,
)
from .supervisor import SimOptions, Supervisor

if TYPE_CHECKING:
    from .market import Market

log = logging.getLogger("simulator.server")


class Session:
    """One API client connection (identified by its clientId once startApi arrived)."""

    def __init__(self, server: SimServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.version = 0
        self.client_id: int | None = None
        self.market_data_type = 1
        self.mkt_subs: dict[int, MktSub] = {}
        self.account_subscribed = False
        self.multi_subs: set[int] = set()
        self.positions_subscribed = False
        self.auto_open_orders = False
        self.closed = False
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"

    # ------------------------------------------------------------------ sending
    def send(self, fields: list[Field]) -> None:
        """Frame and queue one message (dropped silently once the socket is closed)."""
        if self.closed or self.writer.is_closing():
            return
        self.writer.write(encode(fields))

    def error(self, req_id: int, code: int, msg: str) -> None:
        """Send error(reqId, code, msg)."""
        self.send(enc.error(req_id, code, msg, self.version))

    # ------------------------------------------------------------------ life cycle
    async def run(self) -> None:
        """Handshake, then read and dispatch messages until the client goes away."""
        try:
            if not await self._handshake():
                return
            while True:
                payload = await read_message(self.reader)
                fields = split_fields(payload)
                if fields and self.server.supervisor.on_message(self, fields):
                    self.dispatch(fields)
                await self.writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            log.debug("client %s closed the connection", self.client_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("session %s (client %s) failed", self.peer, self.client_id)
        finally:
            self.close()

    async def _handshake(self) -> bool:
        prefix = await self.reader.readexactly(4)
        if prefix != b"API\0":
            log.warning("%s: bad handshake prefix %r", self.peer, prefix)
            return False
        text = split_fields(await read_message(self.reader))
        low, high = parse_version_range(text[0] if text else "")
        version = negotiate(low, high, self.server.config.max_version)
        if version is None:
            log.warning(
                "%s: client versions %d..%d not supported (server %d..%d)",
                self.peer,
                low,
                high,
                MIN_SERVER_VERSION,
                self.server.config.max_version,
            )
            return False
        self.version = version
        now = enc.to_eastern(self.server.market.now())
        self.send([version, now.strftime("%Y%m%d %H:%M:%S ") + (now.tzname() or "EST")])
        await self.writer.drain()
        fields = split_fields(await read_message(self.reader))
        while not fields or fields[0] != str(In.START_API):
            log.warning("%s: expected startApi, got %s", self.peer, fields[:3])
            fields = split_fields(await read_message(self.reader))
        r = FieldReader(fields, 2)
        client_id = r.integer()
        if client_id in self.server.sessions:
            log.warning("%s: client id %d already in use; refusing", self.peer, client_id)
            self.error(
                -1,
                326,
                "Unable to connect as the client id is already in use. Retry with a unique client id.",
            )
            await self.writer.drain()
            return False
        self.client_id = client_id
        self.server.sessions[client_id] = self
        log.info("client %d connected from %s at server version %d", client_id, self.peer, version)
        self.send([15, 1, self.server.broker.account])
        self.send([9, 1, self.server.broker.next_order_id(client_id)])
        self.error(-1, 2104, "Market data farm connection is OK:usfarm")
        self.error(-1, 2106, "HMDS data farm connection is OK:ushmds")
        self.error(-1, 2158, "Sec-def data farm connection is OK:secdefnj")
        await self.writer.drain()
        return True

    def close(self) -> None:
        """Forget the session and close its socket."""
        if self.closed:
            return
        self.closed = True
        self.server.supervisor.on_close(self)
        if self.client_id is not None and self.server.sessions.get(self.client_id) is self:
            del self.server.sessions[self.client_id]
            log.info("client %d disconnected", self.client_id)
        self.mkt_subs.clear()
        with contextlib.suppress(Exception):
            self.writer.close()

    # ------------------------------------------------------------------ dispatch
    def dispatch(self, fields: list[str]) -> None:
        """Route one request to its handler; unknown ids are logged and ignored."""
        try:
            msg_id = int(fields[0])
        except ValueError:
            log.warning("client %s: malformed message %s", self.client_id, fields[:4])
            return
        handler = HANDLERS.get(msg_id)
        if handler is None:
            log.info(
                "client %s: ignoring unsupported message id %d (%s)",
                self.client_id,
                msg_id,
                ",".join(fields[:6]),
            )
            return
        try:
            handler(self, FieldReader(fields, 1))
        except Exception:
            log.exception(
                "client %s: handler for message %d failed: %s", self.client_id, msg_id, ",".join(fields[:12])
            )


def _req_ids(s: SessionPort, r: FieldReader) -> None:
    assert s.client_id is not None
    s.send([9, 1, s.server.broker.next_order_id(s.client_id)])


def _req_current_time(s: SessionPort, r: FieldReader) -> None:
    s.send([49, 1, int(s.server.market.now().timestamp())])


def _req_managed_accts(s: SessionPort, r: FieldReader) -> None:
    s.send([15, 1, s.server.broker.account])


HANDLERS: dict[int, Handler] = {
    In.REQ_IDS: _req_ids,
    In.REQ_CURRENT_TIME: _req_current_time,
    In.REQ_MANAGED_ACCTS: _req_managed_accts,
    **marketdata.HANDLERS,
    **accounts.HANDLERS,
    **summary.HANDLERS,  # reqAccountSummary
    **pnl.HANDLERS,  # reqPnL, reqPnLSingle
}


class SimServer:
    """The simulator: one account, one market, any number of API client sessions."""

    def __init__(
        self,
        market: Market,
        config: ServerConfig | None = None,
        clock: SimClock | None = None,
        options: SimOptions | None = None,
    ) -> None:
        self.market = market
        self.config = config or ServerConfig()
        self.broker = Broker(self.config.account, self.config.cash, clock=market.now)
        self.sessions: dict[int, Session] = {}
        self.supervisor = Supervisor(self, clock or SimClock(), options)  # clock, limits, faults, state
        if self.supervisor.options.hours == "always" and hasattr(market, "ticks_after_hours"):
            market.ticks_after_hours = True  # the book keeps ticking outside regular hours
        self._server: asyncio.base_events.Server | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._conn_tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> tuple[str, int]:
        """Listen and start the background loops; returns the bound (host, port)."""
        self._server = await asyncio.start_server(self._on_connect, self.config.host, self.config.port)
        host, port = self._server.sockets[0].getsockname()[:2]
        self._tasks = [
            asyncio.create_task(self._loop(self.config.tick_interval, self.stream_market_data), name="md"),
            asyncio.create_task(self._loop(self.order_check_interval, self.check_orders), name="orders"),
            asyncio.create_task(self._loop(self.config.account_interval, self.push_account), name="acct"),
            asyncio.create_task(self._loop(0.2, self.supervisor.tick), name="clock"),
            asyncio.create_task(self._loop(self.config.tick_interval, lambda: pnl.stream(self)), name="pnl"),
        ]
        return host, port

    @property
    def order_check_interval(self) -> float:
        """How often resting orders are re-checked against the moving quote (seconds)."""
        return min(1.0, max(0.05, self.config.fill_delay / 2))

    async def close(self) -> None:
        """Stop listening, drop every session and stop the loops."""
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions.values()):
            session.close()
        for task in [*self._tasks, *self._conn_tasks]:
            task.cancel()
        for task in [*self._tasks, *self._conn_tasks]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        self.supervisor.save(force=True)

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._conn_tasks.add(task)
        try:
            if not self.supervisor.accepting():  # refuse fault / restart window: close at once
                writer.transport.abort()
                return
            await Session(self, reader, writer).run()
        except asyncio.CancelledError:
            # the server is closing; ending normally keeps asyncio's stream callback from logging
            # the cancellation as an error (it calls task.exception() on the connection task)
            return
        finally:
            if task is not None:
                self._conn_tasks.discard(task)

    async def _loop(self, interval: float, func: Callable[[], None]) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                func()
            except Exception:
                log.exception("background job %s failed", getattr(func, "__name__", func))

    # ------------------------------------------------------------------ jobs
    def stream_market_data(self) -> None:
        """Advance the market and send changed ticks to every streaming subscription."""
        if not self.supervisor.data_flowing() or not any(s.mkt_subs for s in self.sessions.values()):
            return
        self.market.step()
        for session in list(self.sessions.values()):
            for sub in list(session.mkt_subs.values()):
                marketdata.send_ticks(session, sub, only_changed=True)

    def check_orders(self) -> None:
        """Fill working orders that have rested ``fill_delay`` seconds and are marketable now (in regular
        trading hours unless the simulator runs with ``--hours always``)."""
        if self.supervisor.can_fill():
            accounts.check_orders(self)

    def push_account(self) -> None:
        """Periodic account/portfolio refresh to every subscribed session (TWS does it every ~3 min)."""
        reports.push_account_updates(self)
