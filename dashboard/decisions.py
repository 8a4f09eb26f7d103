"""Management decisions on the dashboard: the monitor's rule firings (``decisions``), and the user's click on
the ones waiting for it.

In ``approve`` mode the monitor writes a decision ``pending`` and its intent ``proposed``. Approve moves the
intent ``proposed → approved`` (the executor then places it) and the decision ``pending → approved``; Reject
moves the intent ``proposed → cancelled`` and the decision ``pending → rejected``; ``decided_by`` says who.
Each is two guarded ``UPDATE``\\ s in one transaction: both match one row or nothing is written, so a second
click, or a decision that lapsed or was decided meanwhile, gets a 409 with the reason.

Units, as in :mod:`shared.schema`: credit, mark, limit and net credit are dollars per share; the JSON adds
``*_per_contract`` (× 100) and ``profit_dollars`` (the whole position: (credit − mark) × 100 × contracts).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, and_, exists, select, update

from dashboard.errors import ActionError
from dashboard.figures import per_contract
from dashboard.queries import ACTIVE_STATUS_VALUES, DEFAULT_LIMIT, Row
from dashboard.riskcheck import RiskGate, proposal
from shared import schema as s
from shared.db import utcnow_iso
from shared.trade import SHARES_PER_CONTRACT, DecisionStatus, IntentKind, IntentStatus

#: The ``decided_by`` column holds 64 characters.
MAX_DECIDED_BY = 64
_PENDING, _PROPOSED = DecisionStatus.PENDING.value, IntentStatus.PROPOSED.value


class _Refused(Exception):
    """Rolls the transaction back when a guarded update matched no row."""


def _with_figures(row: Row) -> Row:
    """A decision row plus per-contract money and the profit in dollars (see the module docstring)."""
    for key in ("credit", "mark", "limit_price", "net_credit"):
        row[f"{key}_per_contract"] = per_contract(row[key])
    credit, mark = row["credit"], row["mark"]
    row["profit_dollars"] = (
        None if mark is None else (credit - mark) * SHARES_PER_CONTRACT * int(row["contracts"])
    )
    return row


def _select() -> Any:
    d, i = s.decisions.c, s.intents.c
    return select(
        s.decisions,
        i.status.label("intent_status"),
        i.status_reason.label("intent_status_reason"),
        i.kind.label("intent_kind"),
    ).select_from(s.decisions.outerjoin(s.intents, i.key == d.intent_key))


def decisions(engine: Engine, *, status: str | None = None, limit: int = DEFAULT_LIMIT) -> list[Row]:
    """Decisions newest first (``status`` filters), each with its intent's status and the figures."""
    d = s.decisions.c
    stmt = _select().order_by(d.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(d.status == status)
    with engine.connect() as conn:
        return [_with_figures(dict(r._mapping)) for r in conn.execute(stmt)]


def pending(engine: Engine) -> list[Row]:
    """Decisions waiting for the user's click, oldest first (the order they fired in)."""
    return list(reversed(decisions(engine, status=_PENDING)))


def _load(conn: Connection, decision_id: int) -> Row | None:
    row = conn.execute(_select().where(s.decisions.c.id == decision_id)).first()
    return _with_figures(dict(row._mapping)) if row else None


def decision(engine: Engine, decision_id: int) -> Row | None:
    """One decision with its intent's status and the figures, or ``None``."""
    with engine.connect() as conn:
        return _load(conn, decision_id)


def _name(d: Row) -> str:
    return f"decision {d['id']} ({d['rule']} → {d['action']} {d['local_symbol']})"


def _why_not(conn: Connection, decision_id: int, verb: str) -> ActionError:
    """The 409 (or 404) explaining why decision ``decision_id`` cannot be ``verb``\\ ed now."""
    d = _load(conn, decision_id)
    if d is None:
        return ActionError(404, f"decision {decision_id} does not exist", "decision_id")
    if d["status"] != _PENDING:
        by = f" by {d['decided_by']}" if d["decided_by"] else ""
        why = f"; its intent: {d['intent_status_reason']}" if d["intent_status_reason"] else ""
        return ActionError(
            409,
            f"{_name(d)} is {d['status']}{by} since {d['updated_at']}, not pending: nothing to {verb}{why}",
            "decision_id",
        )
    if d["intent_status"] is None:
        return ActionError(409, f"{_name(d)} has no intent {d['intent_key']!r} to {verb}", "decision_id")
    if d["intent_status"] != _PROPOSED:
        return ActionError(
            409,
            f"{_name(d)}: its intent {d['intent_key']} is {d['intent_status']}, not proposed "
            f"({d['intent_status_reason']})",
            "decision_id",
            intent_key=d["intent_key"],
        )
    i = s.intents.c
    other = conn.execute(
        select(i.key, i.status).where(
            i.con_id == d["con_id"], i.status.in_(ACTIVE_STATUS_VALUES), i.key != d["intent_key"]
        )
    ).first()
    if other is not None:
        return ActionError(
            409,
            f"{d['local_symbol']} already has an active intent {other.key} ({other.status})",
            "decision_id",
            intent_key=other.key,
        )
    return ActionError(409, f"{_name(d)} changed meanwhile; reload and try again", "decision_id")


def _decide(
    engine: Engine,
    decision_id: int,
    *,
    decided: DecisionStatus,
    intent_to: IntentStatus,
    intent_reason: str,
    actor: str,
    gate: RiskGate | None = None,
) -> Row:
    d, i = s.decisions.c, s.intents.c
    verb = "approve" if decided is DecisionStatus.APPROVED else "reject"
    try:
        with engine.begin() as conn:
            found = _load(conn, decision_id)
            if found is None or found["status"] != _PENDING or found["intent_status"] != _PROPOSED:
                raise _Refused
            key = found["intent_key"]
            if gate is not None:
                kind = IntentKind(found["intent_kind"])
                p = proposal(kind, found["symbol"], int(found["contracts"]), found["strike"], found["right"])
                gate.refuse_if_risky(conn, p, exclude_key=key)
            now = utcnow_iso()
            first = conn.execute(
                update(s.decisions)
                .where(d.id == decision_id, d.status == _PENDING, d.intent_key == key)
                .values(status=decided.value, decided_by=actor[:MAX_DECIDED_BY], updated_at=now)
            ).rowcount
            guards = [i.key == key, i.status == _PROPOSED]
            if intent_to is IntentStatus.APPROVED:  # at most one active intent per contract
                other = s.intents.alias("other")
                guards.append(
                    ~exists().where(
                        and_(
                            other.c.con_id == i.con_id,
                            other.c.status.in_(ACTIVE_STATUS_VALUES),
                            other.c.key != key,
                        )
                    )
                )
            second = conn.execute(
                update(s.intents)
                .where(*guards)
                .values(status=intent_to.value, status_reason=intent_reason, updated_at=now)
            ).rowcount
            if first != 1 or second != 1:
                raise _Refused
            done = _load(conn, decision_id)
    except _Refused:
        with engine.connect() as conn:
            raise _why_not(conn, decision_id, verb) from None
    assert done is not None
    return done


def approve_decision(engine: Engine, decision_id: int, actor: str, gate: RiskGate | None = None) -> Row:
    """The user approves pending decision ``decision_id``: its intent ``proposed → approved`` (the executor
    places it), the decision ``pending → approved`` with ``decided_by`` = ``actor``. The risk gate's market
    checks apply (hours, restart window; closing and rolling stay allowed under a halt). 404 unknown, 409
    when it is not pending any more, its intent is not proposed, the contract has another active intent or
    the gate refuses; nothing is written then. Returns the decision."""
    return _decide(
        engine,
        decision_id,
        decided=DecisionStatus.APPROVED,
        intent_to=IntentStatus.APPROVED,
        intent_reason=f"approved on the dashboard by {actor}",
        actor=actor,
        gate=gate,
    )


def reject_decision(engine: Engine, decision_id: int, actor: str, reason: str = "") -> Row:
    """The user rejects pending decision ``decision_id``: its intent ``proposed → cancelled`` ("rejected on
    the dashboard by …", with ``reason``), the decision ``pending → rejected``. 404 / 409 as
    :func:`approve_decision`. Returns the decision."""
    why = f"rejected on the dashboard by {actor}" + (f": {reason}" if reason else "")
    return _decide(
        engine,
        decision_id,
        decided=DecisionStatus.REJECTED,
        intent_to=IntentStatus.CANCELLED,
        intent_reason=why,
        actor=actor,
    )
