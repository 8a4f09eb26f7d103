"""The simulator's control interface: a small HTTP/JSON server on loopback that tests and demos drive.

Started with ``--control-port PORT`` (0 picks a free port); ``python -m simulator`` then prints
``thetawheel simulator: control on 127.0.0.1:<port>`` right after its listening line.

| method and path | body (JSON) | effect |
|---|---|---|
| ``GET /state`` | – | clients connected, clock, speed, positions, open orders, cash, markets … |
| ``POST /faults/drop_client`` | ``{"client_id": 10000}`` | close that client's socket abruptly |
| ``POST /faults/connectivity`` | ``{"code": 1100}`` (then 1101 or 1102) | error(-1, code) to every client |
| ``POST /faults/delay`` | ``{"seconds": 2.0, "for_seconds": 30}`` | answer every request late |
| ``POST /faults/refuse`` | ``{"for_seconds": 10}`` | close new connections at once |
| ``POST /faults/restart_window`` | ``{"for_seconds": 10}`` | drop every client, refuse connections |
| ``POST /faults/clear`` | – | end every fault |
| ``POST /clock`` | ``{"speed": 3600}`` and/or ``{"advance_to": "2026-12-18T16:30"}`` | change speed, jump |
| ``POST /market/{symbol}`` | ``{"price": 95.5}`` and/or ``{"drift": -0.5}``, or ``{"reset": true}`` | move |

``POST /market/KO`` (any listed underlying; 404 for another) moves its price on purpose
(:mod:`simulator.overrides`). ``price`` (USD, 0.01..1000000) becomes the current price now and the path
goes on from it: quotes, option prices and greeks, daily bars and the closes that settle expiries follow.
``drift`` (fraction per year, continuously compounded: -0.5 = -50 %/yr) is added to the path from now on;
a ``price`` alone keeps it; ``"drift": null`` ends it and keeps the level; ``"reset": true`` returns to the
data-driven price. With the market closed it is an after-hours move: quotes show it at once, the session's
close (and the expiries settled at it) stays, the next session opens from it. Every moved symbol appears in
the view under ``markets``, e.g. ``{"KO": {"price": 95.5, "model_price": 86.12, "drift": null, "overridden":
true, "since": "2026-12-14T15:00:00+00:00"}}`` (prices USD now, drift per year, since = the last change).

Every answer is JSON: the new ``/state`` view on success, ``{"error": "..."}`` with status 400/404 otherwise.
Times without an offset are US/Eastern. Durations are wall-clock seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import math
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .clock import parse_time
from .faults import FaultError
from .overrides import MAX_PRICE, MIN_PRICE, Move

if TYPE_CHECKING:
    from .supervisor import Supervisor

log = logging.getLogger("simulator.control")

REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 500: "Server Error"}
Body = dict[str, Any]


def _number(body: Body, key: str, default: float | None = None) -> float:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultError(f"{key!r} must be a number")
    return float(value)


def _finite(body: Body, key: str) -> float:
    value = _number(body, key)
    if not math.isfinite(value):
        raise FaultError(f"{key!r} must be a finite number")
    return value


def parse_move(body: Body) -> Move:
    """The body of ``POST /market/{symbol}`` as a :class:`Move`; FaultError (400) naming the bad field."""
    unknown = sorted(set(body) - {"price", "drift", "reset"})
    if unknown:
        raise FaultError(f"unknown field {unknown[0]!r}: give 'price', 'drift' or 'reset'")
    if not body:
        raise FaultError("give 'price' (USD) and/or 'drift' (fraction per year), or 'reset': true")
    if "reset" in body:
        if body["reset"] is not True:
            raise FaultError("'reset' must be true")
        if len(body) > 1:
            raise FaultError("'reset' cannot be combined with 'price' or 'drift'")
        return Move(reset=True)
    price = _finite(body, "price") if "price" in body else None
    if price is not None and not MIN_PRICE <= price <= MAX_PRICE:
        raise FaultError(f"'price' must be within {MIN_PRICE}..{MAX_PRICE:.0f} USD")
    drift = None if body.get("drift") is None else _finite(body, "drift")
    return Move(price, drift, set_drift="drift" in body)


class ControlServer:
    """HTTP/1.1 (one request per connection) JSON endpoints over a :class:`Supervisor`."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.sup = supervisor
        self._server: asyncio.base_events.Server | None = None
        self.routes: dict[tuple[str, str], Callable[[Body], None]] = {
            ("GET", "/state"): lambda b: None,
            ("POST", "/faults/drop_client"): lambda b: self.sup.faults.drop_client(
                int(_number(b, "client_id"))
            ),
            ("POST", "/faults/connectivity"): lambda b: self.sup.faults.connectivity(int(_number(b, "code"))),
            ("POST", "/faults/delay"): lambda b: self.sup.faults.set_delay(
                _number(b, "seconds"), _number(b, "for_seconds", 3600.0)
            ),
            ("POST", "/faults/refuse"): lambda b: self.sup.faults.refuse(_number(b, "for_seconds")),
            ("POST", "/faults/restart_window"): lambda b: self.sup.faults.restart(_number(b, "for_seconds")),
            ("POST", "/faults/clear"): lambda b: self.sup.faults.clear(),
            ("POST", "/clock"): self._clock,
        }
        #: routes whose last path segment is an argument: ``/market/KO`` → ``self._market("KO", body)``
        self.prefixed: dict[tuple[str, str], Callable[[str, Body], None]] = {
            ("POST", "/market/"): self._market,
        }

    def _market(self, symbol: str, body: Body) -> None:
        stock = self.sup.server.market.stock(symbol)
        if stock is None:
            raise FaultError(f"unknown symbol {symbol!r}", status=404)
        self.sup.move_market(stock.symbol, parse_move(body))

    def _clock(self, body: Body) -> None:
        if "speed" not in body and "advance_to" not in body:
            raise FaultError("give 'speed' and/or 'advance_to'")
        if "speed" in body:
            speed = _number(body, "speed")
            if speed <= 0:
                raise FaultError("speed must be positive")
            self.sup.set_speed(speed)
        if "advance_to" in body:
            try:
                when = parse_time(str(body["advance_to"]))
                self.sup.advance_to(when)
            except ValueError as exc:
                raise FaultError(str(exc)) from exc

    def handle(self, method: str, path: str, body: Body) -> tuple[int, Body]:
        """Run one request; returns (HTTP status, JSON body)."""
        path = path.split("?", 1)[0].rstrip("/") or "/"
        route = self.routes.get((method, path))
        known = any(p == path for _, p in self.routes)
        for (m, prefix), handler in self.prefixed.items():
            arg = urllib.parse.unquote(path[len(prefix) :]) if path.startswith(prefix) else ""
            if arg and "/" not in arg:
                known = True
                if m == method:
                    route = functools.partial(handler, arg)
        if route is None:
            return (405 if known else 404), {"error": f"no such endpoint: {method} {path}"}
        try:
            route(body)
        except FaultError as exc:
            return exc.status, {"error": str(exc)}
        except (KeyError, TypeError, ValueError) as exc:
            return 400, {"error": f"bad request: {exc}"}
        return 200, self.sup.view()

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen; returns the bound (host, port)."""
        self._server = await asyncio.start_server(self._on_connect, host, port)
        bound = self._server.sockets[0].getsockname()
        return str(bound[0]), int(bound[1])

    async def close(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        status, payload = 500, {"error": "internal error"}
        try:
            request = (await asyncio.wait_for(reader.readline(), 10)).decode("latin-1").split()
            headers: dict[str, str] = {}
            while True:
                line = (await asyncio.wait_for(reader.readline(), 10)).decode("latin-1").strip()
                if not line:
                    break
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            raw = await reader.readexactly(int(headers.get("content-length", "0") or 0))
            if len(request) < 2:
                status, payload = 400, {"error": "malformed request line"}
            else:
                try:
                    body = json.loads(raw) if raw.strip() else {}
                except json.JSONDecodeError as exc:
                    body, status, payload = None, 400, {"error": f"body is not JSON: {exc}"}
                if isinstance(body, dict):
                    status, payload = self.handle(request[0].upper(), request[1], body)
                elif body is not None:
                    status, payload = 400, {"error": "body must be a JSON object"}
        except Exception:
            log.exception("control request failed")
        data = json.dumps(payload).encode()
        head = (
            f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
        )
        with contextlib.suppress(Exception):
            writer.write(head.encode() + data)
            await writer.drain()
            writer.close()
