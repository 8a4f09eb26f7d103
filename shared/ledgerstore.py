"""The ledger's database side: the ``executions`` table in and out, and the ``cycles`` / ``cycle_legs``
tables written from :func:`shared.ledger.build_ledger`. The monitor is the only writer; ``thetawheel
ledger rebuild`` runs the same code with the service stopped or running.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from shared.db import insert_new, parse_ts, utcnow, utcnow_iso
from shared.ledger import LedgerError, LedgerState, build_ledger
from shared.schema import cycle_legs, cycles, executions, fills, intent_legs, intents
from shared.trade import Cycle, Execution, ExecutionSource, Right, Side


def execution_from_row(row: Any) -> Execution:
    """An :class:`Execution` from an ``executions`` row; :class:`LedgerError` names a bad column."""
    m = row._mapping if hasattr(row, "_mapping") else row
    try:
        source = ExecutionSource(m["source"])
        side = Side(m["side"])
        right = Right(m["right"]) if m["right"] else None
    except ValueError as err:
        raise LedgerError(f"execution {m['exec_id']}: {err}") from None
    return Execution(
        exec_id=m["exec_id"],
        source=source,
        time=m["time"],
        symbol=m["symbol"],
        sec_type=m["sec_type"],
        con_id=int(m["con_id"]),
        local_symbol=m["local_symbol"],
        side=side,
        quantity=float(m["quantity"]),
        price=float(m["price"]),
        multiplier=int(m["multiplier"] or 1),
        expiry=m["expiry"],
        strike=m["strike"],
        right=right,
        commission=m["commission"],
        order_ref=m["order_ref"] or "",
        order_id=int(m["order_id"] or 0),
        perm_id=int(m["perm_id"] or 0),
    )


def load_executions(conn: Connection) -> list[Execution]:
    """Every stored execution (raises :class:`LedgerError` on a row it cannot read)."""
    return [execution_from_row(r) for r in conn.execute(select(executions))]


def record_executions(
    engine: Engine, execs: Iterable[Execution], account: str = "", client_id: int = 0
) -> int:
    """Store executions once per execId; a commission that arrived later fills in a NULL one.

    Returns how many were new."""
    new = 0
    now = utcnow_iso()
    with engine.begin() as conn:
        for e in execs:
            values = {
                "exec_id": e.exec_id,
                "source": e.source.value,
                "account": account,
                "time": e.time,
                "symbol": e.symbol,
                "sec_type": e.sec_type,
                "con_id": e.con_id,
                "local_symbol": e.local_symbol,
                "expiry": e.expiry,
                "strike": e.strike,
                "right": e.right.value if e.right else None,
                "multiplier": e.multiplier,
                "side": e.side.value,
                "quantity": e.quantity,
                "price": e.price,
                "commission": e.commission,
                "order_ref": e.order_ref,
                "order_id": e.order_id,
                "perm_id": e.perm_id,
                "client_id": client_id,
                "recorded_at": now,
            }
            if insert_new(conn, executions, values, key=("exec_id",)):
                new += 1
            elif e.commission is not None:
                record_commission(conn, e.exec_id, e.commission)
    return new


def record_commission(conn: Connection, exec_id: str, commission: float) -> bool:
    """Attach a commission (dollars) to a stored execution that has none; True when one was written."""
    stmt = (
        update(executions)
        .where(executions.c.exec_id == exec_id, executions.c.commission.is_(None))
        .values(commission=commission)
    )
    return bool(conn.execute(stmt).rowcount)


def import_fills(engine: Engine) -> int:
    """Copy the executor's recorded fills (``fills``, with their intents' contracts) that the monitor has
    not stored yet — fills of earlier days that TWS no longer reports — and their commissions where the
    stored execution has none yet. Returns how many were copied.

    A fill is described by its intent's contract, or for a combo (a roll: ``intents.sec_type`` BAG) by the
    intent leg of the same conId, so each leg is booked as the option it is."""
    f, i, leg = fills.c, intents.c, intent_legs.c
    own = (i.con_id == f.con_id) & (i.sec_type != "BAG")
    with engine.connect() as conn:
        known = set(conn.execute(select(executions.c.exec_id)).scalars())
        rows = conn.execute(
            select(
                f.exec_id, f.time, f.symbol, f.con_id, f.local_symbol, f.side, f.quantity, f.price,
                f.commission, f.intent_key, f.order_id, f.perm_id,
                func.coalesce(leg.sec_type, i.sec_type).label("sec_type"),
                func.coalesce(leg.expiry, i.expiry).label("expiry"),
                func.coalesce(leg.strike, i.strike).label("strike"),
                func.coalesce(leg.right, i.right).label("right"),
            )
            .join(intents, i.key == f.intent_key)
            .outerjoin(intent_legs, (leg.intent_key == f.intent_key) & (leg.con_id == f.con_id))
            .where(own | leg.id.is_not(None))
        ).all()  # fmt: skip
    out = []
    for r in rows:
        if r.exec_id in known and r.commission is None:
            continue
        out.append(
            Execution(
                exec_id=r.exec_id,
                source=ExecutionSource.TWS,
                time=r.time,
                symbol=r.symbol,
                sec_type=r.sec_type,
                con_id=r.con_id,
                local_symbol=r.local_symbol,
                side=Side(r.side),
                quantity=r.quantity,
                price=r.price,
                multiplier=100 if r.sec_type == "OPT" else 1,
                expiry=r.expiry,
                strike=r.strike,
                right=Right(r.right) if r.right else None,
                commission=r.commission,
                order_ref=r.intent_key,
                order_id=r.order_id or 0,
                perm_id=r.perm_id or 0,
            )
        )
    return record_executions(engine, out)


def write_cycles(engine: Engine, state: LedgerState, as_of: datetime) -> None:
    """Replace the ``cycles`` and ``cycle_legs`` tables with ``state.cycles`` (one transaction)."""
    now = utcnow_iso()
    seq: dict[str, int] = {}
    with engine.begin() as conn:
        conn.execute(delete(cycle_legs))
        conn.execute(delete(cycles))
        for c in state.cycles:
            seq[c.symbol] = seq.get(c.symbol, 0) + 1
            cycle_id = conn.execute(
                insert(cycles).values(**_cycle_row(c, seq[c.symbol], as_of, now)).returning(cycles.c.id)
            ).scalar_one()
            for n, leg in enumerate(c.legs, start=1):
                conn.execute(
                    insert(cycle_legs).values(
                        cycle_id=cycle_id,
                        seq=n,
                        kind=leg.kind.value,
                        exec_id=leg.exec_id,
                        time=leg.time,
                        con_id=leg.con_id,
                        local_symbol=leg.local_symbol,
                        expiry=leg.expiry,
                        strike=leg.strike,
                        right=leg.right.value if leg.right else None,
                        quantity=leg.quantity,
                        price=leg.price,
                        premium=round(leg.premium, 6),
                        commission=round(leg.commission, 6),
                    )
                )


def _cycle_row(c: Cycle, seq: int, as_of: datetime, now: str) -> dict[str, Any]:
    def r(x: float | None) -> float | None:
        return None if x is None else round(x, 6)

    return {
        "symbol": c.symbol,
        "seq": seq,
        "stage": c.stage.value,
        "started_at": c.started_at,
        "closed_at": c.closed_at,
        "shares": c.shares,
        "assigned_shares": c.assigned_shares,
        "assignment_price": r(c.assignment_price),
        "assignment_cost": r(c.assignment_cost),
        "premiums": r(c.premiums),
        "commissions": r(c.commissions),
        "stock_pnl": r(c.stock_pnl),
        "realized_pnl": r(c.realized_pnl),
        "adjusted_cost_basis": r(c.adjusted_cost_basis),
        "collateral": r(c.collateral),
        "days_open": c.days_open,
        "annualized_return": r(c.annualized_return),
        "preexisting": c.preexisting,
        "as_of": as_of.isoformat(),
        "updated_at": now,
    }


def stored_as_of(engine: Engine) -> datetime | None:
    """The TWS clock time of the stored cycles (``None`` when there are none)."""
    with engine.connect() as conn:
        raw = conn.execute(select(cycles.c.as_of).order_by(cycles.c.as_of.desc()).limit(1)).scalar()
    return parse_ts(raw) if raw else None


def rebuild(engine: Engine, as_of: datetime | None = None) -> LedgerState:
    """Recompute every cycle from the stored executions and replace the cycle tables.

    ``as_of`` defaults to the stored cycles' TWS time (so a rebuild reproduces the monitor's figures),
    else now. Raises :class:`LedgerError` before writing anything when an execution cannot be booked."""
    when = as_of or stored_as_of(engine) or utcnow()
    with engine.connect() as conn:
        execs = load_executions(conn)
    state = build_ledger(execs, when)
    write_cycles(engine, state, when)
    return state
