"""What the session services (request handlers, fills, expiries, pushes, faults) need of the server.

The server (``server.py``) sits above the modules that handle its requests, so they do not import it: they
take a :class:`ServerPort` and :class:`SessionPort`, which :class:`simulator.server.SimServer` and
:class:`simulator.server.Session` satisfy structurally. Also here: the runtime settings
(:class:`ServerConfig`) and a streaming market-data line (:class:`MktSub`), which both sides use.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from .combo import Venue
from .contracts import Spec
from .protocol import MAX_SERVER_VERSION, Field, FieldReader


@dataclass
class ServerConfig:
    """Runtime settings. Intervals in seconds; cash in dollars."""

    host: str = "127.0.0.1"
    port: int = 7497
    account: str = "DU1234567"
    max_version: int = MAX_SERVER_VERSION
    cash: float = 100_000.0
    fill_delay: float = 1.0
    tick_interval: float = 1.0
    account_interval: float = 15.0
    max_tickers: int = 100
    partial_fills: float = 0.0  # probability that a fill takes only half the units (fills.py)


@dataclass
class MktSub:
    """One reqMktData line: the resolved contract, requested generic ticks and last values sent."""

    req_id: int
    spec: Spec
    generic: set[str]
    snapshot: bool
    sent: dict[tuple[str, int], float] = field(default_factory=dict)


class SessionPort(Protocol):
    """One API client connection as the handlers see it (:class:`simulator.server.Session`)."""

    version: int
    client_id: int | None
    market_data_type: int
    mkt_subs: dict[int, MktSub]
    account_subscribed: bool
    multi_subs: set[int]
    positions_subscribed: bool
    auto_open_orders: bool
    closed: bool
    writer: asyncio.StreamWriter

    @property
    def server(self) -> ServerPort:
        """The server this connection belongs to."""
        ...

    def send(self, fields: list[Field]) -> None:
        """Frame and queue one message."""
        ...

    def error(self, req_id: int, code: int, msg: str) -> None:
        """Send error(reqId, code, msg)."""
        ...

    def dispatch(self, fields: list[str]) -> None:
        """Route one request to its handler."""
        ...

    def close(self) -> None:
        """Forget the session and close its socket."""
        ...


class ServerPort(Venue, Protocol):
    """The simulator as the handlers see it (:class:`simulator.server.SimServer`): market, broker, settings
    and the connected sessions by client id."""

    @property
    def config(self) -> ServerConfig:
        """Runtime settings."""
        ...

    @property
    def sessions(self) -> Mapping[int, SessionPort]:
        """Connected sessions by client id."""
        ...


Handler = Callable[[SessionPort, FieldReader], None]
"""A request handler: the session and a reader positioned after the message id."""
