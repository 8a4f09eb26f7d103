"""The user's commands, one ``commands`` row each with who (``actor``) and when: the halt switch, resume, and
rejected opportunities.

- **halt / resume**: the halt switch is the newest ``halt`` / ``resume`` row
  (:func:`shared.riskdata.halt_state`), effective the moment it is written (the executor reads it before
  every placement); the monitor marks the row done and sends the alert. A halt while already halted, or a
  resume while not halted, is refused (409), so the history holds one row per change of the switch and the
  monitor alerts once per change.
- **reject_opportunity**: hides the contract from the opportunities, in this scan and later ones, until its
  expiry. Nothing acts on it later, so it is written ``done``.
- **scan_now**: asks the scanner for a scan at once; the scanner claims the ``pending`` row (``running``)
  and marks it ``done`` when the scan ends. A second request while one waits is refused (409).

Each write is one guarded ``INSERT … SELECT … WHERE``: a second click racing the first writes nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, and_, exists, func, literal, select

from dashboard.errors import ActionError
from dashboard.queries import ACTIVE_STATUS_VALUES, Row
from shared import schema as s
from shared.db import utcnow_iso
from shared.marketcal import ET
from shared.riskdata import halt_state, tws_now
from shared.trade import CommandKind

#: Longest reason kept (characters); the ``actor`` column holds 120.
MAX_REASON, MAX_ACTOR = 500, 120
#: Halt / resume rows shown in the history.
HISTORY_LIMIT = 50
_SWITCH = [CommandKind.HALT.value, CommandKind.RESUME.value]


def parse_reason(raw: object) -> str:
    """An optional free-text reason: a string of at most :data:`MAX_REASON` characters (``None`` → ``""``)."""
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise ActionError(400, f"reason must be text, got {raw!r}", "reason")
    text = " ".join(raw.split())
    if len(text) > MAX_REASON:
        raise ActionError(400, f"reason is {len(text)} characters long, at most {MAX_REASON}", "reason")
    return text


def market_today(conn: Connection) -> str:
    """Today at the exchange (US/Eastern, TWS's clock) as ``YYYYMMDD``, the format of an expiry."""
    return tws_now(conn).astimezone(ET).strftime("%Y%m%d")


def _insert_if(conn: Connection, values: dict[str, Any], guard: ColumnElement[bool]) -> Row | None:
    """Insert ``values`` into ``commands`` when ``guard`` holds; the new row, or ``None``."""
    cols = list(values)
    stmt = (
        s.commands.insert()
        .from_select(cols, select(*[literal(values[c], s.commands.c[c].type) for c in cols]).where(guard))
        .returning(*s.commands.c)
    )
    row = conn.execute(stmt).first()
    return dict(row._mapping) if row is not None else None


def _newest_switch() -> Any:
    c = s.commands.c
    return select(c.kind).where(c.kind.in_(_SWITCH)).order_by(c.id.desc()).limit(1).scalar_subquery()


def halt_guard() -> ColumnElement[bool]:
    """SQL condition: the halt switch is off (no halt / resume row yet, or the newest is a resume)."""
    return func.coalesce(_newest_switch(), CommandKind.RESUME.value) != CommandKind.HALT.value


def _switch(engine: Engine, kind: CommandKind, actor: str, reason: str) -> Row:
    now = utcnow_iso()
    values = {
        "kind": kind.value,
        "reason": reason,
        "actor": actor[:MAX_ACTOR],
        "created_at": now,
        "status": "pending",
    }
    guard = halt_guard() if kind is CommandKind.HALT else ~halt_guard()
    with engine.begin() as conn:
        row = _insert_if(conn, values, guard)
        if row is not None:
            return row
        state = halt_state(conn)
    if kind is CommandKind.HALT:
        raise ActionError(409, f"trading is already halted (by {state.by} at {state.at})", "halt")
    raise ActionError(409, "trading is not halted: there is nothing to resume", "halt")


def halt(engine: Engine, actor: str, reason: str = "") -> Row:
    """Switch the halt on: no new positions until a resume (closing and rolling still allowed). 409 when
    already halted."""
    return _switch(engine, CommandKind.HALT, actor, reason)


def resume(engine: Engine, actor: str, reason: str = "") -> Row:
    """Switch the halt off (the daily-loss halt, the monitor's, ends with the trading day). 409 when not
    halted."""
    return _switch(engine, CommandKind.RESUME, actor, reason)


def halt_history(engine: Engine, limit: int = HISTORY_LIMIT) -> list[Row]:
    """The halt / resume commands, newest first, with who, when, the reason and whether the monitor has
    acted on them (``status`` done, ``done_at``)."""
    c = s.commands.c
    stmt = select(s.commands).where(c.kind.in_(_SWITCH)).order_by(c.id.desc()).limit(limit)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


def _rejected(con_id: Any, today: str) -> ColumnElement[bool]:
    c = s.commands.c
    return and_(c.kind == CommandKind.REJECT_OPPORTUNITY.value, c.con_id == con_id, c.expiry >= today)


def rejection(conn: Connection, con_id: int, today: str | None = None) -> Row | None:
    """The command that hides contract ``con_id`` (not expired yet), or ``None``."""
    stmt = select(s.commands).where(_rejected(con_id, today or market_today(conn)))
    row = conn.execute(stmt.order_by(s.commands.c.id).limit(1)).first()
    return dict(row._mapping) if row else None


def rejected_guard(con_id: int, today: str) -> ColumnElement[bool]:
    """SQL condition: contract ``con_id`` has not been rejected (or its expiry has passed)."""
    return ~exists().where(_rejected(con_id, today))


def hide_rejected(engine: Engine, rows: list[Row]) -> tuple[list[Row], int]:
    """Drop opportunities whose contract the user rejected (until its expiry); the rows kept and how many
    were hidden."""
    c = s.commands.c
    with engine.connect() as conn:
        today = market_today(conn)
        stmt = select(c.con_id).where(
            c.kind == CommandKind.REJECT_OPPORTUNITY.value, c.expiry >= today, c.con_id.is_not(None)
        )
        hidden = {int(r.con_id) for r in conn.execute(stmt)}
    kept = [r for r in rows if r["con_id"] not in hidden]
    return kept, len(rows) - len(kept)


def reject_opportunity(engine: Engine, opportunity_id: int, actor: str, reason: str = "") -> Row:
    """Hide opportunity ``opportunity_id``'s contract from the opportunities until its expiry: a
    ``reject_opportunity`` command (``done``). 404 unknown; 409 when the contract has an active intent or is
    rejected already. Returns the command row."""
    o, i = s.opportunities.c, s.intents.c
    with engine.begin() as conn:
        found = conn.execute(select(s.opportunities).where(o.id == opportunity_id)).first()
        if found is None:
            raise ActionError(404, f"opportunity {opportunity_id} does not exist", "opportunity_id")
        opp = dict(found._mapping)
        today = market_today(conn)
        active = conn.execute(
            select(i.key, i.status).where(i.con_id == opp["con_id"], i.status.in_(ACTIVE_STATUS_VALUES))
        ).first()
        if active is not None:
            raise ActionError(
                409,
                f"{opp['local_symbol']} has an active intent {active.key} ({active.status}); "
                "an approved contract cannot be rejected",
                "opportunity_id",
                intent_key=active.key,
            )
        now = utcnow_iso()
        values = {
            "kind": CommandKind.REJECT_OPPORTUNITY.value,
            "con_id": opp["con_id"],
            "opportunity_id": opp["id"],
            "expiry": opp["expiry"],
            "reason": reason,
            "actor": actor[:MAX_ACTOR],
            "created_at": now,
            "status": "done",
            "done_at": now,
        }
        active_guard = ~exists().where(i.con_id == opp["con_id"], i.status.in_(ACTIVE_STATUS_VALUES))
        row = _insert_if(conn, values, and_(rejected_guard(opp["con_id"], today), active_guard))
        if row is not None:
            return row
        earlier = rejection(conn, opp["con_id"], today)
    if earlier is not None:
        raise ActionError(
            409,
            f"{opp['local_symbol']} was rejected already (by {earlier['actor']} at {earlier['created_at']})",
            "opportunity_id",
        )
    raise ActionError(
        409,
        f"{opp['local_symbol']} changed while it was being rejected; reload and try again",
        "opportunity_id",
    )


def _scan_now_waiting() -> ColumnElement[bool]:
    c = s.commands.c
    return and_(c.kind == CommandKind.SCAN_NOW.value, c.status.in_(["pending", "running"]))


def scan_now(engine: Engine, actor: str) -> Row:
    """Ask the scanner for a scan at once: a ``scan_now`` command (``pending``). 409 when one is waiting
    or running already. Returns the command row."""
    values = {
        "kind": CommandKind.SCAN_NOW.value,
        "reason": "",
        "actor": actor[:MAX_ACTOR],
        "created_at": utcnow_iso(),
        "status": "pending",
    }
    with engine.begin() as conn:
        row = _insert_if(conn, values, ~exists().where(_scan_now_waiting()))
        if row is not None:
            return row
        earlier = conn.execute(select(s.commands).where(_scan_now_waiting()).limit(1)).first()
    who = f" (by {earlier.actor} at {earlier.created_at}, {earlier.status})" if earlier is not None else ""
    raise ActionError(409, f"a scan was requested already{who}", "scan_now")
