"""Persist the simulated account to a JSON file (``--state FILE``) so a demo survives a simulator restart.

Saved: cash and realized P&L (USD), positions with average cost (per share for stock, per contract for
options) and realized P&L, working orders, the day's executions (with the orders they filled), the next
order ids per client, the next permId and execution sequence, and the clock (simulated time, speed, and
whether it ran in real time), and the price overrides of ``POST /market/{symbol}`` (``price_overrides``,
:mod:`simulator.overrides`; a file without them loads with none). Contracts are stored by conId and rebuilt
from the market model on load.

Writes are atomic: the JSON goes to a temporary file in the same folder, is flushed to disk, then renamed
over the old file, so a crash mid-write leaves the previous state intact.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import logging
import os
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .broker import Broker, Position, SimExecution, SimOrder
from .clock import SimClock
from .combo import BagSpec, bag_from_json

if TYPE_CHECKING:
    from .market import Market

log = logging.getLogger("simulator.state")

VERSION = 1
_ORDER_SKIP = {"spec", "placed_at"}


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _order_dict(order: SimOrder) -> dict[str, Any]:
    out: dict[str, Any] = {"con_id": order.spec.con_id}
    if isinstance(order.spec, BagSpec):  # a combo has no conId of its own to look up: keep its legs
        out["bag"] = order.spec.to_json()
    for f in dataclasses.fields(order):
        if f.name in _ORDER_SKIP:
            continue
        value = getattr(order, f.name)
        if isinstance(value, list):
            value = [list(v) if isinstance(v, tuple) else v for v in value]
        if _jsonable(value):
            out[f.name] = value
    return out


def _order_from(data: dict[str, Any], market: Market) -> SimOrder | None:
    spec: Any = (
        bag_from_json(data["bag"], market)
        if "bag" in data
        else market.contract_by_con_id(int(data["con_id"]))
    )
    if spec is None:
        log.warning(
            "state: order %s refers to unknown conId %s; dropped", data.get("order_id"), data["con_id"]
        )
        return None
    names = {f.name for f in dataclasses.fields(SimOrder)} - _ORDER_SKIP
    kwargs = {k: v for k, v in data.items() if k in names and k != "bag"}
    if "algo_params" in kwargs:
        kwargs["algo_params"] = [tuple(p) for p in kwargs["algo_params"]]
    return SimOrder(spec=spec, placed_at=time.monotonic(), **kwargs)


def _counter_peek(broker: Broker, attr: str) -> int:
    counter = getattr(broker, attr)
    value = int(next(counter))
    setattr(broker, attr, itertools.count(value))
    return value


def snapshot(broker: Broker, clock: SimClock, market: Market | None = None) -> dict[str, Any]:
    """The account, clock and (given ``market``) price overrides as a JSON-ready dict."""
    working = [o for o in broker.orders.values() if o.working]
    executions = []
    for e in broker.executions:
        executions.append(
            {
                "exec_id": e.exec_id,
                "order": _order_dict(e.order),
                "time": e.time.isoformat(),
                "side": e.side,
                "shares": e.shares,
                "price": e.price,
                "cum_qty": e.cum_qty,
                "avg_price": e.avg_price,
                "commission": e.commission,
                "realized_pnl": e.realized_pnl,
                "exchange": e.exchange,
            }
        )
    floors: dict[int, int] = dict(broker.order_id_floor)
    for cid, oid in broker.orders:
        floors[cid] = max(floors.get(cid, 0), oid)
    overrides = getattr(market, "overrides", None)  # a test market factory may have none
    return {
        "version": VERSION,
        "account": broker.account,
        "clock": clock.now().isoformat(),
        "speed": clock.speed,
        "realtime": clock.realtime,
        "cash": broker.cash,
        "realized_pnl": broker.realized_pnl,
        "positions": [
            {"con_id": p.spec.con_id, "qty": p.qty, "avg_cost": p.avg_cost, "realized_pnl": p.realized_pnl}
            for p in broker.positions.values()
            if abs(p.qty) > 1e-9 or p.realized_pnl
        ],
        "open_orders": [_order_dict(o) for o in working],
        "executions": executions,
        "next_order_ids": {str(cid): oid + 1 for cid, oid in floors.items()},
        "next_perm_id": _counter_peek(broker, "_perm_ids"),
        "exec_prefix": broker._exec_prefix,
        "next_exec_seq": _counter_peek(broker, "_exec_seq"),
        "price_overrides": overrides.to_json() if overrides is not None else {},
    }


def restore(broker: Broker, market: Market, data: dict[str, Any]) -> None:
    """Load a snapshot into a fresh broker (contracts rebuilt from ``market``) and the price overrides into
    ``market``."""
    if hasattr(market, "restore_overrides"):
        saved = data.get("price_overrides", {})
        for symbol in [s for s in saved if market.stock(s) is None]:
            log.warning("state: price override of unknown symbol %s dropped", symbol)
            del saved[symbol]
        market.restore_overrides(saved)
    broker.cash = float(data["cash"])
    broker.realized_pnl = float(data.get("realized_pnl", 0.0))
    broker.positions.clear()
    for p in data.get("positions", []):
        spec = market.contract_by_con_id(int(p["con_id"]))
        if spec is None:
            log.warning("state: position in unknown conId %s dropped", p["con_id"])
            continue
        broker.positions[spec.con_id] = Position(
            spec, float(p["qty"]), float(p["avg_cost"]), p["realized_pnl"]
        )
    broker.orders.clear()
    for od in data.get("open_orders", []):
        order = _order_from(od, market)
        if order is not None:
            broker.orders[(order.client_id, order.order_id)] = order
    broker.executions.clear()
    for ed in data.get("executions", []):
        key = (int(ed["order"]["client_id"]), int(ed["order"]["order_id"]))
        order = broker.orders.get(key) if key[1] else None
        if order is None:
            order = _order_from(ed["order"], market)
            if order is None:
                continue
            if key[1]:
                broker.orders[key] = order
        broker.executions.append(
            SimExecution(
                exec_id=ed["exec_id"],
                order=order,
                time=datetime.fromisoformat(ed["time"]),
                side=ed["side"],
                shares=float(ed["shares"]),
                price=float(ed["price"]),
                cum_qty=float(ed["cum_qty"]),
                avg_price=float(ed["avg_price"]),
                commission=float(ed["commission"]),
                realized_pnl=ed["realized_pnl"],
                exchange=ed["exchange"],
            )
        )
    broker.order_id_floor = {int(cid): int(n) - 1 for cid, n in data.get("next_order_ids", {}).items()}
    broker._perm_ids = itertools.count(int(data["next_perm_id"]))
    broker._exec_prefix = str(data["exec_prefix"])
    broker._exec_seq = itertools.count(int(data["next_exec_seq"]))


def load(path: Path) -> dict[str, Any] | None:
    """The saved snapshot, or None when the file does not exist yet."""
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    if data.get("version") != VERSION:
        raise ValueError(f"{path}: unsupported state version {data.get('version')!r}")
    return data


def save(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
