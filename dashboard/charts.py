"""The Overview's charts: their data read from the database, and the ``/api/v1/charts/...`` routes.

Every chart covers a range of US/Eastern calendar days (``?from=&to=``, :class:`RangeQuery`); money is in
dollars (account currency). Sources:

- net liquidation over time and daily P&L: the monitor's ``account_snapshots`` (one per refresh), read as the
  first and last snapshot of every UTC hour and thinned to the last snapshot per hour (ranges up to
  :data:`HOURLY_DAYS` days), per trading day (up to :data:`DAILY_DAYS`) or per week;
- premium by month and by symbol: the monitor's wheel ledger (``cycle_legs`` of ``cycles``), whose option
  legs carry the premium of every trade of the account in that symbol;
- collateral now: :func:`dashboard.riskview.risk_overview` (the risk gate's own readers); collateral over
  time: TWS's maintenance margin and available funds from the snapshots.

The routes are registered on :data:`dashboard.api.bp` when this module is imported (``dashboard/__init__``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from flask import Response, jsonify
from sqlalchemy import Connection, Engine, func, select, union

from dashboard import riskview
from dashboard.api import bp
from dashboard.chartmodels import (
    CollateralOut,
    DailyPnlOut,
    NetLiquidationOut,
    PremiumOut,
    RangeQuery,
)
from dashboard.errors import ActionError
from dashboard.openapi import SPEC, responses
from dashboard.queries import Row
from dashboard.state import engine, state
from shared import schema as s
from shared.db import parse_ts
from shared.marketcal import ET, trading_day
from shared.riskdata import tws_now
from shared.strategy import RiskRules
from shared.trade import LegKind

#: The default range: this many days up to today.
DEFAULT_DAYS = 90
#: The longest range a chart covers (about five years).
MAX_DAYS = 1830
#: Ranges up to this many days are drawn per hour, up to :data:`DAILY_DAYS` per day, longer ones per week:
#: at most 336, 400 and 262 points.
HOURLY_DAYS, DAILY_DAYS = 14, 400
#: Ledger legs that are an option trade with a premium: sales (credits) and buys to close (debits).
#: Expiries and assignments carry no premium; share legs none either.
PREMIUM_KINDS = (LegKind.SELL_PUT, LegKind.SELL_CALL, LegKind.BUY_PUT, LegKind.BUY_CALL)


@dataclass(frozen=True)
class DayRange:
    """US/Eastern days ``first`` … ``last`` (both included) and the UTC instants that bound them."""

    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def start_iso(self) -> str:
        """Midnight US/Eastern at the start of ``first``, as ISO-8601 UTC (compares with the ts columns)."""
        return _et_midnight_utc(self.first)

    @property
    def end_iso(self) -> str:
        """Midnight US/Eastern after ``last`` (excluded)."""
        return _et_midnight_utc(self.last + timedelta(days=1))

    @property
    def bucket(self) -> str:
        """How finely a time series over this range is drawn: ``hour``, ``day`` or ``week``."""
        if self.days <= HOURLY_DAYS:
            return "hour"
        return "day" if self.days <= DAILY_DAYS else "week"

    def as_json(self) -> Row:
        return {"from_day": self.first.isoformat(), "to_day": self.last.isoformat(), "days": self.days}


def _et_midnight_utc(day: date) -> str:
    return datetime.combine(day, time(0), tzinfo=ET).astimezone(UTC).isoformat()


def day_range(conn: Connection, first: date | None, last: date | None) -> DayRange:
    """The range asked for, with the defaults (``last`` today on TWS's clock, ``first`` ``last`` − 89 days).

    Raises :class:`ActionError` 400 naming ``from`` when it is after ``to`` or the range is longer than
    :data:`MAX_DAYS` days."""
    if last is None:
        last = date.fromisoformat(trading_day(tws_now(conn)))
    if first is None:
        first = last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise ActionError(400, f"from: {first} is after to {last}", "from")
    if (last - first).days + 1 > MAX_DAYS:
        raise ActionError(400, f"from: the range is longer than {MAX_DAYS} days", "from")
    return DayRange(first, last)


#: Recent answers of :func:`_snapshots` by (database, range, newest and oldest snapshot id): the snapshots
#: only grow at the monitor's refresh, and the three time-series charts of a page ask for the same range.
_CACHE: OrderedDict[tuple[str, str, str, int | None, int | None], list[Any]] = OrderedDict()
_CACHE_SIZE = 16
_CACHE_LOCK = threading.Lock()


def _snapshots(conn: Connection, rng: DayRange) -> list[Any]:
    """The first and the last account snapshot of every UTC hour in ``rng`` (one row when they are the
    same), oldest first: ``id, ts, net_liquidation, available_funds, maint_margin``. Read once per new
    snapshot and range (:data:`_CACHE`)."""
    a = s.account_snapshots.c
    newest, oldest = conn.execute(select(func.max(a.id), func.min(a.id))).one()
    key = (str(conn.engine.url), rng.start_iso, rng.end_iso, newest, oldest)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    rows = _read_snapshots(conn, rng)
    with _CACHE_LOCK:
        _CACHE[key] = rows
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return rows


def _read_snapshots(conn: Connection, rng: DayRange) -> list[Any]:
    a = s.account_snapshots.c
    hours = (
        select(func.min(a.id).label("first"), func.max(a.id).label("last"))
        .where(a.ts >= rng.start_iso, a.ts < rng.end_iso)
        .group_by(func.substr(a.ts, 1, 13))
        .cte("hours")
    )
    ids = union(select(hours.c.first), select(hours.c.last))
    stmt = (
        select(a.id, a.ts, a.net_liquidation, a.available_funds, a.maint_margin)
        .where(a.id.in_(ids))
        .order_by(a.ts, a.id)
    )
    return list(conn.execute(stmt))


@lru_cache(maxsize=1 << 16)
def _et_day(utc_hour: str) -> date:
    """The US/Eastern day of a UTC hour ``YYYY-MM-DDTHH`` (US/Eastern is a whole number of hours off UTC)."""
    return datetime.fromisoformat(f"{utc_hour}:00:00+00:00").astimezone(ET).date()


def _bucket_key(ts: str, bucket: str) -> str:
    if bucket == "hour":
        return ts[:13]
    day = _et_day(ts[:13])
    if bucket == "day":
        return day.isoformat()
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _last_per_bucket(rows: list[Any], bucket: str) -> list[Any]:
    """The last row of every bucket (rows oldest first)."""
    last: dict[str, Any] = {}
    for row in rows:
        last[_bucket_key(row.ts, bucket)] = row
    return list(last.values())


def net_liquidation(conn: Connection, rng: DayRange) -> Row:
    """``{"range", "bucket", "points": [{"ts", "net_liquidation_usd"}]}``: the last snapshot's net
    liquidation (dollars) of every hour, trading day or week in ``rng`` (:attr:`DayRange.bucket`)."""
    rows = [r for r in _snapshots(conn, rng) if r.net_liquidation is not None]
    points = [
        {"ts": r.ts, "net_liquidation_usd": r.net_liquidation} for r in _last_per_bucket(rows, rng.bucket)
    ]
    return {"range": rng.as_json(), "bucket": rng.bucket, "points": points}


def daily_pnl(conn: Connection, rng: DayRange) -> Row:
    """``{"range", "days": [...], "total_pnl_usd"}``: per trading day (US/Eastern) with snapshots, the
    change of net liquidation in dollars from the previous close (the last snapshot before the day, even
    one before the range) to the day's last snapshot; a day with no snapshot before it starts from its own
    first snapshot (as the monitor's ``risk_state.daily_pnl`` does). Deposits and withdrawals count as P&L:
    the snapshots do not tell them apart."""
    a = s.account_snapshots.c
    before = conn.execute(
        select(a.net_liquidation)
        .where(a.ts < rng.start_iso, a.net_liquidation.is_not(None))
        .order_by(a.ts.desc())
        .limit(1)
    ).scalar()
    by_day: dict[str, list[float]] = defaultdict(list)
    for row in _snapshots(conn, rng):
        if row.net_liquidation is not None:
            by_day[_bucket_key(row.ts, "day")].append(row.net_liquidation)
    days: list[Row] = []
    previous: float | None = before
    for day, values in by_day.items():
        start, basis = (previous, "previous_close") if previous is not None else (values[0], "day_open")
        end = values[-1]
        days.append(
            {
                "trading_day": day,
                "start_net_liquidation_usd": start,
                "end_net_liquidation_usd": end,
                "pnl_usd": round(end - start, 2),
                "start_basis": basis,
            }
        )
        previous = end
    total = round(sum(d["pnl_usd"] for d in days), 2)
    return {"range": rng.as_json(), "days": days, "total_pnl_usd": total}


def _premium_sum() -> dict[str, Any]:
    return {"credits_usd": 0.0, "debits_usd": 0.0, "net_premium_usd": 0.0, "commissions_usd": 0.0, "legs": 0}


def _add(acc: dict[str, Any], premium: float, commission: float) -> None:
    if premium >= 0:
        acc["credits_usd"] += premium
    else:
        acc["debits_usd"] -= premium
    acc["net_premium_usd"] += premium
    acc["commissions_usd"] += commission
    acc["legs"] += 1


def _rounded(acc: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in acc.items()}


def _months(rng: DayRange) -> list[str]:
    months, year, month = [], rng.first.year, rng.first.month
    while (year, month) <= (rng.last.year, rng.last.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def premium(conn: Connection, rng: DayRange) -> Row:
    """Option premium in dollars by month (US/Eastern, every month of ``rng``, zeros included) and by
    symbol (largest net first), and the total.

    Counted: the wheel ledger's option trades in ``rng`` (``cycle_legs`` of kind sell_put, sell_call —
    credits, whether a new position or a roll's new leg — and buy_put, buy_call — debits of buying to
    close, a roll's closing leg included). A leg's premium is price per share × 100 × contracts, + for a
    sale and − for a buy, as the monitor books it; ``net_premium_usd`` = credits − debits. Expiries and
    assignments add no premium; commissions are given apart (``commissions_usd``), not deducted."""
    legs, cycles = s.cycle_legs.c, s.cycles.c
    stmt = (
        select(cycles.symbol, legs.time, legs.premium, legs.commission)
        .select_from(s.cycle_legs.join(s.cycles, legs.cycle_id == cycles.id))
        .where(
            legs.kind.in_([k.value for k in PREMIUM_KINDS]),
            legs.time >= rng.start_iso,
            legs.time < rng.end_iso,
        )
        .order_by(legs.time, legs.id)
    )
    by_month = {month: _premium_sum() for month in _months(rng)}
    by_symbol: dict[str, dict[str, Any]] = defaultdict(_premium_sum)
    total = _premium_sum()
    for row in conn.execute(stmt):
        month = parse_ts(row.time).astimezone(ET).strftime("%Y-%m")
        for acc in (by_month.setdefault(month, _premium_sum()), by_symbol[row.symbol], total):
            _add(acc, row.premium or 0.0, row.commission or 0.0)
    symbols = sorted(by_symbol.items(), key=lambda kv: (-kv[1]["net_premium_usd"], kv[0]))
    return {
        "range": rng.as_json(),
        "months": [{"month": m} | _rounded(acc) for m, acc in sorted(by_month.items())],
        "symbols": [{"symbol": sym} | _rounded(acc) for sym, acc in symbols],
        "total": _rounded(total),
    }


def collateral_now(eng: Engine, rules: RiskRules) -> Row:
    """Collateral now in dollars, from :func:`dashboard.riskview.risk_overview` (see
    :class:`dashboard.chartmodels.CollateralNow`)."""
    risk = riskview.risk_overview(eng, rules)
    fig = {f["key"]: f for f in risk["figures"]}
    with eng.connect() as conn:
        a = s.account_snapshots.c
        ts = conn.execute(select(a.ts).order_by(a.id.desc()).limit(1)).scalar()
    return {
        "account_ts": ts,
        "net_liquidation_usd": risk["net_liquidation"],
        "csp_held_usd": fig["csp_held"]["dollars"],
        "csp_pending_usd": fig["csp_pending"]["dollars"],
        "csp_total_usd": fig["csp_total"]["dollars"],
        "csp_limit_usd": fig["csp_total"]["limit_dollars"],
        "csp_limit_fraction": fig["csp_total"]["limit_fraction"],
        "available_funds_usd": fig["available_funds"]["dollars"],
        "free_usd": fig["free"]["dollars"],
    }


def collateral_history(conn: Connection, rng: DayRange) -> list[Row]:
    """TWS's maintenance margin (used) and available funds (free), dollars, from the last snapshot of every
    hour, trading day or week of ``rng``."""
    return [
        {"ts": r.ts, "maint_margin_usd": r.maint_margin, "available_funds_usd": r.available_funds}
        for r in _last_per_bucket(_snapshots(conn, rng), rng.bucket)
    ]


# --- routes ---------------------------------------------------------------------------------------------


def _range(query: RangeQuery, conn: Connection) -> DayRange:
    return day_range(conn, query.from_, query.to)


@bp.get("/charts/net-liquidation")
@SPEC.validate(query=RangeQuery, resp=responses((200, NetLiquidationOut)))
def chart_net_liquidation(query: RangeQuery) -> Response:
    """Net liquidation over time (dollars): the last account snapshot per hour (ranges up to 14 days),
    per trading day (up to 400 days) or per week. ``?from=&to=`` US/Eastern days, default the last 90."""
    with engine().connect() as conn:
        return jsonify(net_liquidation(conn, _range(query, conn)))


@bp.get("/charts/daily-pnl")
@SPEC.validate(query=RangeQuery, resp=responses((200, DailyPnlOut)))
def chart_daily_pnl(query: RangeQuery) -> Response:
    """P&L per trading day (dollars): change of net liquidation from the previous close to the day's last
    snapshot (:func:`dashboard.charts.daily_pnl`). ``?from=&to=``."""
    with engine().connect() as conn:
        return jsonify(daily_pnl(conn, _range(query, conn)))


@bp.get("/charts/premium")
@SPEC.validate(query=RangeQuery, resp=responses((200, PremiumOut)))
def chart_premium(query: RangeQuery) -> Response:
    """Option premium (dollars: price per share × 100 × contracts) by month and by symbol: credits of
    sold puts and calls, debits of buys to close, net = credits − debits; commissions apart
    (:func:`dashboard.charts.premium`). ``?from=&to=``."""
    with engine().connect() as conn:
        return jsonify(premium(conn, _range(query, conn)))


@bp.get("/charts/collateral")
@SPEC.validate(query=RangeQuery, resp=responses((200, CollateralOut)))
def chart_collateral(query: RangeQuery) -> Response:
    """Collateral used vs free (dollars): ``now`` — short puts held, pending, free = available funds −
    pending, and the CSP collateral limit (the Overview's risk figures); ``history`` — TWS's maintenance
    margin and available funds per hour, trading day or week. ``?from=&to=``."""
    with engine().connect() as conn:
        rng = _range(query, conn)
        history = collateral_history(conn, rng)
    now = collateral_now(engine(), state().config.strategy.risk)
    return jsonify({"range": rng.as_json(), "bucket": rng.bucket, "now": now, "history": history})
