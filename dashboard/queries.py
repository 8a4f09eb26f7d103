"""Read-only queries behind the pages and the JSON API. Every function returns plain dicts.

Nothing here writes; the dashboard's only writes live in :mod:`dashboard.actions`.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from dashboard.figures import EXCHANGE_TZ, exchange_today, per_contract
from shared import schema as s
from shared.db import parse_ts, utcnow
from shared.trade import ACTIVE_INTENT_STATUSES

#: Components whose heartbeat the dashboard shows, in display order.
COMPONENTS = ("monitor", "scanner", "executor", "dashboard")
#: A heartbeat older than this many seconds means the component is down.
STALE_AFTER_SECONDS = 60.0
#: :data:`shared.trade.ACTIVE_INTENT_STATUSES` as sorted plain text, for SQL ``IN``.
ACTIVE_STATUS_VALUES: list[str] = sorted(str(status) for status in ACTIVE_INTENT_STATUSES)
#: Default and largest row count of list endpoints.
DEFAULT_LIMIT = 200
MAX_LIMIT = 1000

Row = dict[str, Any]


def _rows(conn: Connection, stmt: Any) -> list[Row]:
    return [dict(r._mapping) for r in conn.execute(stmt)]


def latest_account(engine: Engine) -> Row | None:
    """The newest ``account_snapshots`` row, or ``None`` before the monitor has written one."""
    stmt = select(s.account_snapshots).order_by(
        s.account_snapshots.c.ts.desc(), s.account_snapshots.c.id.desc()
    )
    with engine.connect() as conn:
        row = conn.execute(stmt.limit(1)).first()
    return dict(row._mapping) if row else None


def component_health(
    engine: Engine, now: datetime | None = None, *, stale_after: float = STALE_AFTER_SECONDS
) -> list[Row]:
    """One entry per component (monitor, scanner, executor, dashboard, then any other row).

    ``up`` is true when the heartbeat is at most ``stale_after`` seconds old (default
    :data:`STALE_AFTER_SECONDS`; the pages pass the watchdog's threshold,
    :func:`dashboard.system.stale_after`) and the component has not recorded a clean stop (state
    ``stopped``); a missing row is down with ``age_seconds`` ``None``.
    """
    now = now or utcnow()
    with engine.connect() as conn:
        beats = {r["component"]: r for r in _rows(conn, select(s.heartbeats))}
    names = list(COMPONENTS) + sorted(set(beats) - set(COMPONENTS))
    out = []
    for name in names:
        beat = beats.get(name)
        if beat is None:
            out.append(
                {
                    "component": name,
                    "up": False,
                    "status": "DOWN",
                    "state": "missing",
                    "client_id": None,
                    "pid": None,
                    "detail": "no heartbeat yet",
                    "started_at": None,
                    "updated_at": None,
                    "age_seconds": None,
                }
            )
            continue
        try:
            age_s: float | None = (now - parse_ts(beat["updated_at"])).total_seconds()
        except (TypeError, ValueError):
            age_s = None
        up = age_s is not None and age_s <= stale_after and beat["state"] != "stopped"
        out.append(
            beat
            | {
                "up": up,
                "status": "UP" if up else "DOWN",
                "age_seconds": None if age_s is None else round(age_s, 1),
            }
        )
    return out


def latest_scan(engine: Engine) -> Row | None:
    """The newest scan with status ``done``, or ``None``."""
    stmt = select(s.scans).where(s.scans.c.status == "done").order_by(s.scans.c.id.desc()).limit(1)
    with engine.connect() as conn:
        row = conn.execute(stmt).first()
    return dict(row._mapping) if row else None


def running_scan(engine: Engine) -> Row | None:
    """The newest scan still ``running`` (with its ``progress``), or ``None``."""
    stmt = select(s.scans).where(s.scans.c.status == "running").order_by(s.scans.c.id.desc()).limit(1)
    with engine.connect() as conn:
        row = conn.execute(stmt).first()
    return dict(row._mapping) if row else None


def scan(engine: Engine, scan_id: int) -> Row | None:
    """One scan by id, or ``None``."""
    with engine.connect() as conn:
        row = conn.execute(select(s.scans).where(s.scans.c.id == scan_id)).first()
    return dict(row._mapping) if row else None


def newest_done_scan_id(conn: Connection) -> int | None:
    """Id of the newest completed scan, inside an existing connection/transaction."""
    value = conn.execute(select(func.max(s.scans.c.id)).where(s.scans.c.status == "done")).scalar()
    return int(value) if value is not None else None


def active_intents_by_con_id(engine: Engine) -> dict[int, Row]:
    """Active intents (:data:`shared.trade.ACTIVE_INTENT_STATUSES`), keyed by contract id."""
    i = s.intents.c
    stmt = select(s.intents).where(i.status.in_(ACTIVE_STATUS_VALUES)).order_by(i.id)
    with engine.connect() as conn:
        return {r["con_id"]: r for r in _rows(conn, stmt)}


def scan_symbols(engine: Engine, scan_id: int) -> list[Row]:
    """The ``scan_symbols`` rows of ``scan_id``: per symbol and right the contracts read, candidates, the
    contracts each rule removed, the history figures (IV rank, IV/HV, next earnings, SMA200, RSI) and a
    note saying why a symbol has no candidate; symbols without a candidate first."""
    c = s.scan_symbols.c
    stmt = select(s.scan_symbols).where(c.scan_id == scan_id).order_by(c.candidates > 0, c.symbol, c.right)
    with engine.connect() as conn:
        return _rows(conn, stmt)


def opportunities(engine: Engine, scan_id: int) -> list[Row]:
    """The opportunities of ``scan_id`` by rank (CSP and CC together).

    Each row adds ``active_intent`` (a dict or ``None``) and ``premium_per_contract`` (dollars: the
    credit per share × 100).
    """
    o = s.opportunities.c
    stmt = select(s.opportunities).where(o.scan_id == scan_id).order_by(o.rank, o.id)
    with engine.connect() as conn:
        rows = _rows(conn, stmt)
    active = active_intents_by_con_id(engine)
    for row in rows:
        intent = active.get(row["con_id"])
        row["active_intent"] = (
            {"key": intent["key"], "status": intent["status"], "id": intent["id"]} if intent else None
        )
        row["premium_per_contract"] = per_contract(row["credit"])
    return rows


def intents(engine: Engine, limit: int = DEFAULT_LIMIT) -> list[Row]:
    """Newest intents first."""
    stmt = select(s.intents).order_by(s.intents.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        return _rows(conn, stmt)


def intent(engine: Engine, intent_id: int) -> Row | None:
    """One intent by id, or ``None``."""
    with engine.connect() as conn:
        row = conn.execute(select(s.intents).where(s.intents.c.id == intent_id)).first()
    return dict(row._mapping) if row else None


def orders(engine: Engine, limit: int = DEFAULT_LIMIT) -> list[Row]:
    """Newest orders first (by last update)."""
    stmt = select(s.orders).order_by(s.orders.c.updated_at.desc(), s.orders.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        return _rows(conn, stmt)


def fills(engine: Engine, limit: int = DEFAULT_LIMIT) -> list[Row]:
    """Newest executions first."""
    stmt = select(s.fills).order_by(s.fills.c.time.desc(), s.fills.c.exec_id).limit(limit)
    with engine.connect() as conn:
        return _rows(conn, stmt)


def alerts(engine: Engine, limit: int = DEFAULT_LIMIT) -> list[Row]:
    """Newest alerts first, each with ``deliveries``: one dict per channel (status, attempts, error)."""
    a = s.alerts.c
    with engine.connect() as conn:
        rows = _rows(conn, select(s.alerts).order_by(a.created_at.desc(), a.id.desc()).limit(limit))
        ids = [r["id"] for r in rows]
        by_alert: dict[int, list[Row]] = defaultdict(list)
        if ids:
            d = s.alert_deliveries.c
            stmt = (
                select(
                    d.alert_id, d.channel, d.status, d.attempts, d.last_error, d.sent_at, d.next_attempt_at
                )
                .where(d.alert_id.in_(ids))
                .order_by(d.channel)
            )
            for dv in _rows(conn, stmt):
                by_alert[dv.pop("alert_id")].append(dv)
    for row in rows:
        row["deliveries"] = by_alert.get(row["id"], [])
    return rows


def breakers(engine: Engine) -> list[Row]:
    """Circuit-breaker state of every alert channel."""
    with engine.connect() as conn:
        return _rows(conn, select(s.breakers).order_by(s.breakers.c.name))


def market_today(engine: Engine) -> date:
    """Today's date at the exchange by TWS's clock: the date (US/Eastern) of the monitor's newest ledger
    refresh (``cycles.as_of``, TWS's time, which runs ahead on the simulator's fast clock), else the
    machine's. The base of every DTE the dashboard shows."""
    with engine.connect() as conn:
        raw = conn.execute(select(func.max(s.cycles.c.as_of))).scalar()
    if raw:
        return parse_ts(raw).astimezone(EXCHANGE_TZ).date()
    return exchange_today()
