"""The scanner's database reads and rows: the holdings it sells covered calls on (from the monitor's
``positions``, the active ``sell_call`` intents and the open wheel ``cycles``) and the ``opportunities``
rows it writes (units as in :mod:`shared.schema`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from scanner.historyrules import SymbolHistory
from scanner.holdings import Holding, holdings_from_rows
from scanner.screen import Screened
from shared.schema import cycles, intents, positions
from shared.trade import ACTIVE_INTENT_STATUSES, CycleStage, IntentKind, Right, Strategy


def read_holdings(engine: Engine) -> dict[str, Holding]:
    """Every symbol with a stock position, with its short calls, pending ``sell_call`` intents and
    cost basis (:func:`scanner.holdings.holdings_from_rows`)."""
    with engine.connect() as conn:
        held = conn.execute(
            select(
                positions.c.symbol,
                positions.c.sec_type,
                positions.c.right,
                positions.c.quantity,
                positions.c.avg_cost,
            )
        ).all()
        pending = conn.execute(
            select(intents.c.symbol, intents.c.quantity).where(
                intents.c.kind == IntentKind.SELL_CALL.value,
                intents.c.status.in_(sorted(s.value for s in ACTIVE_INTENT_STATUSES)),
            )
        ).all()
        open_cycles = conn.execute(
            select(cycles.c.symbol, cycles.c.seq, cycles.c.stage, cycles.c.adjusted_cost_basis).where(
                cycles.c.stage != CycleStage.CLOSED.value
            )
        ).all()
    return holdings_from_rows(
        [dict(r._mapping) for r in held],
        [dict(r._mapping) for r in pending],
        [dict(r._mapping) for r in open_cycles],
    )


def opportunity_row(
    s: Screened,
    scan_id: int,
    rank: int,
    ts: str,
    max_contracts: int | None = None,
    history: SymbolHistory | None = None,
) -> dict[str, Any]:
    """An ``opportunities`` row from a passed :class:`Screened` put (strategy CSP) or call (CC, with its
    ``cost_basis`` and ``max_contracts``, the uncovered lots of the shares), with the history rules'
    figures of its symbol when known (IV rank, IV/HV, HV, next earnings, SMA200, RSI(14))."""
    q = s.quote
    assert s.mid is not None and s.credit is not None and s.annualized_return is not None
    assert s.prob_otm is not None and q.delta is not None and q.bid is not None and q.ask is not None
    call = q.right is Right.CALL
    return {
        "scan_id": scan_id,
        "strategy": (Strategy.CC if call else Strategy.CSP).value,
        "symbol": q.symbol,
        "con_id": q.con_id,
        "local_symbol": q.local_symbol,
        "expiry": q.expiry,
        "strike": q.strike,
        "right": q.right.value,
        "dte": s.dte,
        "underlying_price": q.underlying_price,
        "bid": q.bid,
        "ask": q.ask,
        "mid": s.mid,
        "spread_pct": s.spread_pct if s.spread_pct is not None else 0.0,
        "delta": q.delta,
        "iv": q.iv,
        "open_interest": q.open_interest or 0,
        "credit": s.credit,
        "collateral": s.collateral,
        "annualized_return": s.annualized_return,
        "prob_otm": s.prob_otm,
        "liquidity_factor": s.liquidity_factor,
        "score": s.score,
        "rank": rank,
        "created_at": ts,
        "cost_basis": s.cost_basis if call else None,
        "max_contracts": max_contracts if call else None,
        **{k: v for k, v in (history.figures() if history else {}).items() if k != "iv"},
    }
